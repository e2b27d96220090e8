"""Fenchel–Young losses and their sparse probability mappings (seed 003: the Softmax family).

A convex regulariser ``Ω`` on the simplex gives a *regularised prediction*
``p*(θ) = argmax_{p ∈ Δ} ⟨θ, p⟩ − Ω(p) = ∇Ω*(θ)`` and a *Fenchel–Young loss*

.. math:: L_\\Omega(\\theta; y) = \\Omega^*(\\theta) + \\Omega(y) - \\langle \\theta, y \\rangle \\ge 0,
          \\qquad \\nabla_\\theta L_\\Omega = p^*(\\theta) - y

(Blondel, Martins & Niculae 2020; seed 003's abstract situates softmax in this
family and has no numbered equations). The Tsallis family
``Ω_α(p) = (Σ_j p_j^α − 1) / (α(α − 1))`` gives softmax and cross-entropy in the
limit ``α → 1`` (Shannon), sparsemax at ``α = 2`` (Gini; Martins & Astudillo
2016) and 1.5-entmax at ``α = 1.5`` (Peters, Niculae & Martins 2019). For
``α > 1`` the mapping is ``p_j = [(α − 1) θ_j − τ]_+^{1/(α−1)}`` with the threshold
``τ`` making ``Σ p = 1``: found by a partial sort of each row's largest entries
for ``α ∈ {1.5, 2}`` (exact) and by bisection for any ``α > 1``.

Every mapping and loss has an analytic backward (custom autograd): the sort and
the bisection are never differentiated through. The mappings' Jacobian-vector
product is ``J v = s ⊙ v − s (s·v) / Σ s`` with ``s_j = p_j^{2−α}`` on the support
(``s = 1_S`` for sparsemax); the losses' gradient is ``p*(θ) − y``.

Numerics: scores are shifted by their row maximum (every quantity here is
shift-invariant), so the thresholds live in ``[−1, 0]`` and ±1e4 scores stay
finite; the loss is evaluated in the stable form

.. math:: L = \\tfrac{1}{\\alpha}\\textstyle\\sum_j p_j^\\alpha
              + \\frac{\\sum_j y_j^\\alpha}{\\alpha(\\alpha-1)} - \\langle u, y \\rangle,
          \\qquad u = \\theta - \\tfrac{\\tau}{\\alpha - 1}

which uses ``Σ_j y_j = 1`` and ``(α−1) u_j = p_j^{α−1}`` on the support, so no two
large numbers are subtracted when the target is predicted well.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Callable

import torch

from . import registry
from ._numerics import mul_where_zero
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import (
    old_weight_keyword,
    check_class_indices,
    check_dim,
    check_finite_scalar,
    check_floating,
    check_probabilities,
    check_reduction,
)
from ._validate import promote_floating

__all__ = [
    "sparsemax",
    "entmax15",
    "entmax_bisect",
    "make_fenchel_young_loss",
    "fenchel_young_loss",
    "sparsemax_loss",
    "entmax15_loss",
    "entmax_bisect_loss",
]

DEFAULT_N_ITER = 50


# ---------------------------------------------------------------------------------
# Validation helpers


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (Real, torch.Tensor)):
        raise TypeError(f"alpha must be a real number > 1, got {alpha!r}")
    a = check_finite_scalar("alpha", alpha)
    if a <= 1:
        raise ValueError(f"alpha must be > 1 for entmax_bisect (alpha -> 1 is softmax); got alpha={a!r}")
    return a


def _check_n_iter(n_iter) -> int:
    if isinstance(n_iter, bool) or not isinstance(n_iter, int):
        raise TypeError(f"n_iter must be a positive int, got {n_iter!r}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter!r}")
    return n_iter


def _check_scores(name: str, x) -> None:
    check_floating(name, x)
    if x.dim() == 0:
        raise ValueError(f"{name} must have a class dimension; got a 0-dim tensor")


def _check_nonempty_classes(name: str, x: torch.Tensor, dim: int) -> None:
    if x.shape[dim] == 0:
        raise ValueError(f"{name} must have at least one class along dim {dim}; got shape {tuple(x.shape)}")


# ---------------------------------------------------------------------------------
# Thresholds along the last dim. Each returns (p, u) with p the mapping and
# u = (X − τ)/(α − 1) the shifted scores of the loss's stable form (X = (α−1)(θ − max θ)).


# The threshold depends only on the largest entries of a row: the support is a prefix of
# the descending order, and it lies in {z > −1} (after the max-shift τ ≥ −1 for both
# mappings). So the sort runs on a top-k prefix: k is the smallest power of two covering
# every row's count of entries above −1 (one cheap pass), capped at _TOPK_FIRST and at
# the largest power of two with 64·k ≤ K (beyond that PyTorch's CPU topk leaves its partial
# sort for a selection several times slower); a row whose support fills its prefix while
# more entries are above −1 is solved again with 2k, 4k, ..., up to the full sort. On a
# prefix the formulas see the same values in the same order as on the full sort, so the
# answer is the full sort's.
_TOPK_FIRST = 128


def _prefix_solve(z: torch.Tensor, solve, k: int, bound: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``solve(sorted_prefix) -> (support [R, 1], *stats [R, 1])`` on the rows of 2-D ``z``.

    ``bound [R]``: an upper bound on each row's support size.
    """
    K = z.shape[-1]
    if k >= K:
        return solve(torch.sort(z, dim=-1, descending=True).values)
    out = solve(torch.topk(z, k, dim=-1).values)  # topk's values come sorted, descending
    unsolved = (out[0].squeeze(-1) == k) & (bound > k)
    if bool(unsolved.any()):
        rows = unsolved.nonzero().squeeze(-1)
        redo = _prefix_solve(z.index_select(0, rows), solve, 2 * k, bound.index_select(0, rows))
        for o, r in zip(out, redo):
            o.index_copy_(0, rows, r)
    return out


def _count_above(x: torch.Tensor, t: float) -> torch.Tensor:
    """``Σ_j [x_j > t]`` per row of 2-D ``x``, in blocks of rows: a boolean ``sum`` widens its
    whole mask to int64 (2× the scores' bytes in float32), so the mask is kept to 2^18 entries."""
    rows = max(1, (1 << 18) // max(x.shape[-1], 1))
    if x.shape[0] <= rows:
        return (x > t).sum(-1, dtype=torch.int32)
    return torch.cat([(block > t).sum(-1, dtype=torch.int32) for block in x.split(rows)])


def _sparsemax_solve(zs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Euclidean projection onto the simplex by sorting (Martins & Astudillo 2016).
    k = torch.arange(1, zs.shape[-1] + 1, dtype=zs.dtype, device=zs.device)
    cssv = zs.cumsum(-1) - 1
    support = (k * zs > cssv).sum(-1, keepdim=True)  # k(z) = max{k : 1 + k z_(k) > Σ_{j≤k} z_(j)}
    tau = cssv.gather(-1, support - 1) / support.to(zs.dtype)
    p_alpha = (zs - tau).clamp_min(0).square().sum(-1, keepdim=True)  # Σ p²: p is 0 past the prefix
    return support, tau, p_alpha


def _entmax15_solve(xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Exact sort-based 1.5-entmax (Peters, Niculae & Martins 2019): p = [θ/2 − τ]_+².
    k = torch.arange(1, xs.shape[-1] + 1, dtype=xs.dtype, device=xs.device)
    mean = xs.cumsum(-1) / k
    mean_sq = (xs * xs).cumsum(-1) / k
    ss = k * (mean_sq - mean * mean)
    delta = ((1 - ss) / k).clamp_min(0)
    tau_k = mean - delta.sqrt()
    support = (tau_k <= xs).sum(-1, keepdim=True)
    # Second pass on the support only, with a centred variance: avoids the
    # cancellation of E[x²] − E[x]² that the search pass tolerates.
    in_support = k <= support.to(xs.dtype)
    n = support.to(xs.dtype)
    # where, not a product with the 0/1 mask: -inf scores (masked classes) times 0 are NaN
    mu = torch.where(in_support, xs, 0).sum(-1, keepdim=True) / n
    var = (torch.where(in_support, xs - mu, 0) ** 2).sum(-1, keepdim=True) / n
    tau = mu - ((1 / n - var).clamp_min(0)).sqrt()
    p_alpha = ((xs - tau).clamp_min(0) ** 2).pow(1.5).sum(-1, keepdim=True)  # Σ p^1.5 on the prefix
    return support, tau, p_alpha


def _sparse_forward(theta: torch.Tensor, method: str, need_u: bool) -> tuple[torch.Tensor, ...]:
    """(p, u or None, τ, shift, Σ p^α) for sparsemax / 1.5-entmax along the last dim.

    ``u = X/(α − 1) − τ/(α − 1)`` as in :func:`_forward_last`; when it is not needed
    (a mapping, or a loss with integer labels, which gathers ``u_y`` itself) ``p`` is formed
    in place in the one ``[..., K]`` buffer of the shifted scores.
    """
    shift = theta.amax(-1, keepdim=True)
    z = theta - shift  # shift: max 0, so τ ∈ [−1, 0)
    if method == "entmax15":
        z.div_(2)
    solve = _sparsemax_solve if method == "sparsemax" else _entmax15_solve
    K = z.shape[-1]
    flat = z.reshape(-1, K)
    bound = _count_above(flat, -1.0)
    most = int(bound.max()) if bound.numel() else 1
    k = min(_TOPK_FIRST, 1 << max(most - 1, 0).bit_length())
    if 64 * k > K:
        k = min(k, 1 << max(K // 64, 1).bit_length() - 1)
    _, tau, p_alpha = _prefix_solve(flat, solve, k, bound)
    tau, p_alpha = tau.reshape(z.shape[:-1] + (1,)), p_alpha.reshape(z.shape[:-1])
    u = None
    if need_u:
        d = z - tau
        u = d if method == "sparsemax" else 2 * d
        p = d.clamp_min(0)
        if method == "entmax15":
            p.square_()
        return p, u, tau, shift, p_alpha
    p = z.sub_(tau).clamp_min_(0)
    if method == "entmax15":
        p.square_()
    return p, u, tau, shift, p_alpha


def _sparsemax_forward(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, u, *_ = _sparse_forward(theta, "sparsemax", True)
    return p, u


def _entmax15_forward(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, u, *_ = _sparse_forward(theta, "entmax15", True)
    return p, u


def _bisect_forward(theta: torch.Tensor, alpha: float, n_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Bisection on τ for Σ_j [X_j − τ]_+^{1/(α−1)} = 1 (Peters et al. 2019).
    # With max X = 0 the root lies in [−1, −K^{1−α}]: at τ = −1 the top entry alone
    # gives 1, at τ = −K^{1−α} every entry is ≤ 1/K.
    am1 = alpha - 1
    X = (theta - theta.amax(-1, keepdim=True)) * am1
    K = X.shape[-1]
    lo = X.new_full(X.shape[:-1] + (1,), -1.0)
    width = 1.0 - K ** (-am1)
    inv = 1.0 / am1
    for _ in range(n_iter):
        width = width / 2
        mid = lo + width
        total = (X - mid).clamp_min(0).pow(inv).sum(-1, keepdim=True)
        lo = torch.where(total >= 1, mid, lo)  # keep Σ p ≥ 1 at lo
    d = X - lo
    p = d.clamp_min(0).pow(inv)
    p = p / p.sum(-1, keepdim=True)
    return p, d / am1


def _jvp(p: torch.Tensor, v: torch.Tensor, alpha: float) -> torch.Tensor:
    """J v = s ⊙ v − s (s·v)/Σ s with s_j = p_j^{2−α} on the support (J is symmetric: also the VJP).

    Written as ``s ⊙ (v − ⟨ŝ, v⟩)`` with ``ŝ = s/Σs`` formed in log space, so that for α > 2
    (``s`` large where ``p`` is tiny) no ratio of two overflowed numbers is taken. α = 1.5 and
    α = 2 (``s ≤ 1``) take direct forms with one or two ``[..., K]`` temporaries.
    """
    if alpha == 1.5 or alpha == 2.0:
        # s ≤ 1 cannot overflow: no log space needed. J v = s ⊙ (v − ⟨s, v⟩/Σ s), with
        # s = √p (α = 1.5) or the support's indicator (α = 2: v − mean_S(v) on S).
        s = p.sqrt() if alpha == 1.5 else (p > 0).to(p.dtype)
        q = (s * v).sum(-1, keepdim=True) / s.sum(-1, keepdim=True)
        return (v - q).mul_(s)
    on = p > 0
    logs = (2.0 - alpha) * torch.log(torch.where(on, p, torch.ones_like(p)))
    logs = torch.where(on, logs, torch.full_like(logs, -math.inf))
    s = logs.exp()
    s_hat = torch.softmax(logs, -1)
    return s * (v - (s_hat * v).sum(-1, keepdim=True))


def _forward_last(theta: torch.Tensor, alpha: float, method: str, n_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    if method == "softmax":
        logp = torch.log_softmax(theta, -1)
        return logp.exp(), logp
    if method == "sparsemax":
        return _sparsemax_forward(theta)
    if method == "entmax15":
        return _entmax15_forward(theta)
    return _bisect_forward(theta, alpha, n_iter)


# ---------------------------------------------------------------------------------
# Mappings


class _Mapping(torch.autograd.Function):
    """p*(θ) along the last dim; backward J v from the saved output only."""

    @staticmethod
    def forward(theta, alpha, method, n_iter):
        if method in ("sparsemax", "entmax15"):
            return _sparse_forward(theta, method, False)[0]
        p, _ = _forward_last(theta, alpha, method, n_iter)
        return p

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, alpha, _, _ = inputs
        ctx.alpha = alpha
        ctx.save_for_backward(output)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        (p,) = ctx.saved_tensors
        return _jvp(p, grad_out, ctx.alpha), None, None, None


def _apply_mapping(name: str, x, dim: int, alpha: float, method: str, n_iter: int) -> torch.Tensor:
    _check_scores(name, x)
    dim = check_dim("dim", dim, x)
    _check_nonempty_classes(name, x, dim)
    moved = x.movedim(dim, -1)
    return _Mapping.apply(moved, alpha, method, n_iter).movedim(-1, dim)


def sparsemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Sparsemax: the Euclidean projection of scores onto the simplex (Tsallis α = 2).

    .. math::

        \operatorname{sparsemax}(\theta) = \operatorname*{argmin}_{p \in \Delta} \|p - \theta\|^2
          = [\theta - \tau]_+, \qquad \textstyle\sum_j [\theta_j - \tau]_+ = 1

    ``τ`` comes from a sort (exact). The backward is analytic: on the support ``S``,
    ``J v = v − mean_S(v)``; zero off it.

    Args:
        x: scores ``[..., K, ...]``, floating; ``dim`` is the class dim.
        dim: the class dimension.

    Returns:
        Probabilities of ``x``'s shape, summing to one along ``dim``, typically with exact zeros.

    Example:
        >>> import torch, losslab as ll
        >>> ll.sparsemax(torch.tensor([1.0, 0.5, -2.0]))
        tensor([0.7500, 0.2500, 0.0000])

    Reference: Martins & Astudillo, "From Softmax to Sparsemax", ICML 2016.
    """
    return _apply_mapping("x", x, dim, 2.0, "sparsemax", 0)


def entmax15(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""1.5-entmax: the Tsallis α = 1.5 regularised prediction, computed exactly by sorting.

    .. math::

        \operatorname{entmax}_{1.5}(\theta) = \operatorname*{argmax}_{p \in \Delta}
          \langle \theta, p\rangle + \tfrac{4}{3}\textstyle\sum_j (p_j - p_j^{3/2})
          = [\theta/2 - \tau]_+^2

    Backward: ``J v = s ⊙ v − s (s·v)/Σ s`` with ``s = √p``.

    Args:
        x: scores ``[..., K, ...]``, floating; ``dim`` is the class dim.
        dim: the class dimension.

    Returns:
        Probabilities of ``x``'s shape, summing to one along ``dim``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.entmax15(torch.tensor([1.0, 0.5, -2.0]))
        tensor([0.6740, 0.3260, 0.0000])

    Reference: Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019.
    """
    return _apply_mapping("x", x, dim, 1.5, "entmax15", 0)


def entmax_bisect(x: torch.Tensor, alpha: float = 1.5, dim: int = -1, n_iter: int = DEFAULT_N_ITER) -> torch.Tensor:
    r"""α-entmax for any α > 1 by bisection on the threshold τ.

    .. math::

        \operatorname{entmax}_\alpha(\theta) = \operatorname*{argmax}_{p \in \Delta}
          \langle \theta, p\rangle + \frac{\sum_j (p_j - p_j^\alpha)}{\alpha(\alpha-1)}
          = [(\alpha - 1)\theta - \tau]_+^{1/(\alpha-1)}

    After the max-shift τ lies in ``[−1, −K^{1−α}]``; ``n_iter`` halvings leave an interval
    of width ``< 2^{−n_iter}``, and the result is renormalised to sum to one. α = 2 is
    sparsemax, α = 1.5 is :func:`entmax15`, α → 1 is softmax. Backward:
    ``J v = s ⊙ v − s (s·v)/Σ s`` with ``s = p^{2−α}`` on the support.

    Args:
        x: scores ``[..., K, ...]``, floating; ``dim`` is the class dim.
        alpha: the Tsallis index, a real number ``> 1`` (ValueError otherwise).
        dim: the class dimension.
        n_iter: bisection steps (50 reaches float64 resolution).

    Returns:
        Probabilities of ``x``'s shape, summing to one along ``dim``.

    Example:
        >>> import torch, losslab as ll
        >>> x = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
        >>> torch.allclose(ll.entmax_bisect(x, alpha=2.0), ll.sparsemax(x))
        True

    Reference: Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019.
    """
    alpha = _check_alpha(alpha)
    check_hyper_magnitude("alpha", alpha, x)
    n_iter = _check_n_iter(n_iter)
    return _apply_mapping("x", x, dim, alpha, "bisect", n_iter)


# ---------------------------------------------------------------------------------
# Losses


class _FYLoss(torch.autograd.Function):
    """Fenchel–Young loss along the last dim with gradient p*(θ) − y.

    ``target`` is either integer labels ``[...]`` (one-hot y) or probabilities ``[..., K]``.
    Saves ``p`` (and, for probability targets needing a gradient, ``u`` and ``y``).
    """

    @staticmethod
    def forward(ctx, scores, target, labels, alpha, method, n_iter):
        shannon = method == "softmax"
        if labels and method in ("sparsemax", "entmax15"):
            # Σ p^α comes from the sorted prefix and u_y from the gathered θ_y, with the
            # same operations as u: p is the only [..., K] tensor this forward keeps.
            p, _, tau, shift, p_alpha = _sparse_forward(scores, method, False)
            x_y = scores.gather(-1, target.unsqueeze(-1)) - shift
            u_y = (x_y - tau) if method == "sparsemax" else 2 * (x_y / 2 - tau)
            loss = p_alpha / alpha + 1.0 / (alpha * (alpha - 1)) - u_y.squeeze(-1)
            loss = loss.clamp_min(0)
            ctx.labels, ctx.alpha, ctx.shannon = labels, alpha, shannon
            ctx.save_for_backward(p, target)
            return loss
        p, u = _forward_last(scores, alpha, method, n_iter)
        if labels:
            idx = target.unsqueeze(-1)
            u_y = u.gather(-1, idx).squeeze(-1)
            if shannon:  # u = log p: L = −log p_y (cross-entropy)
                loss = -u_y
            else:  # Σ y^α = 1 for one-hot y
                loss = p.pow(alpha).sum(-1) / alpha + 1.0 / (alpha * (alpha - 1)) - u_y
        else:
            y = target
            if shannon:  # L = Σ y log y − ⟨log p, y⟩ = KL(y ‖ p)
                # ⟨y, log p⟩ is a plain product unless some 0·(−inf) (a −inf-masked score
                # with y = 0) made it non-finite: only then the where-guarded product.
                dot = (y * u).sum(-1)
                if not bool(torch.isfinite(dot).all()):
                    dot = mul_where_zero(y, u).sum(-1)
                loss = torch.special.xlogy(y, y).sum(-1) - dot
            else:  # u = -inf off the support of a -inf-masked class; y = 0 there
                loss = p.pow(alpha).sum(-1) / alpha + y.pow(alpha).sum(-1) / (alpha * (alpha - 1)) - mul_where_zero(y, u).sum(-1)
        # Rounding can leave a tiny negative where the loss is 0 (y = p*): the loss is ≥ 0.
        loss = loss.clamp_min(0)
        ctx.labels, ctx.alpha, ctx.shannon = labels, alpha, shannon
        if labels:
            ctx.save_for_backward(p, target)
        elif ctx.needs_input_grad[1]:
            ctx.save_for_backward(p, target, u)
        else:
            ctx.save_for_backward(p, target)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        saved = ctx.saved_tensors
        p, target = saved[0], saved[1]
        g = grad_out.unsqueeze(-1)
        grad_scores = grad_target = None
        if ctx.needs_input_grad[0]:
            if ctx.labels:
                grad_scores = p.clone()
                grad_scores.scatter_add_(-1, target.unsqueeze(-1), -torch.ones_like(p[..., :1]))
                grad_scores.mul_(g)
            else:
                grad_scores = (p - target).mul_(g)
        if not ctx.labels and ctx.needs_input_grad[1]:
            u = saved[2]
            y = target
            # At y_j = 0 a -inf u_j (a -inf-masked score) counts as 0, and for Shannon the -inf
            # derivative of y log y is replaced by 0 (see _numerics.xlogx): finite, and exact once
            # chained through whatever produced the zero.
            u = torch.where((y == 0) & torch.isinf(u), torch.zeros_like(u), u)
            if ctx.shannon:  # ∂/∂y [Σ y log y − ⟨log p, y⟩]
                dy = torch.where(y > 0, torch.log(torch.where(y > 0, y, torch.ones_like(y))) + 1, torch.zeros_like(y)) - u
            else:  # ∂/∂y [Σ y^α/(α(α−1)) − ⟨u, y⟩]
                dy = y.pow(ctx.alpha - 1) / (ctx.alpha - 1) - u
            grad_target = g * dy
        return grad_scores, grad_target, None, None, None, None


_NAMED = {
    "shannon": (1.0, "softmax"),
    "softmax": (1.0, "softmax"),
    "gini": (2.0, "sparsemax"),
    "sparsemax": (2.0, "sparsemax"),
    "tsallis15": (1.5, "entmax15"),
    "entmax15": (1.5, "entmax15"),
}


def _resolve(regulariser) -> tuple[float, str, str]:
    """(alpha, method, label) of a regulariser name or Tsallis α value."""
    if isinstance(regulariser, str):
        key = regulariser.lower()
        if key not in _NAMED:
            raise ValueError(
                f"regulariser must be one of {tuple(_NAMED)} or a Tsallis alpha >= 1; got {regulariser!r}"
            )
        alpha, method = _NAMED[key]
        return alpha, method, key
    if isinstance(regulariser, bool) or not isinstance(regulariser, (Real, torch.Tensor)):
        raise TypeError(f"regulariser must be a name or a real Tsallis alpha, got {regulariser!r}")
    a = check_finite_scalar("regulariser", regulariser)
    if a < 1:
        raise ValueError(f"a Tsallis regulariser needs alpha >= 1; got regulariser={a!r}")
    if a == 1:
        return 1.0, "softmax", "shannon"
    return a, "bisect", f"tsallis(alpha={a:g})"


def _fy_loss(scores, target, alpha, method, n_iter, sample_weight, reduction) -> torch.Tensor:
    check_floating("scores", scores)
    check_reduction(reduction)
    if scores.dim() == 0:
        raise ValueError("scores must have shape [..., K]; got a 0-dim tensor")
    K = scores.shape[-1]
    _check_nonempty_classes("scores", scores, -1)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor (integer labels or probabilities), got {type(target).__name__}")
    if target.is_floating_point():
        if target.shape != scores.shape:
            raise ValueError(
                f"probability target must have the scores' shape {tuple(scores.shape)}; got {tuple(target.shape)}"
            )
        scores, target = promote_floating(scores, target)
        _check_probabilities_fast("target", target)
        labels = False
    else:
        if target.shape != scores.shape[:-1]:
            raise ValueError(
                f"integer target must have shape {tuple(scores.shape[:-1])} (scores [..., K] without K); "
                f"got {tuple(target.shape)}"
            )
        check_class_indices("target", target, K)
        target = target.long()
        labels = True
    loss = _FYLoss.apply(scores, target, labels, alpha, method, n_iter)
    return _reduce(loss, reduction, sample_weight)


_LOSS_DOC = r"""Fenchel–Young loss of the {label} regulariser (built by :func:`make_fenchel_young_loss`).

    .. math:: L(\theta; y) = \Omega^*(\theta) + \Omega(y) - \langle\theta, y\rangle,
              \qquad \nabla_\theta L = p^*(\theta) - y

    Args:
        scores: ``[..., K]`` scores θ, floating.
        target: integer labels ``[...]`` in ``[0, K)`` or probabilities ``[..., K]``.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.
"""


def make_fenchel_young_loss(regulariser, *, n_iter: int = DEFAULT_N_ITER) -> Callable[..., torch.Tensor]:
    r"""Build the Fenchel–Young loss ``fn(scores, target, *, sample_weight=None, reduction='mean')`` of a regulariser.

    .. math::

        L_\Omega(\theta; y) = \Omega^*(\theta) + \Omega(y) - \langle \theta, y\rangle,
        \qquad \Omega_\alpha(p) = \frac{\sum_j p_j^\alpha - 1}{\alpha(\alpha-1)}
        \quad (\Omega_1(p) = \textstyle\sum_j p_j \log p_j)

    The loss is convex in θ, ≥ 0, and 0 exactly when ``y = p*(θ)``; its gradient is
    ``p*(θ) − y`` (custom autograd, first order). With Shannon it is cross-entropy for
    integer labels and ``KL(y ‖ softmax θ)`` = cross-entropy − H(y) for probability targets.
    With α > 1 the mapping is sparse and a one-hot target costs exactly 0 once the
    target's score leads every other by the margin ``1/(α − 1)``.

    Args:
        regulariser: ``'shannon'`` (softmax), ``'gini'``/``'sparsemax'`` (α = 2, sort),
            ``'tsallis15'``/``'entmax15'`` (α = 1.5, sort), or a Tsallis α: 1 is Shannon,
            α > 1 uses bisection.
        n_iter: bisection steps when α is given as a number other than 1.

    Returns:
        A loss function ``fn(scores [..., K], target, *, sample_weight=None, reduction='mean')``
        whose target is integer labels ``[...]`` or probabilities ``[..., K]``.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> ce = ll.make_fenchel_young_loss("shannon")
        >>> scores, labels = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
        >>> torch.allclose(ce(scores, labels), F.cross_entropy(scores, labels))
        True
        >>> ll.make_fenchel_young_loss("gini")(scores, labels)   # margin 2 >= 1: no loss
        tensor(0.)

    Reference: Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    alpha, method, label = _resolve(regulariser)
    n_iter = _check_n_iter(n_iter)

    @old_weight_keyword
    def fn(scores, target, *, sample_weight=None, reduction="mean"):
        return _fy_loss(scores, target, alpha, method, n_iter, sample_weight, reduction)

    fn.__name__ = fn.__qualname__ = f"fenchel_young_loss[{label}]"
    fn.__doc__ = _LOSS_DOC.format(label=label)
    return fn


@old_weight_keyword
def fenchel_young_loss(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    regulariser="shannon",
    n_iter: int = DEFAULT_N_ITER,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Fenchel–Young loss of a named regulariser or Tsallis α (seed 003; Blondel et al. 2020).

    .. math::

        L_\Omega(\theta; y) = \Omega^*(\theta) + \Omega(y) - \langle \theta, y\rangle
          = \Omega(y) - \Omega(p^*) - \langle \theta, y - p^* \rangle \ge 0

    See :func:`make_fenchel_young_loss` for the regularisers.

    Args:
        scores: ``[..., K]`` scores θ, floating.
        target: integer labels ``[...]`` in ``[0, K)`` or probabilities ``[..., K]`` (same dtype).
        regulariser: ``'shannon'``, ``'gini'``/``'sparsemax'``, ``'tsallis15'``/``'entmax15'`` or a Tsallis α ≥ 1.
        n_iter: bisection steps for a numeric α ≠ 1.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> scores = torch.tensor([[1.0, 0.5, -2.0]], requires_grad=True)
        >>> y = torch.tensor([[0.5, 0.5, 0.0]])
        >>> ll.fenchel_young_loss(scores, y, regulariser="gini").backward()
        >>> torch.allclose(scores.grad, ll.sparsemax(scores) - y)   # ∇L = p* − y
        True

    Reference: Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    alpha, method, _ = _resolve(regulariser)
    n_iter = _check_n_iter(n_iter)
    return _fy_loss(scores, target, alpha, method, n_iter, sample_weight, reduction)


@old_weight_keyword
def sparsemax_loss(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Sparsemax loss: the Fenchel–Young loss of the Gini regulariser ``Ω(p) = ½‖p‖² − ½``.

    .. math::

        L(\theta; y) = \tfrac12\|y\|^2 - \langle\theta, y\rangle
          + \tfrac12 \textstyle\sum_{j \in S(\theta)} (\theta_j^2 - \tau^2),
        \qquad \nabla_\theta L = \operatorname{sparsemax}(\theta) - y

    (Martins & Astudillo 2016). Zero for a label whose score leads all others
    by at least 1; grows linearly, like a hinge, far from the target.

    Args:
        scores: ``[..., K]`` scores θ, floating.
        target: integer labels ``[...]`` in ``[0, K)`` or probabilities ``[..., K]``.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> scores = torch.tensor([[1.0, 0.5, -2.0], [3.0, 1.0, 0.0]])
        >>> ll.sparsemax_loss(scores, torch.tensor([1, 0]), reduction="none")
        tensor([0.5625, 0.0000])

    Reference: Martins & Astudillo, "From Softmax to Sparsemax", ICML 2016.
    """
    return _fy_loss(scores, target, 2.0, "sparsemax", 0, sample_weight, reduction)


@old_weight_keyword
def entmax15_loss(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""1.5-entmax loss: the Fenchel–Young loss of the Tsallis α = 1.5 regulariser (exact sort).

    .. math::

        L(\theta; y) = \Omega_{1.5}(y) - \Omega_{1.5}(p^*) - \langle\theta, y - p^*\rangle,
        \quad \Omega_{1.5}(p) = \tfrac43 \textstyle\sum_j (p_j^{3/2} - p_j),
        \quad \nabla_\theta L = \operatorname{entmax}_{1.5}(\theta) - y

    Zero for a label whose score leads all others by at least 2.

    Args:
        scores: ``[..., K]`` scores θ, floating.
        target: integer labels ``[...]`` in ``[0, K)`` or probabilities ``[..., K]``.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> scores = torch.tensor([[4.0, 1.0, 0.0]])
        >>> ll.entmax15_loss(scores, torch.tensor([0]))   # margin 3 >= 2
        tensor(0.)

    Reference: Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019.
    """
    return _fy_loss(scores, target, 1.5, "entmax15", 0, sample_weight, reduction)


@old_weight_keyword
def entmax_bisect_loss(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 1.5,
    n_iter: int = DEFAULT_N_ITER,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""α-entmax loss for any α > 1: the Tsallis Fenchel–Young loss with a bisection threshold.

    .. math::

        L(\theta; y) = \frac{\sum_j p^*_j{}^\alpha}{\alpha} + \frac{\sum_j y_j^\alpha}{\alpha(\alpha-1)}
          - \Big\langle \theta - \frac{\tau}{\alpha-1}, y \Big\rangle,
        \qquad \nabla_\theta L = \operatorname{entmax}_\alpha(\theta) - y

    (the stable form of ``Ω*(θ) + Ω(y) − ⟨θ, y⟩`` with τ the threshold of
    :func:`entmax_bisect`). Zero for a label leading all others by ``1/(α − 1)``.

    Args:
        scores: ``[..., K]`` scores θ, floating.
        target: integer labels ``[...]`` in ``[0, K)`` or probabilities ``[..., K]``.
        alpha: the Tsallis index, ``> 1`` (ValueError otherwise).
        n_iter: bisection steps.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> scores = torch.tensor([[1.0, 0.5, -2.0]], dtype=torch.float64)
        >>> labels = torch.tensor([1])
        >>> torch.allclose(ll.entmax_bisect_loss(scores, labels, alpha=2.0), ll.sparsemax_loss(scores, labels))
        True

    Reference: Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019.
    """
    alpha = _check_alpha(alpha)
    check_hyper_magnitude("alpha", alpha, scores)
    n_iter = _check_n_iter(n_iter)
    return _fy_loss(scores, target, alpha, "bisect", n_iter, sample_weight, reduction)


# ---------------------------------------------------------------------------------
# Registry specs


def _label_sample(K=5, **kw):
    def sample(batch_shape, *, dtype, generator):
        shape = tuple(batch_shape) + (K,)
        scores = registry.randn(shape, dtype=dtype, generator=generator, scale=2.0)
        labels = registry.randint(K, batch_shape, generator=generator)
        return registry.Sample((scores, labels), dict(kw), none_shape=tuple(batch_shape))

    return sample


def _prob_sample(K=5, sparse=True, **kw):
    # Probability targets; with sparse=True some rows carry exact zeros.
    def sample(batch_shape, *, dtype, generator):
        shape = tuple(batch_shape) + (K,)
        scores = registry.randn(shape, dtype=dtype, generator=generator, scale=2.0)
        logits = registry.randn(shape, dtype=dtype, generator=generator, scale=2.0)
        y = torch.softmax(logits, -1)
        if sparse:
            y = sparsemax(logits)
        return registry.Sample((scores, y), dict(kw), none_shape=tuple(batch_shape))

    return sample


def _extremes(prob: bool = False, **kw):
    def extremes(dtype):
        scores = torch.tensor(
            [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [30.0, -30.0, 1e4], [-1e4, 1e4, 1e4 - 0.5]],
            dtype=dtype,
        )
        labels = torch.tensor([1, 0, 2, 0, 2])
        out = [registry.Sample((scores, labels), dict(kw), none_shape=(5,))]
        if prob:
            y = torch.tensor(
                [[0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=dtype
            )
            out.append(registry.Sample((scores, y), dict(kw), none_shape=(5,)))
        return out

    return extremes


def _register() -> None:
    import torch.nn.functional as F

    domain = "scores: [..., K] real (|θ| up to 1e4); target: labels [...] in [0, K) or probabilities [..., K]"
    registry.register(
        registry.LossSpec(
            name="sparsemax_loss",
            fn=sparsemax_loss,
            family="fenchel_young",
            domain=domain,
            sample=_label_sample(),
            extremes=_extremes(prob=True),
            notes="Fenchel–Young loss of Gini (α = 2); exact sort; gradient sparsemax(θ) − y",
        )
    )
    registry.register(
        registry.LossSpec(
            name="entmax15_loss",
            fn=entmax15_loss,
            family="fenchel_young",
            domain=domain,
            sample=_prob_sample(),
            extremes=_extremes(prob=True),
            notes="Fenchel–Young loss of Tsallis α = 1.5; exact sort",
        )
    )
    registry.register(
        registry.LossSpec(
            name="entmax_bisect_loss",
            fn=entmax_bisect_loss,
            family="fenchel_young",
            domain=domain + "; alpha > 1",
            sample=_label_sample(alpha=1.3),
            extremes=_extremes(prob=True, alpha=2.5),
            notes="Fenchel–Young loss of Tsallis α > 1 by bisection (n_iter=50)",
        )
    )

    def _ref_shannon(scores, target, **_):
        # Shannon FY loss = KL(y ‖ softmax θ); for labels, PyTorch's cross-entropy.
        if not target.is_floating_point():
            return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target.reshape(-1), reduction="none").reshape(
                target.shape
            )
        return F.kl_div(F.log_softmax(scores, -1), target, reduction="none").sum(-1)

    registry.register(
        registry.LossSpec(
            name="fenchel_young_loss",
            fn=fenchel_young_loss,
            family="fenchel_young",
            domain=domain + "; regulariser a name or Tsallis alpha >= 1",
            sample=_prob_sample(sparse=False, regulariser="shannon"),
            extremes=_extremes(prob=True, regulariser="shannon"),
            reference=_ref_shannon,
            notes="regulariser='shannon' by default: cross-entropy (labels) / KL (probabilities)",
        )
    )


_register()


def _check_probabilities_fast(name: str, value: torch.Tensor) -> None:
    """:func:`check_probabilities` in two passes (``aminmax`` of the entries, of the row sums)
    instead of six; anything it cannot pass goes to the full check, for its exact decision
    and message. Its tolerance (1e-4) is inside the full check's (1e-4 + 1e-5·1)."""
    from ._validate import value_checks_enabled

    if not value_checks_enabled(value) or value.numel() == 0:
        return
    v = value.detach()
    lo, hi = torch.aminmax(v)
    t_lo, t_hi = torch.aminmax(v.sum(-1).reshape(-1))
    ok = (lo >= 0) & torch.isfinite(hi) & ((t_lo - 1).abs() <= 1e-4) & ((t_hi - 1).abs() <= 1e-4)
    if not bool(ok):
        check_probabilities(name, value)
