"""Naive references for the Fenchel–Young family: row loops in float64 numpy.

The Tsallis mapping ``p_j = [(α−1)θ_j − τ]_+^{1/(α−1)}`` is solved for τ by scipy's
``brentq`` (a root finder, not the sort or bisection under test), and the loss is
the textbook definition ``Ω*(θ) + Ω(y) − ⟨θ, y⟩`` with ``Ω*(θ) = ⟨θ, p⟩ − Ω(p)``,
not the library's stable rearrangement.
"""
import math

import numpy as np
import torch


def tsallis_omega(p, alpha):
    """Ω_α(p) = (Σ p^α − 1)/(α(α−1)); Shannon Σ p log p at α = 1."""
    p = np.asarray(p, dtype=np.float64)
    if alpha == 1:
        nz = p[p > 0]
        return float((nz * np.log(nz)).sum())
    return float(((p**alpha).sum() - 1) / (alpha * (alpha - 1)))


def tsallis_argmax(theta, alpha):
    """p*(θ) = argmax_{p∈Δ} ⟨θ,p⟩ − Ω_α(p) for one row, by a root of Σ p(τ) = 1."""
    from scipy.optimize import brentq

    theta = np.asarray(theta, dtype=np.float64)
    if alpha == 1:
        e = np.exp(theta - theta.max())
        return e / e.sum()
    X = (alpha - 1) * theta
    inv = 1.0 / (alpha - 1)

    def excess(tau):
        return (np.clip(X - tau, 0, None) ** inv).sum() - 1.0

    tau = brentq(excess, X.max() - 1.0, X.max(), xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return np.clip(X - tau, 0, None) ** inv


def fy_loss_row(theta, y, alpha):
    theta = np.asarray(theta, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p = tsallis_argmax(theta, alpha)
    conj = float(theta @ p) - tsallis_omega(p, alpha)
    return conj + tsallis_omega(y, alpha) - float(theta @ y)


def _loss(scores, target, alpha):
    K = scores.shape[-1]
    rows = scores.detach().double().reshape(-1, K).numpy()
    if target.is_floating_point():
        ys = target.detach().double().reshape(-1, K).numpy()
    else:
        ys = np.eye(K)[target.reshape(-1).numpy()]
    out = [fy_loss_row(t, y, alpha) for t, y in zip(rows, ys)]
    return torch.tensor(out, dtype=scores.dtype).reshape(scores.shape[:-1])


def sparsemax_loss(scores, target, **_):
    return _loss(scores, target, 2.0)


def entmax15_loss(scores, target, **_):
    return _loss(scores, target, 1.5)


def entmax_bisect_loss(scores, target, alpha=1.5, **_):
    return _loss(scores, target, float(alpha))


_NAMES = {"shannon": 1.0, "softmax": 1.0, "gini": 2.0, "sparsemax": 2.0, "tsallis15": 1.5, "entmax15": 1.5}


def fenchel_young_loss(scores, target, regulariser="shannon", **_):
    alpha = _NAMES[regulariser] if isinstance(regulariser, str) else float(regulariser)
    return _loss(scores, target, alpha)


REFERENCES = {
    "sparsemax_loss": sparsemax_loss,
    "entmax15_loss": entmax15_loss,
    "entmax_bisect_loss": entmax_bisect_loss,
    "fenchel_young_loss": fenchel_young_loss,
}
