"""The standard classification losses (seed 002, *Classification Loss functions*).

Conventions (PyTorch's, unless a docstring says otherwise): the class dimension
is ``dim`` (default ``-1``: logits ``[..., K]``, integer labels ``[...]``; pass
``dim=1`` for PyTorch's ``[B, K, d1, ...]`` layout); ``weight`` is losslab's
per-example weight (see ``_reduce``); PyTorch's per-class weight is
``class_weight=`` where PyTorch has it, with PyTorch's mean over ``Σ w_{y_i}``.
Every loss works in log space (``log_softmax``, ``softplus``, ``logsumexp``), so
logits at ±1e4 in float32 give finite values and gradients. NaN inputs propagate
to the affected examples (they are not masked), except under ``ignore_index``
where PyTorch's convention (the ignored entry contributes exactly 0) holds.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Sequence

import torch

from . import registry
from . import kernels
from ._catalogue import (
    check_at_least,
    check_class_weight,
    check_closed_interval,
    check_embeddings,
    check_target_shape,
    check_values_in,
    reduce_with_denominator,
)
from ._numerics import softplus, xlogy
from ._reduce import _reduce
from ._validate import (
    check_choice,
    check_class_indices,
    check_dim,
    check_finite_scalar,
    check_floating,
    check_integer,
    check_nonnegative,
    check_positive,
    check_reduction,
    check_same_shape,
    value_checks_enabled,
)

__all__ = [
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "focal_loss",
    "poly_loss",
    "kl_divergence",
    "hinge",
    "squared_hinge",
    "multiclass_hinge",
    "soft_dice",
    "arcface",
    "ge2e",
]


def _classes_last(name: str, logits: torch.Tensor, dim: int) -> torch.Tensor:
    check_floating(name, logits)
    if logits.dim() == 0:
        raise ValueError(f"{name} must have a class dimension; got a 0-dim tensor")
    d = check_dim("dim", dim, logits)
    return logits.movedim(d, -1)


def _labels(target, x: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Integer labels of shape ``x.shape[:-1]`` in ``[0, K)`` (``ignore_index`` excepted)."""
    check_integer("target", target)
    check_target_shape("target", target, x.shape[:-1], "the logits without the class dim")
    check_class_indices("target", target, x.shape[-1], ignore_index)
    return target.long()


def _log_p_and_log_rest(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p_y`` and ``log(1 − p_y)`` for logits ``x [..., K]`` and labels ``y [...]``.

    ``log(1 − p_y)`` is the logsumexp of the *other* logits minus the log-partition:
    finite, with a finite gradient, even where ``p_y`` rounds to 1 (``log1mexp(0)``
    would be ``-inf`` with an infinite derivative).
    """
    if x.shape[-1] < 2:
        raise ValueError(f"need at least 2 classes; got K={x.shape[-1]}")
    log_z = torch.logsumexp(x, -1)
    idx = y.unsqueeze(-1)
    x_y = x.gather(-1, idx).squeeze(-1)
    rest = torch.logsumexp(x.scatter(-1, idx, float("-inf")), -1)
    return x_y - log_z, rest - log_z


# ---------------------------------------------------------------------------------
# Cross-entropy family


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    dim: int = -1,
    class_weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    weight: torch.Tensor | None = None,
    impl: str = "auto",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Softmax cross-entropy with PyTorch's ``class_weight``, ``ignore_index``, label smoothing and probability targets.

    .. math::

        \ell_i = -\sum_{k=1}^K w_k\, t_{ik} \log \frac{e^{x_{ik}}}{\sum_j e^{x_{ij}}},
        \qquad t_i = (1-\varepsilon)\, \mathbf{e}_{y_i} + \varepsilon / K

    (seed 002, *Cross-Entropy Loss*; for integer labels the class weight of the
    one-hot part is ``w_{y_i}``). Exactly ``torch.nn.functional.cross_entropy``:
    with integer labels ``'none'`` is 0 at ignored entries and ``'mean'`` divides by
    ``Σ_i weight_i · w_{y_i}`` over non-ignored entries; with probability targets
    ``'mean'`` divides by ``Σ_i weight_i`` (by ``N`` without ``weight``). An all-ignored
    batch gives 0 (PyTorch gives NaN). This is also seed 001's plain CE objective.

    Args:
        logits: ``[..., K]`` (class dim ``dim``; ``dim=1`` for ``[B, K, d...]``), floating.
        target: integer labels ``[...]`` (the logits' shape without ``dim``) in ``[0, K)``
            or ``ignore_index``; or class probabilities with the logits' shape.
        dim: the class dimension.
        class_weight: optional per-class weights ``[K]`` (PyTorch's ``weight``).
        ignore_index: label value that contributes nothing (integer targets only).
        label_smoothing: ``ε ∈ [0, 1]``.
        weight: optional per-example weights ``[...]``.
        impl: ``'auto'`` (the fused CPU kernel of :mod:`losslab.kernels` for float32/float64
            without ``class_weight``, else the reference), ``'reference'`` or ``'fused'`` (the
            kernel, or a ``ValueError`` saying why it cannot run).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> logits, y = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), torch.tensor([0, 2])
        >>> torch.allclose(ll.cross_entropy(logits, y, label_smoothing=0.1),
        ...                F.cross_entropy(logits, y, label_smoothing=0.1))
        True

    Reference: Good, "Rational decisions", 1952; Szegedy et al., "Rethinking the Inception Architecture", 2016 (label smoothing).
    """
    x = _classes_last("logits", logits, dim)
    check_reduction(reduction)
    eps = check_finite_scalar("label_smoothing", label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1]; got {eps!r}")
    K = x.shape[-1]
    cw = check_class_weight(class_weight, K, x)
    if kernels.use_fused("cross_entropy", impl, x, cw)[0] and K > 0:
        return _cross_entropy_fused(logits, target, x, dim, ignore_index, eps, weight, reduction)
    logp = torch.log_softmax(x, -1)
    wlogp = logp if cw is None else logp * cw
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        check_same_shape("logits", logits, "target", target)
        t = target.movedim(check_dim("dim", dim, logits), -1).to(x.dtype)
        check_at_least("target", t, 0.0)
        if eps > 0:
            t = t * (1 - eps) + eps / K
        return _reduce(-(t * wlogp).sum(-1), reduction, weight)
    y = _labels(target, x, ignore_index)
    valid = y != ignore_index
    y = torch.where(valid, y, torch.zeros_like(y))
    loss = -wlogp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    if eps > 0:
        loss = (1 - eps) * loss - eps * wlogp.sum(-1) / K
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    denom = valid.to(x.dtype) if cw is None else valid.to(x.dtype) * cw[y]
    return reduce_with_denominator(loss, reduction, weight, denom)


def _check_binary_pair(logits, target) -> None:
    check_floating("logits", logits)
    check_floating("target", target)
    check_same_shape("logits", logits, "target", target)
    check_closed_interval("target", target, 0.0, 1.0)


def binary_cross_entropy_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    pos_weight: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross-entropy on logits, elementwise (multi-label), with PyTorch's ``pos_weight``.

    .. math::

        \ell = -\big[p\, y \log \sigma(x) + (1-y) \log(1-\sigma(x))\big]
             = p\, y\, \mathrm{softplus}(-x) + (1-y)\, \mathrm{softplus}(x)

    (seed 002, *Binary cross-entropy loss*); ``softplus`` keeps it finite at any
    logit. ``p`` is ``pos_weight`` broadcast over the last dim.

    Args:
        logits: ``[...]``, floating.
        target: same shape, values in ``[0, 1]``.
        pos_weight: optional ``[C]`` (last dim of ``logits``) or one-element tensor.
        weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, y = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 1.0])
        >>> torch.allclose(ll.binary_cross_entropy_with_logits(x, y), F.binary_cross_entropy_with_logits(x, y))
        True

    Reference: Cox, "The regression analysis of binary sequences", 1958.
    """
    _check_binary_pair(logits, target)
    pos = softplus(-logits)
    if pos_weight is not None:
        check_floating("pos_weight", pos_weight)
        last = logits.shape[-1] if logits.dim() else 1
        if pos_weight.dim() > 1 or pos_weight.numel() not in (1, last):
            raise ValueError(f"pos_weight must have shape ({last},) or one element; got {tuple(pos_weight.shape)}")
        pos = pos * pos_weight.to(logits.dtype)
    loss = target * pos + (1 - target) * softplus(logits)
    return _reduce(loss, reduction, weight)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | torch.Tensor | None = None,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Focal loss, binary (sigmoid, elementwise) or multi-class (softmax), computed in log space.

    .. math::

        \ell = -\alpha_t\, (1 - p_t)^\gamma \log p_t,
        \qquad (1-p_t)^\gamma = \exp\!\big(\gamma \log(1-p_t)\big)

    (seed 002, *Focal Loss*). Binary when ``target`` is floating (same shape as
    ``logits``, soft labels allowed; ``-log p_t`` is the BCE and
    ``1-p_t = y\,σ(-x) + (1-y)\,σ(x)``, as torchvision's ``sigmoid_focal_loss``);
    multi-class when ``target`` holds integer labels. ``log(1-p_t)`` is formed by
    ``logaddexp``/``logsumexp`` of the other terms, never as ``log(1 - p)``, so logits
    at ±1e4 give finite values and gradients for every ``γ ≥ 0``. ``γ = 0`` is the
    (binary) cross-entropy.

    Args:
        logits: ``[...]`` (binary) or ``[..., K]`` (multi-class, class dim ``dim``).
        target: floating ``[...]`` in ``[0, 1]`` (binary) or integer labels (multi-class).
        gamma: focusing parameter ``γ ≥ 0``.
        alpha: binary: a float in ``[0, 1]`` (``α`` for positives, ``1-α`` for
            negatives); multi-class: per-class weights ``[K]``. ``None``: no weighting.
        dim: the class dimension (multi-class).
        weight: optional per-example weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        the per-example losses (``'none'``) or a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> x, y = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True), torch.tensor([1])
        >>> loss = ll.focal_loss(x, y, gamma=2.0)
        >>> loss.backward(); bool(torch.isfinite(x.grad).all())
        True

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    g = check_nonnegative("gamma", gamma)
    check_floating("logits", logits)
    check_reduction(reduction)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        _check_binary_pair(logits, target)
        ce = target * softplus(-logits) + (1 - target) * softplus(logits)
        if g == 0:
            loss = ce
        else:
            log_1m_pt = torch.logaddexp(torch.log(target) - softplus(logits), torch.log1p(-target) - softplus(-logits))
            loss = torch.exp(g * log_1m_pt) * ce
        if alpha is not None:
            a = check_finite_scalar("alpha", alpha)
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"alpha must lie in [0, 1] for binary focal loss; got {a!r}")
            loss = (a * target + (1 - a) * (1 - target)) * loss
        return _reduce(loss, reduction, weight)
    x = _classes_last("logits", logits, dim)
    y = _labels(target, x)
    log_p, log_rest = _log_p_and_log_rest(x, y)
    loss = -log_p if g == 0 else -torch.exp(g * log_rest) * log_p
    if alpha is not None:
        a = check_class_weight(alpha if isinstance(alpha, torch.Tensor) else None, x.shape[-1], x)
        if a is None:
            raise TypeError(f"alpha must be a tensor of per-class weights [K] for multi-class focal loss; got {alpha!r}")
        loss = a[y] * loss
    return _reduce(loss, reduction, weight)


def poly_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    epsilon: float | Sequence[float] = 1.0,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""PolyLoss: cross-entropy plus the leading polynomial terms of its Taylor expansion in ``1 - p_t``.

    .. math::

        \ell = -\log p_t + \sum_{j=1}^N \varepsilon_j (1 - p_t)^j

    Poly-1 is ``epsilon=ε`` (a float); Poly-N is ``epsilon=(ε_1, …, ε_N)``.
    ``1 - p_t`` is formed from the other classes' probabilities (no cancellation).
    ``ε = 0`` is the cross-entropy.

    Args:
        logits: ``[..., K]`` (class dim ``dim``), floating.
        target: integer labels ``[...]`` in ``[0, K)``.
        epsilon: ``ε`` (Poly-1) or a sequence ``ε_1..ε_N`` (Poly-N), finite reals.
        dim: the class dimension.
        weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
        >>> p = torch.softmax(x, -1)[0, 0]
        >>> torch.allclose(ll.poly_loss(x, y, epsilon=2.0), F.cross_entropy(x, y) + 2.0 * (1 - p))
        True

    Reference: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions", ICLR 2022.
    """
    coeffs = [epsilon] if isinstance(epsilon, (Real, torch.Tensor)) else list(epsilon)
    if not coeffs:
        raise ValueError("epsilon must be a number or a non-empty sequence of numbers; got an empty sequence")
    coeffs = [check_finite_scalar("epsilon", e) for e in coeffs]
    x = _classes_last("logits", logits, dim)
    check_reduction(reduction)
    y = _labels(target, x)
    log_p, log_rest = _log_p_and_log_rest(x, y)
    loss = -log_p
    for j, e in enumerate(coeffs, start=1):
        if e != 0:
            loss = loss + e * torch.exp(j * log_rest)
    return _reduce(loss, reduction, weight)


def kl_divergence(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    dim: int = -1,
    log_target: bool = False,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Kullback–Leibler divergence ``KL(target ‖ exp(input))`` per distribution, PyTorch's argument order.

    .. math::

        \ell = \sum_{k} t_k (\log t_k - x_k) \quad (0 \log 0 := 0),
        \qquad \ell = \sum_k e^{t_k} (t_k - x_k) \text{ if log\_target}

    (seed 002, *Kullback–Leibler (KL) Divergence*). ``input`` holds
    log-probabilities, as for ``torch.nn.functional.kl_div``. The per-example loss is
    the sum over ``dim``, so ``'mean'`` is PyTorch's ``'batchmean'`` (accepted as an
    alias); PyTorch's elementwise ``'mean'`` equals ours divided by ``K``. ``input``
    must be finite (a ``-inf`` log-probability gives NaN, as in PyTorch).

    Args:
        input: log-probabilities ``[..., K]`` (class dim ``dim``), floating.
        target: probabilities (non-negative) or log-probabilities (``log_target=True``), same shape.
        dim: the distribution dimension summed over.
        log_target: whether ``target`` is given in log space.
        weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` (= ``'batchmean'``) | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> q, p = torch.log_softmax(torch.tensor([[1.0, 0.0, -1.0]]), -1), torch.tensor([[0.5, 0.5, 0.0]])
        >>> torch.allclose(ll.kl_divergence(q, p), F.kl_div(q, p, reduction="batchmean"))
        True

    Reference: Kullback & Leibler, "On Information and Sufficiency", 1951.
    """
    if reduction == "batchmean":
        reduction = "mean"
    check_reduction(reduction)
    check_floating("input", input)
    check_floating("target", target)
    check_same_shape("input", input, "target", target)
    x = _classes_last("input", input, dim)
    t = target.movedim(check_dim("dim", dim, input), -1)
    if log_target:
        pointwise = torch.exp(t) * (t - x)
    else:
        check_at_least("target", t, 0.0)
        pointwise = xlogy(t, t) - t * x
    return _reduce(pointwise.sum(-1), reduction, weight)


# ---------------------------------------------------------------------------------
# Margin losses


def _pm1_target(target, scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_target_shape("target", target, scores.shape, "the shape of scores")
    check_values_in("target", target, (-1, 1), " (use 2*y - 1 for 0/1 labels)")
    return target.to(scores.dtype)


def hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary hinge loss (the SVM loss) on a real score with labels ±1.

    .. math::

        \ell = \max(0,\ m - y\, s)

    (seed 002, *Hinge Loss*). Equals ``2 · multi_margin_loss`` on the two-class
    scores ``[0, s]`` (how it is tested).

    Args:
        scores: ``[...]``, floating.
        target: labels ``[...]`` in ``{-1, +1}`` (integer or floating).
        margin: ``m ≥ 0``.
        weight: optional per-element weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.hinge(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1, 1, 1]), reduction="none")
        tensor([0.0000, 0.5000, 2.0000])

    Reference: Cortes & Vapnik, "Support-vector networks", 1995.
    """
    check_floating("scores", scores)
    m = check_nonnegative("margin", margin)
    y = _pm1_target(target, scores)
    return _reduce((m - y * scores).clamp_min(0), reduction, weight)


def squared_hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Squared (L2-SVM) hinge loss on a real score with labels ±1.

    .. math::

        \ell = \max(0,\ m - y\, s)^2

    Differentiable everywhere (unlike :func:`hinge`). Equals ``2 · multi_margin_loss(p=2)``
    on the scores ``[0, s]``.

    Args:
        scores: ``[...]``, floating.
        target: labels ``[...]`` in ``{-1, +1}``.
        margin: ``m ≥ 0``.
        weight: optional per-element weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.squared_hinge(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1, 1, -1]), reduction="none")
        tensor([0.0000, 0.2500, 0.0000])

    Reference: Lee & Mangasarian, "SSVM: A Smooth Support Vector Machine", 2001.
    """
    check_floating("scores", scores)
    m = check_nonnegative("margin", margin)
    y = _pm1_target(target, scores)
    return _reduce((m - y * scores).clamp_min(0) ** 2, reduction, weight)


def multiclass_hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    variant: str = "weston_watkins",
    p: int = 1,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multi-class SVM hinge loss, Weston–Watkins (sum over classes) or Crammer–Singer (max).

    .. math::

        \ell_{WW} = \sum_{k \ne y} \max(0,\ m - s_y + s_k)^p, \qquad
        \ell_{CS} = \max_{k \ne y} \max(0,\ m - s_y + s_k)^p

    (seed 002, *Hinge Loss / Multi-class SVM Loss*). PyTorch's
    ``multi_margin_loss`` is ``ℓ_WW / K`` (it divides by the number of classes).

    Args:
        scores: ``[..., K]`` (class dim ``dim``), floating; ``K ≥ 2``.
        target: integer labels ``[...]`` in ``[0, K)``.
        margin: ``m ≥ 0``.
        variant: ``'weston_watkins'`` | ``'crammer_singer'``.
        p: 1 (hinge) or 2 (squared hinge).
        dim: the class dimension.
        weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, y = torch.tensor([[3.0, 2.5, -1.0]]), torch.tensor([0])
        >>> ll.multiclass_hinge(s, y, reduction="none"), ll.multiclass_hinge(s, y, variant="crammer_singer", reduction="none")
        (tensor([0.5000]), tensor([0.5000]))

    Reference: Weston & Watkins, 1999; Crammer & Singer, "On the algorithmic implementation of multiclass kernel-based vector machines", JMLR 2001.
    """
    check_choice("variant", variant, ("weston_watkins", "crammer_singer"))
    check_choice("p", p, (1, 2))
    m = check_nonnegative("margin", margin)
    x = _classes_last("scores", scores, dim)
    check_reduction(reduction)
    if x.shape[-1] < 2:
        raise ValueError(f"need at least 2 classes; got K={x.shape[-1]}")
    y = _labels(target, x)
    idx = y.unsqueeze(-1)
    viol = (m - x.gather(-1, idx) + x).clamp_min(0)
    viol = viol.scatter(-1, idx, 0.0)
    if p == 2:
        viol = viol * viol
    loss = viol.sum(-1) if variant == "weston_watkins" else viol.amax(-1)
    return _reduce(loss, reduction, weight)


# ---------------------------------------------------------------------------------
# Dice, ArcFace, GE2E


def soft_dice(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int | None = None,
    smooth: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multi-class soft Dice loss per example (e.g. per image), on softmax probabilities.

    .. math::

        \ell = 1 - \frac1K \sum_{k=1}^K \frac{2 \sum_n p_{nk} t_{nk} + s}{\sum_n p_{nk} + \sum_n t_{nk} + s}

    (seed 002, *Dice Loss*), with ``p = softmax(logits)`` over classes and ``t`` the
    one-hot labels (or given probabilities). Positions whose label is
    ``ignore_index`` are left out of every sum. A class absent from both prediction
    and target with ``s = 0`` counts as Dice 1.

    Args:
        logits: ``[..., N, K]``: ``N`` positions (pixels), ``K ≥ 2`` classes last.
            A segmentation map ``[B, K, H, W]`` becomes ``logits.flatten(2).transpose(1, 2)``.
        target: integer labels ``[..., N]`` or probabilities ``[..., N, K]``.
        ignore_index: label value to leave out (integer targets), or ``None``.
        smooth: Laplace smoothing ``s ≥ 0``.
        weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> perfect = torch.tensor([[[50.0, -50.0], [-50.0, 50.0]]])   # 1 image, 2 pixels, 2 classes
        >>> float(ll.soft_dice(perfect, torch.tensor([[0, 1]])))
        0.0

    Reference: Milletari et al., "V-Net", 2016; Sudre et al., "Generalised Dice overlap", 2017.
    """
    check_floating("logits", logits)
    check_reduction(reduction)
    s = check_nonnegative("smooth", smooth)
    if logits.dim() < 2 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have shape [..., N, K] with K >= 2; got {tuple(logits.shape)}")
    K = logits.shape[-1]
    p = torch.softmax(logits, -1)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        check_same_shape("logits", logits, "target", target)
        check_closed_interval("target", target, 0.0, 1.0)
        t = target
    else:
        y = _labels(target, logits, ignore_index)
        valid = (y != ignore_index) if ignore_index is not None else torch.ones_like(y, dtype=torch.bool)
        y = torch.where(valid, y, torch.zeros_like(y))
        keep = valid.unsqueeze(-1).to(p.dtype)
        t = torch.nn.functional.one_hot(y, K).to(p.dtype) * keep
        p = p * keep
    inter = (p * t).sum(-2)
    card = p.sum(-2) + t.sum(-2)
    den = card + s
    empty = den == 0
    dice = torch.where(empty, torch.ones_like(den), (2 * inter + s) / torch.where(empty, torch.ones_like(den), den))
    return _reduce(1 - dice.mean(-1), reduction, weight)


def arcface(
    cosine: torch.Tensor,
    target: torch.Tensor,
    *,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""ArcFace (additive angular margin) loss on cosine similarities to class centres.

    .. math::

        \ell = -\log \frac{e^{s \cos(\theta_y + m)}}{e^{s \cos(\theta_y + m)} + \sum_{k \ne y} e^{s \cos\theta_k}},
        \qquad \cos\theta_k = \hat x \cdot \hat W_k

    ``cos(θ_y + m) = cos θ_y cos m − sin θ_y sin m`` with ``sin θ_y`` clamped away
    from 0 (finite gradient at ``cos θ = ±1``). Where ``θ_y + m > π`` the target
    logit falls back to ``cos θ_y − m sin m`` (the reference implementation's
    monotone extension); ``easy_margin=True`` applies the margin only where
    ``cos θ_y > 0``. Compute ``cosine`` as ``F.normalize(x) @ F.normalize(W).T``.

    Args:
        cosine: ``[..., K]`` cosines in ``[-1, 1]`` (class dim ``dim``), floating.
        target: integer labels ``[...]`` in ``[0, K)``.
        scale: ``s > 0``.
        margin: ``m ∈ [0, π/2)``.
        easy_margin: margin only for positive cosines.
        dim: the class dimension.
        weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> cos, y = torch.tensor([[0.9, 0.1, -0.2]]), torch.tensor([0])
        >>> ll.arcface(cos, y, scale=4.0, margin=0.0)   # scaled softmax CE: log(1 + e^-3.2 + e^-4.4)
        tensor(0.0517)
        >>> ll.arcface(cos, y, scale=4.0, margin=0.5)   # true logit 4·cos(acos 0.9 + 0.5)
        tensor(0.1741)

    Reference: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
    """
    sc = check_positive("scale", scale)
    m = check_nonnegative("margin", margin)
    if m >= math.pi / 2:
        raise ValueError(f"margin must lie in [0, pi/2); got {m!r}")
    x = _classes_last("cosine", cosine, dim)
    check_reduction(reduction)
    check_closed_interval("cosine", x, -1.0 - 1e-5, 1.0 + 1e-5)
    x = x.clamp(-1.0, 1.0)
    y = _labels(target, x)
    idx = y.unsqueeze(-1)
    c = x.gather(-1, idx).squeeze(-1)
    sin = torch.sqrt((1 - c * c).clamp_min(torch.finfo(x.dtype).tiny))
    phi = c * math.cos(m) - sin * math.sin(m)
    if easy_margin:
        phi = torch.where(c > 0, phi, c)
    else:
        phi = torch.where(c > math.cos(math.pi - m), phi, c - math.sin(m) * m)
    logits = sc * x.scatter(-1, idx, phi.unsqueeze(-1))
    loss = torch.logsumexp(logits, -1) - sc * phi
    return _reduce(loss, reduction, weight)


def ge2e(
    embeddings: torch.Tensor,
    *,
    variant: str = "softmax",
    w: float | torch.Tensor = 10.0,
    b: float | torch.Tensor = -5.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Generalized end-to-end (GE2E) loss for speaker verification, softmax or contrast variant.

    .. math::

        S_{ji,k} = w \cos(e_{ji}, c_k^{(-i \text{ if } k=j)}) + b, \quad
        \ell^{\text{softmax}}_{ji} = -S_{ji,j} + \log\sum_k e^{S_{ji,k}}, \quad
        \ell^{\text{contrast}}_{ji} = 1 - \sigma(S_{ji,j}) + \max_{k\ne j} \sigma(S_{ji,k})

    (seed 002, *Generalized End-to-End Loss*). ``c_k`` is speaker ``k``'s centroid;
    for an utterance's own speaker the centroid excludes that utterance. ``w``
    and ``b`` may be learnable 0-dim tensors; ``w > 0``.

    Args:
        embeddings: ``[N, M, D]``: ``N ≥ 2`` speakers × ``M ≥ 2`` utterances, floating.
        variant: ``'softmax'`` | ``'contrast'``.
        w: similarity scale ``> 0``.
        b: similarity bias.
        weight: optional per-utterance weights ``[N, M]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[N, M]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> e = torch.randn(3, 4, 8, generator=torch.Generator().manual_seed(0))
        >>> ll.ge2e(e, reduction="none").shape
        torch.Size([3, 4])

    Reference: Wan et al., "Generalized End-to-End Loss for Speaker Verification", ICASSP 2018.
    """
    check_choice("variant", variant, ("softmax", "contrast"))
    check_embeddings("embeddings", embeddings, 3, "[N speakers, M utterances, D]")
    check_reduction(reduction)
    N, M, _ = embeddings.shape
    if N < 2 or M < 2:
        raise ValueError(f"embeddings need N >= 2 speakers and M >= 2 utterances; got shape {tuple(embeddings.shape)}")
    if isinstance(w, torch.Tensor):
        check_floating("w", w)
        check_at_least("w", w, 0.0, strict=True)
    else:
        w = check_positive("w", w)
    if isinstance(b, torch.Tensor):
        check_floating("b", b)
    else:
        b = check_finite_scalar("b", b)
    norm = torch.nn.functional.normalize
    e = norm(embeddings, dim=-1)
    centroids = norm(embeddings.mean(1), dim=-1)  # [N, D]
    exclusive = norm((embeddings.sum(1, keepdim=True) - embeddings) / (M - 1), dim=-1)  # [N, M, D]
    cos = torch.einsum("nmd,kd->nmk", e, centroids)
    own = (e * exclusive).sum(-1)  # [N, M]
    eye = torch.eye(N, dtype=torch.bool, device=embeddings.device).unsqueeze(1)  # [N, 1, N]
    cos = torch.where(eye, own.unsqueeze(-1), cos)
    S = w * cos + b
    S_own = w * own + b
    if variant == "softmax":
        loss = torch.logsumexp(S, -1) - S_own
    else:
        others = torch.sigmoid(S).masked_fill(eye, float("-inf")).amax(-1)
        loss = 1 - torch.sigmoid(S_own) + others
    return _reduce(loss, reduction, weight)


# ---------------------------------------------------------------------------------
# Registry specs


def _logits_labels(K=4, scale=2.0, **kw):
    def sample(batch_shape, *, dtype, generator):
        x = registry.randn(tuple(batch_shape) + (K,), dtype=dtype, generator=generator, scale=scale)
        y = registry.randint(K, batch_shape, generator=generator)
        return registry.Sample((x, y), dict(kw), none_shape=tuple(batch_shape))

    return sample


def _class_extremes(**kw):
    def extremes(dtype):
        x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4], [0.0, 0.0, 0.0]], dtype=dtype)
        y = torch.tensor([0, 0, 1, 2])
        return [registry.Sample((x, y), dict(kw), none_shape=(4,))]

    return extremes


def _binary_sample(soft=False, **kw):
    def sample(batch_shape, *, dtype, generator):
        x = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
        if soft:
            y = torch.rand(tuple(batch_shape), dtype=dtype, generator=generator)
        else:
            y = registry.randint(2, batch_shape, generator=generator).to(dtype)
        return registry.Sample((x, y), dict(kw), none_shape=tuple(batch_shape))

    return sample


def _binary_extremes(**kw):
    def extremes(dtype):
        x = torch.tensor([1e4, -1e4, 1e4, -1e4, 0.0, 1e4], dtype=dtype)
        y = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 0.3], dtype=dtype)
        return [registry.Sample((x, y), dict(kw), none_shape=(6,))]

    return extremes


def _pm1_sample(batch_shape, *, dtype, generator):
    x = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
    y = registry.randint(2, batch_shape, generator=generator) * 2 - 1
    return registry.Sample((x, y), none_shape=tuple(batch_shape))


def _pm1_extremes(dtype):
    x = torch.tensor([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    return [registry.Sample((x, torch.tensor([1, 1, -1, -1])), none_shape=(4,))]


def _ref_cross_entropy(logits, target, *, dim=-1, class_weight=None, ignore_index=-100, label_smoothing=0.0, **_):
    import torch.nn.functional as F

    x = logits.movedim(dim, 1) if logits.dim() > 1 else logits
    t = target.movedim(dim, 1) if target.is_floating_point() and target.dim() > 1 else target
    return F.cross_entropy(x, t, weight=class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")


def _ref_bce(logits, target, *, pos_weight=None, **_):
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")


def _ref_kl(input, target, *, dim=-1, log_target=False, **_):
    import torch.nn.functional as F

    return F.kl_div(input, target, log_target=log_target, reduction="none").sum(dim)


def _ref_hinge_via_multi_margin(p):
    def ref(scores, target, *, margin=1.0, **_):
        import torch.nn.functional as F

        two = torch.stack([torch.zeros_like(scores), scores], -1).reshape(-1, 2)
        labels = ((target.reshape(-1) + 1) // 2).long()
        return 2 * F.multi_margin_loss(two, labels, p=p, margin=margin, reduction="none").reshape(scores.shape)

    return ref


def _ref_multiclass_hinge(scores, target, *, margin=1.0, variant="weston_watkins", p=1, **_):
    import torch.nn.functional as F

    assert variant == "weston_watkins"  # the Crammer–Singer variant has a naive reference in tests
    K = scores.shape[-1]
    out = F.multi_margin_loss(scores.reshape(-1, K), target.reshape(-1), p=p, margin=margin, reduction="none")
    return K * out.reshape(target.shape)


def _register() -> None:
    R = registry.register
    S = registry.LossSpec
    fam = "classification"
    R(S("cross_entropy", cross_entropy, fam, "logits: any real [..., K]; labels in [0, K) or ignore_index; or probability targets",
        _logits_labels(label_smoothing=0.1), _class_extremes(label_smoothing=0.1), reference=_ref_cross_entropy,
        extreme_dtypes=(torch.float32, torch.bfloat16)))
    R(S("binary_cross_entropy_with_logits", binary_cross_entropy_with_logits, fam, "logits: any real; target in [0, 1]",
        _binary_sample(soft=True), _binary_extremes(), reference=_ref_bce))
    R(S("focal_loss", focal_loss, fam, "logits: any real; binary soft targets in [0, 1] or integer labels; gamma >= 0",
        _logits_labels(gamma=2.0),
        lambda dtype: _class_extremes(gamma=2.0)(dtype) + _class_extremes(gamma=0.5)(dtype) + _binary_extremes(gamma=0.5, alpha=0.25)(dtype)))
    R(S("poly_loss", poly_loss, fam, "logits: any real [..., K]; labels in [0, K)", _logits_labels(epsilon=(1.0, -0.5)),
        _class_extremes(epsilon=(1.0, 0.5))))
    R(S("kl_divergence", kl_divergence, fam, "input: finite log-probabilities [..., K]; target: probabilities or log-probabilities",
        _kl_sample, _kl_extremes, reference=_ref_kl))
    R(S("hinge", hinge, fam, "scores: any real; target in {-1, +1}; margin >= 0", _pm1_sample, _pm1_extremes,
        reference=_ref_hinge_via_multi_margin(1)))
    R(S("squared_hinge", squared_hinge, fam, "scores: any real; target in {-1, +1}; margin >= 0", _pm1_sample, _pm1_extremes,
        reference=_ref_hinge_via_multi_margin(2)))
    R(S("multiclass_hinge", multiclass_hinge, fam, "scores: any real [..., K]; labels in [0, K); margin >= 0",
        _logits_labels(), lambda dtype: _class_extremes()(dtype) + _class_extremes(variant="crammer_singer", p=2)(dtype),
        reference=_ref_multiclass_hinge))
    R(S("soft_dice", soft_dice, fam, "logits: any real [..., N, K]; labels in [0, K) or ignore_index", _dice_sample, _dice_extremes))
    R(S("arcface", arcface, fam, "cosine in [-1, 1] [..., K]; labels in [0, K); scale > 0; margin in [0, pi/2)",
        _arcface_sample, _arcface_extremes))
    R(S("ge2e", ge2e, fam, "embeddings [N >= 2, M >= 2, D], any real; w > 0", _ge2e_sample, _ge2e_extremes,
        leading_batch_dims=False, notes="per-utterance losses [N, M]; speakers interact through the centroids"))


def _kl_sample(batch_shape, *, dtype, generator):
    x = torch.log_softmax(registry.randn(tuple(batch_shape) + (4,), dtype=dtype, generator=generator), -1)
    t = registry.rand_simplex(tuple(batch_shape) + (4,), dtype=dtype, generator=generator)
    return registry.Sample((x, t), none_shape=tuple(batch_shape))


def _kl_extremes(dtype):
    x = torch.log_softmax(torch.tensor([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]], dtype=dtype), -1)
    t = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    lt = torch.tensor([[-1e4, 0.0, -1e4], [0.0, -1e4, -1e4]], dtype=dtype)
    return [registry.Sample((x, t), none_shape=(2,)), registry.Sample((x, lt), {"log_target": True}, none_shape=(2,))]


def _dice_sample(batch_shape, *, dtype, generator):
    x = registry.randn(tuple(batch_shape) + (5, 3), dtype=dtype, generator=generator, scale=2.0)
    y = registry.randint(3, tuple(batch_shape) + (5,), generator=generator)
    y.view(-1)[::4] = -1  # some ignored positions
    return registry.Sample((x, y), {"ignore_index": -1}, none_shape=tuple(batch_shape))


def _dice_extremes(dtype):
    x = torch.tensor([[[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [0.0, 0.0, 1e4]]], dtype=dtype)
    return [
        registry.Sample((x, torch.tensor([[0, 0, 2]])), none_shape=(1,)),
        registry.Sample((x, torch.tensor([[1, 1, 1]])), {"smooth": 0.0}, none_shape=(1,)),
    ]


def _arcface_sample(batch_shape, *, dtype, generator):
    c = torch.rand(tuple(batch_shape) + (4,), dtype=dtype, generator=generator) * 1.8 - 0.9
    y = registry.randint(4, batch_shape, generator=generator)
    return registry.Sample((c, y), {"scale": 8.0, "margin": 0.3}, none_shape=tuple(batch_shape))


def _arcface_extremes(dtype):
    c = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.99, 0.5, -0.5]], dtype=dtype)
    y = torch.tensor([0, 0, 1])
    return [
        registry.Sample((c, y), {"scale": 64.0, "margin": 0.5}, none_shape=(3,)),
        registry.Sample((c, y), {"scale": 64.0, "margin": 0.5, "easy_margin": True}, none_shape=(3,)),
    ]


def _ge2e_sample(batch_shape, *, dtype, generator):
    N = max(2, int(batch_shape[0]))
    e = registry.randn((N, 3, 4), dtype=dtype, generator=generator)
    return registry.Sample((e,), {"w": 5.0, "b": -2.0}, batched_argnums=(), none_shape=(N, 3))


def _ge2e_extremes(dtype):
    e = torch.tensor([[[1e4, -1e4], [1e4, 1e4]], [[-1e4, 0.0], [0.0, 0.0]]], dtype=dtype)
    return [registry.Sample((e,), none_shape=(2, 2)), registry.Sample((e,), {"variant": "contrast"}, none_shape=(2, 2))]


_register()


def _cross_entropy_fused(logits, target, x, dim, ignore_index, eps, weight, reduction):
    """:func:`cross_entropy` through the fused kernel: the same checks and reductions, no class weights."""
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        check_same_shape("logits", logits, "target", target)
        t = target.movedim(check_dim("dim", dim, logits), -1).to(x.dtype)
        check_at_least("target", t, 0.0)
        return _reduce(kernels.cross_entropy(x, t, ignore_index, eps), reduction, weight)
    y = _labels(target, x, ignore_index)
    loss = kernels.cross_entropy(x, y, ignore_index, eps)
    return reduce_with_denominator(loss, reduction, weight, (y != ignore_index).to(x.dtype))
