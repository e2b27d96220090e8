"""The standard classification losses (seed 002, *Classification Loss functions*).

Conventions (PyTorch's, unless a docstring says otherwise): the class dimension
is ``dim`` (default ``-1``: logits ``[..., K]``, integer labels ``[...]``; pass
``dim=1`` for PyTorch's ``[B, K, d1, ...]`` layout); ``sample_weight`` is losslab's
per-example weight (see ``_reduce``). The losses PyTorch also has
(:func:`cross_entropy`, :func:`binary_cross_entropy_with_logits`,
:func:`multi_margin_loss`) take PyTorch's arguments in PyTorch's order and layout,
``weight`` with PyTorch's meaning (class weights, with PyTorch's mean over ``Σ w_{y_i}``).
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
from ._numerics import log1mexp, softplus, xlogy
from ._numerics import mul_where_zero, xlogx
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import (
    old_weight_keyword,
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
    legacy_reduction,
    renamed_keywords,
    value_checks_enabled,
)
from ._validate import check_bool, promote_floating

__all__ = [
    "cross_entropy",
    "kl_div",
    "multi_margin_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
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
    idx = y.unsqueeze(-1)
    log_p = torch.log_softmax(x, -1).gather(-1, idx).squeeze(-1)
    # Where p_y <= 1/2, log(1 − p_y) = log1mexp(log p_y) is well conditioned (|d/d log p| <= 1)
    # and needs no [..., K] work; only rows with p_y > 1/2 take the exact logsumexp of the
    # other logits (finite where p_y rounds to 1), on a copy of those rows alone.
    half = -math.log(2.0)
    log_rest = log1mexp(torch.clamp(log_p, max=half))
    near = (log_p > half).reshape(-1)
    if bool(near.any()):
        K = x.shape[-1]
        rows = near.nonzero().squeeze(-1)
        sub = x.reshape(-1, K).index_select(0, rows)
        sub_idx = idx.reshape(-1, 1).index_select(0, rows)
        exact = torch.logsumexp(sub.scatter(-1, sub_idx, float("-inf")), -1) - torch.logsumexp(sub, -1)
        log_rest = log_rest.reshape(-1).index_put((rows,), exact).reshape(log_p.shape)
    return log_p, log_rest


# ---------------------------------------------------------------------------------
# Cross-entropy family


@renamed_keywords("class_weight")
def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    dim: int | None = None,
    sample_weight: torch.Tensor | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    r"""Softmax cross-entropy, ``torch.nn.functional.cross_entropy`` with its arguments, layout and values.

    .. math::

        \ell_i = -\sum_{k=1}^K w_k\, t_{ik} \log \frac{e^{x_{ik}}}{\sum_j e^{x_{ij}}},
        \qquad t_i = (1-\varepsilon)\, \mathbf{e}_{y_i} + \varepsilon / K

    (seed 002, *Cross-Entropy Loss*; for integer labels the class weight of the
    one-hot part is ``w_{y_i}``). Exactly ``torch.nn.functional.cross_entropy``
    (same positional order; the class dim is 1, or 0 for an unbatched ``[C]``
    input): with integer labels ``'none'`` is 0 at ignored entries and ``'mean'``
    divides by ``Σ_i s_i · w_{y_i}`` over non-ignored entries (``s`` the
    ``sample_weight``); with probability targets ``'mean'`` divides by ``Σ_i s_i``
    (by ``N`` without ``sample_weight``). An all-ignored batch gives 0 (PyTorch
    gives NaN). This is also seed 001's plain CE objective.

    Args:
        input: logits ``[N, C, d1, ...]``, ``[N, C]`` or ``[C]`` (or any layout with ``dim``), floating.
        target: integer labels (the input's shape without the class dim) in ``[0, C)``
            or ``ignore_index``; or class probabilities with the input's shape.
        weight: optional class weights ``[C]`` (PyTorch's ``weight``).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        ignore_index: label value that contributes nothing (integer targets only).
        impl: losslab's extra: ``'auto'`` (the fused kernel of :mod:`losslab.kernels` for
            float32/float64 on CPU, also with class weights unless they require grad; else the
            reference), ``'reference'`` or
            ``'fused'`` (the kernel, or a ``ValueError`` saying why it cannot run).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: ``ε ∈ [0, 1]``.
        dim: losslab's extra: the class dimension (default: PyTorch's, 1, or 0 for 1-D input;
            ``dim=-1`` for ``[..., C]``).
        sample_weight: losslab's extra: optional per-example weights (the target's shape).

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
    logits, class_weight = input, weight
    reduction = legacy_reduction(size_average, reduce, reduction)
    dim = _pytorch_class_dim(logits) if dim is None else dim
    logits, target, class_weight = promote_floating(logits, target, class_weight)
    x = _classes_last("input", logits, dim)
    check_reduction(reduction)
    eps = check_finite_scalar("label_smoothing", label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1]; got {eps!r}")
    K = x.shape[-1]
    cw = check_class_weight(class_weight, K, x, "weight")
    if kernels.use_fused("cross_entropy", impl, x, cw)[0] and K > 0:
        return _cross_entropy_fused(logits, target, x, dim, ignore_index, eps, sample_weight, reduction, cw)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        logp = torch.log_softmax(x, -1)
        wlogp = logp if cw is None else mul_where_zero(cw, logp)  # a zero class weight on a -inf class: 0
        check_same_shape("input", logits, "target", target)
        t = target.movedim(check_dim("dim", dim, logits), -1)
        check_at_least("target", t, 0.0)
        if eps > 0:
            t = t * (1 - eps) + eps * _smoothing_share(x)
        return _reduce(-mul_where_zero(t, wlogp).sum(-1), reduction, sample_weight)
    y = _labels(target, x, ignore_index)
    valid = y != ignore_index
    y = torch.where(valid, y, torch.zeros_like(y))
    # Select ignored rows out before log_softmax: their logits (NaN padding) would otherwise
    # reach the gradient through softmax's backward, where ×0 keeps a NaN.
    logp = torch.log_softmax(x.masked_fill(~valid.unsqueeze(-1), 0.0), -1)
    wlogp = logp if cw is None else mul_where_zero(cw, logp)
    loss = -wlogp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    if eps > 0:
        loss = (1 - eps) * loss - eps * mul_where_zero(_smoothing_share(x), wlogp).sum(-1)
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    denom = valid.to(x.dtype) if cw is None else valid.to(x.dtype) * cw[y]
    return reduce_with_denominator(loss, reduction, sample_weight, denom)


def _check_binary_pair(logits, target, name: str = "logits") -> None:
    check_floating(name, logits)
    check_floating("target", target)
    check_same_shape(name, logits, "target", target)
    check_closed_interval("target", target, 0.0, 1.0)


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
    *,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Binary cross-entropy on logits, elementwise (multi-label), with PyTorch's ``pos_weight``.

    .. math::

        \ell = -\big[p\, y \log \sigma(x) + (1-y) \log(1-\sigma(x))\big]
             = p\, y\, \mathrm{softplus}(-x) + (1-y)\, \mathrm{softplus}(x)

    (seed 002, *Binary cross-entropy loss*); ``softplus`` keeps it finite at any
    logit. ``p`` is ``pos_weight`` broadcast over the last dim. PyTorch's arguments
    in PyTorch's order: ``weight`` rescales each element's loss (broadcast to the
    input) before a plain mean, exactly as PyTorch does; losslab's ``sample_weight``
    (same shape as the input) gives the weighted mean ``Σ s·ℓ / Σ s``.

    Args:
        input: logits ``[...]``, floating.
        target: same shape, values in ``[0, 1]``.
        weight: optional rescaling weight broadcastable to ``input`` (PyTorch's ``weight``).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        pos_weight: optional ``[C]`` (last dim of ``input``) or one-element tensor.
        sample_weight: losslab's extra: optional per-element weights ``[...]``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, y = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 1.0])
        >>> torch.allclose(ll.binary_cross_entropy_with_logits(x, y), F.binary_cross_entropy_with_logits(x, y))
        True

    Reference: Cox, "The regression analysis of binary sequences", 1958.
    """
    logits = input
    reduction = legacy_reduction(size_average, reduce, reduction)
    logits, target, pos_weight = promote_floating(logits, target, pos_weight)
    _check_binary_pair(logits, target, "input")
    if pos_weight is not None:
        check_floating("pos_weight", pos_weight)
        last = logits.shape[-1] if logits.dim() else 1
        if pos_weight.dim() > 1 or pos_weight.numel() not in (1, last):
            raise ValueError(f"pos_weight must have shape ({last},) or one element; got {tuple(pos_weight.shape)}")
    if pos_weight is None or not pos_weight.requires_grad:
        # PyTorch's fused op (the same softplus formula, one pass each way, no temporaries);
        # called through torch, not F, so a patched F cannot recurse into this function.
        # It has no gradient for pos_weight, so a learnable pos_weight takes the formula.
        loss = torch.binary_cross_entropy_with_logits(logits, target, None, pos_weight, 0)
    else:
        pos = softplus(-logits) * pos_weight
        loss = target * pos + (1 - target) * softplus(logits)
    loss = _rescale(loss, weight)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | torch.Tensor | None = None,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights.
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
    logits, target, alpha = promote_floating(logits, target, alpha)
    g = check_nonnegative("gamma", gamma)
    check_hyper_magnitude("gamma", g, logits)
    check_floating("logits", logits)
    check_reduction(reduction)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        _check_binary_pair(logits, target)
        ce = target * softplus(-logits) + (1 - target) * softplus(logits)
        if g == 0:
            loss = ce
        else:
            log_1m_pt = _focal_log_1m_pt(logits, target)
            loss = torch.exp(g * log_1m_pt) * ce
        if alpha is not None:
            a = check_finite_scalar("alpha", alpha)
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"alpha must lie in [0, 1] for binary focal loss; got {a!r}")
            loss = (a * target + (1 - a) * (1 - target)) * loss
        return _reduce(loss, reduction, sample_weight)
    x = _classes_last("logits", logits, dim)
    y = _labels(target, x)
    log_p, log_rest = _log_p_and_log_rest(x, y)
    loss = -log_p if g == 0 else -torch.exp(g * log_rest) * log_p
    if alpha is not None:
        a = check_class_weight(alpha if isinstance(alpha, torch.Tensor) else None, x.shape[-1], x)
        if a is None:
            raise TypeError(f"alpha must be a tensor of per-class weights [K] for multi-class focal loss; got {alpha!r}")
        loss = a[y] * loss
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def poly_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    epsilon: float | Sequence[float] = 1.0,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights ``[...]``.
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
    coeffs = [check_hyper_magnitude("epsilon", check_finite_scalar("epsilon", e), logits) for e in coeffs]
    x = _classes_last("logits", logits, dim)
    check_reduction(reduction)
    y = _labels(target, x)
    log_p, log_rest = _log_p_and_log_rest(x, y)
    loss = -log_p
    for j, e in enumerate(coeffs, start=1):
        if e != 0:
            loss = loss + e * torch.exp(j * log_rest)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def kl_divergence(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    dim: int = -1,
    log_target: bool = False,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights ``[...]``.
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
    input, target = promote_floating(input, target)
    if reduction == "batchmean":
        reduction = "mean"
    check_reduction(reduction)
    check_floating("input", input)
    check_floating("target", target)
    check_same_shape("input", input, "target", target)
    x = _classes_last("input", input, dim)
    t = target.movedim(check_dim("dim", dim, input), -1)
    if check_bool("log_target", log_target):
        # exp(t)·(t − x) → 0 as t → -inf (a zero target), also where x = -inf (a masked class)
        x_safe = torch.where(t == -math.inf, torch.zeros_like(x), x)
        pointwise = mul_where_zero(torch.exp(t), t - x_safe)
    else:
        check_at_least("target", t, 0.0)
        return _reduce(_KLRows.apply(x, t), reduction, sample_weight)
    return _reduce(pointwise.sum(-1), reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Margin losses


def _pm1_target(target, scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_target_shape("target", target, scores.shape, "the shape of scores")
    y = target.to(scores.dtype)
    # The labels are checked on their floating copy, which is needed anyway: min |y| = max |y|
    # = 1 exactly when every label is ±1 (NaN propagates), two reductions without a temporary
    # instead of five passes; a failure reruns the elementwise check for its error message.
    if value_checks_enabled(target) and y.numel():
        yd = y.detach()
        lo, hi = torch.linalg.vector_norm(yd, -math.inf), torch.linalg.vector_norm(yd, math.inf)
        if not bool((lo == 1) & (hi == 1)):
            check_values_in("target", target, (-1, 1), " (use 2*y - 1 for 0/1 labels)")
    return y


@old_weight_keyword
def hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    impl: str = "auto",
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
        sample_weight: optional per-element weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        impl: ``'auto'`` (the fused CPU kernel of :mod:`losslab.kernels`: loss, gradient and the
            label check in one pass; float32/float64 on the CPU), ``'reference'`` (the pure-PyTorch
            code) or ``'fused'`` (the kernel, else a ``ValueError``).

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.hinge(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1, 1, 1]), reduction="none")
        tensor([0.0000, 0.5000, 2.0000])

    Reference: Cortes & Vapnik, "Support-vector networks", 1995.
    """
    scores, target = promote_floating(scores, target)
    check_floating("scores", scores)
    m = check_nonnegative("margin", margin)
    check_hyper_magnitude("margin", m, scores)
    fast = _fused_hinge(scores, target, m, False, impl, sample_weight, reduction)
    if fast is not None:
        return fast
    y = _pm1_target(target, scores)
    # m − y·s in one op (addcmul), not a product and a subtraction
    return _reduce(torch.addcmul(scores.new_tensor(m), y, scores, value=-1).clamp_min(0), reduction, sample_weight)


@old_weight_keyword
def squared_hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    impl: str = "auto",
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
        sample_weight: optional per-element weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        impl: ``'auto'`` (the fused CPU kernel of :mod:`losslab.kernels`: loss, gradient and the
            label check in one pass; float32/float64 on the CPU), ``'reference'`` (the pure-PyTorch
            code) or ``'fused'`` (the kernel, else a ``ValueError``).

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.squared_hinge(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1, 1, -1]), reduction="none")
        tensor([0.0000, 0.2500, 0.0000])

    Reference: Lee & Mangasarian, "SSVM: A Smooth Support Vector Machine", 2001.
    """
    scores, target = promote_floating(scores, target)
    check_floating("scores", scores)
    m = check_nonnegative("margin", margin)
    check_hyper_magnitude("margin", m, scores, power=2)
    fast = _fused_hinge(scores, target, m, True, impl, sample_weight, reduction)
    if fast is not None:
        return fast
    y = _pm1_target(target, scores)
    return _reduce(torch.addcmul(scores.new_tensor(m), y, scores, value=-1).clamp_min(0).square(), reduction, sample_weight)


@old_weight_keyword
def multiclass_hinge(
    scores: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    variant: str = "weston_watkins",
    p: int = 1,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights ``[...]``.
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
    check_hyper_magnitude("margin", m, scores, power=2 if p == 2 else 1)
    x = _classes_last("scores", scores, dim)
    check_reduction(reduction)
    if x.shape[-1] < 2:
        raise ValueError(f"scores must have at least 2 classes along dim={dim}; got K={x.shape[-1]}")
    y = _labels(target, x)
    idx = y.unsqueeze(-1)
    if variant == "weston_watkins":
        return _reduce(_WestonWatkins.apply(x, idx, m, p), reduction, sample_weight)
    viol = (m - x.gather(-1, idx) + x).clamp_min(0)
    viol = viol.scatter(-1, idx, 0.0)
    if p == 2:
        viol = viol * viol
    loss = viol.sum(-1) if variant == "weston_watkins" else viol.amax(-1)
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Dice, ArcFace, GE2E


@old_weight_keyword
def soft_dice(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int | None = None,
    smooth: float = 1.0,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights ``[...]``.
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
    check_hyper_magnitude("smooth", s, logits)
    if logits.dim() < 2 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have shape [..., N, K] with K >= 2; got {tuple(logits.shape)}")
    K = logits.shape[-1]
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        check_same_shape("logits", logits, "target", target)
        check_closed_interval("target", target, 0.0, 1.0)
        p = torch.softmax(logits, -1)
        t = target
    elif ignore_index is None:
        # every position counts: no one-hot target (int64, K per position) and no masked
        # copies; Σ_n p·t and Σ_n t are scatter-adds of p_y and of ones over the labels
        t = None
        y = _labels(target, logits, ignore_index)
        p = torch.softmax(logits, -1)
        p_y = p.gather(-1, y.unsqueeze(-1)).squeeze(-1)
        zeros = p.new_zeros(p.shape[:-2] + (K,))
        inter = zeros.scatter_add(-1, y, p_y)
        card = p.sum(-2) + zeros.scatter_add(-1, y, torch.ones_like(p_y))
    else:
        y = _labels(target, logits, ignore_index)
        valid = (y != ignore_index) if ignore_index is not None else torch.ones_like(y, dtype=torch.bool)
        y = torch.where(valid, y, torch.zeros_like(y))
        # Ignored positions' logits are selected out before softmax, so NaN padding there
        # reaches neither the value nor (through softmax's backward) the gradient.
        p = torch.softmax(torch.where(valid.unsqueeze(-1), logits, torch.zeros_like(logits)), -1)
        keep = valid.unsqueeze(-1).to(p.dtype)
        t = torch.nn.functional.one_hot(y, K).to(p.dtype) * keep
        p = p * keep
    if t is not None:
        inter = (p * t).sum(-2)
        card = p.sum(-2) + t.sum(-2)
    den = card + s
    empty = den == 0
    dice = torch.where(empty, torch.ones_like(den), (2 * inter + s) / torch.where(empty, torch.ones_like(den), den))
    return _reduce(1 - dice.mean(-1), reduction, sample_weight)


@old_weight_keyword
def arcface(
    cosine: torch.Tensor,
    target: torch.Tensor,
    *,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-example weights ``[...]``.
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
    check_bool("easy_margin", easy_margin)
    sc = check_positive("scale", scale)
    check_hyper_magnitude("scale", sc, cosine)
    m = check_nonnegative("margin", margin)
    if m >= math.pi / 2:
        raise ValueError(f"margin must lie in [0, pi/2); got {m!r}")
    x = _classes_last("cosine", cosine, dim)
    check_reduction(reduction)
    # One pass for the range; the clamp (a [..., K] copy) only where some cosine lies
    # outside [-1, 1] (within the tolerance): inside, the clamp is the identity, gradient too.
    lo, hi = torch.aminmax(x.detach()) if x.numel() else (x.new_zeros(()), x.new_zeros(()))
    if not bool((lo >= -1.0) & (hi <= 1.0)):
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
    # s·x with s·φ written in place at the label (the product's backward keeps nothing), and
    # cross-entropy's fused log-softmax: lse(logits) − s·φ with one [..., K] buffer saved.
    import torch.nn.functional as F

    logits = x * sc
    logits.scatter_(-1, idx, (sc * phi).unsqueeze(-1))
    if logits.dim() == 1:
        loss = F.cross_entropy(logits, y, reduction="none")
    else:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none").reshape(y.shape)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def ge2e(
    embeddings: torch.Tensor,
    *,
    variant: str = "softmax",
    w: float | torch.Tensor = 10.0,
    b: float | torch.Tensor = -5.0,
    sample_weight: torch.Tensor | None = None,
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
        sample_weight: optional per-utterance weights ``[N, M]``.
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
        check_hyper_magnitude("w", w, embeddings)
    if isinstance(b, torch.Tensor):
        check_floating("b", b)
    else:
        b = check_finite_scalar("b", b)
        check_hyper_magnitude("b", b, embeddings)
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
    return _reduce(loss, reduction, sample_weight)


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


def _ref_cross_entropy(logits, target, weight=None, *, dim=-1, ignore_index=-100, label_smoothing=0.0, **_):
    import torch.nn.functional as F

    x = logits.movedim(dim, 1) if logits.dim() > 1 else logits
    t = target.movedim(dim, 1) if target.is_floating_point() and target.dim() > 1 else target
    return F.cross_entropy(x, t, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")


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
        _logits_labels(label_smoothing=0.1, dim=-1), _class_extremes(label_smoothing=0.1), reference=_ref_cross_entropy,
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


def _pytorch_class_dim(input) -> int:
    """PyTorch's class dim: 1 for ``[N, C, d1, ...]``, 0 for an unbatched ``[C]``."""
    return 1 if isinstance(input, torch.Tensor) and input.dim() >= 2 else 0


def _rescale(loss: torch.Tensor, weight) -> torch.Tensor:
    """PyTorch's ``weight`` of the elementwise losses: broadcast to the loss, never the other way."""
    if weight is None:
        return loss
    check_floating("weight", weight)
    try:
        shape = torch.broadcast_shapes(weight.shape, loss.shape)
    except RuntimeError:
        shape = None
    if shape != loss.shape:
        raise ValueError(f"weight must broadcast to the input's shape {tuple(loss.shape)}; got {tuple(weight.shape)}")
    return loss * weight


# ---------------------------------------------------------------------------------
# PyTorch's names with PyTorch's arguments, order and layout (torch.nn.functional);
# cross_entropy and binary_cross_entropy_with_logits above already are PyTorch's.


@old_weight_keyword
def kl_div(
    input: torch.Tensor,
    target: torch.Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
    *,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``torch.nn.functional.kl_div``: the pointwise KL terms of :func:`kl_divergence`, PyTorch's reductions.

    .. math::

        \ell = t (\log t - x) \quad (0 \log 0 := 0), \qquad \ell = e^{t} (t - x) \text{ if log\_target}

    Elementwise, as PyTorch's: ``'none'`` returns the input's shape, ``'mean'`` is
    the mean over *elements*, ``'batchmean'`` the sum divided by ``input.size(0)``
    (the true KL per distribution, which :func:`kl_divergence` gives directly).

    Args:
        input: log-probabilities ``[...]``, floating.
        target: probabilities (or log-probabilities with ``log_target``), same shape.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'batchmean'`` | ``'mean'`` | ``'sum'``.
        log_target: whether ``target`` is in log space.
        sample_weight: losslab's extra: per-element weights ``[...]`` (not with ``'batchmean'``).

    Returns:
        the input's shape for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> q, p = torch.log_softmax(torch.tensor([[1.0, 0.0, -1.0]]), -1), torch.tensor([[0.5, 0.5, 0.0]])
        >>> torch.allclose(ll.kl_div(q, p, reduction="batchmean"), F.kl_div(q, p, reduction="batchmean"))
        True

    Reference: Kullback & Leibler, "On Information and Sufficiency", 1951.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_choice("reduction", reduction, ("none", "batchmean", "mean", "sum"))
    check_floating("input", input)
    check_floating("target", target)
    check_same_shape("input", input, "target", target)
    # each element is a one-point "distribution": kl_divergence's sum over it is the term itself
    pointwise = kl_divergence(input.unsqueeze(-1), target.unsqueeze(-1), log_target=log_target, reduction="none")
    if reduction != "batchmean":
        return _reduce(pointwise, reduction, sample_weight)
    if sample_weight is not None:
        raise ValueError(
            "sample_weight is not supported with reduction='batchmean' (its denominator is the batch size); "
            "use kl_divergence(..., sample_weight=w) for per-distribution weights"
        )
    total = pointwise.sum()
    return total / input.shape[0] if input.dim() > 0 else total


def multi_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    *,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``torch.nn.functional.multi_margin_loss``: :func:`multiclass_hinge` (Weston–Watkins) divided by ``C``.

    .. math::

        \ell_i = \frac{w_{y_i}}{C} \sum_{k \ne y_i} \max(0,\ m - x_{i y_i} + x_{ik})^p

    Args:
        input: scores ``[N, C]`` or ``[C]``, floating.
        target: integer labels ``[N]`` (or ``[]``) in ``[0, C)``.
        p: 1 or 2.
        margin: ``m ≥ 0``.
        weight: optional class weights ``[C]`` (PyTorch's: they scale the loss, not the mean's denominator).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-example weights ``[N]``.

    Returns:
        ``[N]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> s, y = torch.tensor([[3.0, 2.5, -1.0]]), torch.tensor([0])
        >>> torch.allclose(ll.multi_margin_loss(s, y), F.multi_margin_loss(s, y))
        True

    Reference: Weston & Watkins, "Support vector machines for multi-class pattern recognition", 1999.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction)
    check_floating("input", input)
    if input.dim() > 2:
        raise ValueError(f"input must have shape [N, C] or [C]; got {tuple(input.shape)}")
    if input.dim() == 1 and isinstance(target, torch.Tensor) and target.dim() == 1:
        input = input.unsqueeze(0)  # PyTorch reads a [C] input with a [1] target as a batch of one
    dim = _pytorch_class_dim(input)
    per = multiclass_hinge(input, target, margin=margin, p=p, dim=dim, reduction="none") / input.shape[dim]
    cw = check_class_weight(weight, input.shape[dim], per, "weight")
    if cw is not None:
        per = per * cw[target.long()]
    return _reduce(per, reduction, sample_weight)


@old_weight_keyword
def margin_ranking_loss(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    *,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``torch.nn.functional.margin_ranking_loss``: :func:`hinge` on the difference ``x_1 − x_2``.

    .. math::

        \ell = \max(0,\ m - y\,(x_1 - x_2))

    Args:
        input1, input2: scores ``[...]``, floating, same shape.
        target: ``[...]`` in ``{-1, +1}`` (``+1``: ``input1`` should rank higher).
        margin: ``m ≥ 0``.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-pair weights ``[...]``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> a, b, y = torch.tensor([1.0, 0.2]), torch.tensor([0.5, 0.4]), torch.tensor([1.0, 1.0])
        >>> torch.allclose(ll.margin_ranking_loss(a, b, y, margin=0.3), F.margin_ranking_loss(a, b, y, margin=0.3))
        True

    Reference: Herbrich, Graepel & Obermayer, "Large margin rank boundaries for ordinal regression", 2000.
    """
    check_floating("input1", input1)
    check_floating("input2", input2)
    check_same_shape("input1", input1, "input2", input2)
    return hinge(input1 - input2, target, margin=margin, sample_weight=sample_weight,
                 reduction=legacy_reduction(size_average, reduce, reduction))


@old_weight_keyword
def soft_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    *,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``torch.nn.functional.soft_margin_loss``: the logistic loss on ``±1`` labels,
    :func:`binary_cross_entropy_with_logits` of the ``0/1`` labels ``(y + 1)/2``.

    .. math::

        \ell = \log(1 + e^{-y x}) = \mathrm{softplus}(-y\,x)

    Args:
        input: scores ``[...]``, floating.
        target: ``[...]`` in ``{-1, +1}``.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-element weights ``[...]``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, y = torch.tensor([2.0, -0.5]), torch.tensor([1.0, 1.0])
        >>> torch.allclose(ll.soft_margin_loss(x, y), F.soft_margin_loss(x, y))
        True

    Reference: Cox, "The regression analysis of binary sequences", 1958.
    """
    check_floating("input", input)
    input, target = promote_floating(input, target)
    y = _pm1_target(target, input)
    return binary_cross_entropy_with_logits(input, (y + 1) / 2, sample_weight=sample_weight,
                                            reduction=legacy_reduction(size_average, reduce, reduction))


def _smoothing_share(x: torch.Tensor) -> torch.Tensor:
    """Label smoothing's uniform ``1/K`` per class, spread over the classes whose logit is not
    -inf: a -inf logit masks its class (as removing it would), it does not make the loss inf."""
    valid = x != -math.inf
    return valid.to(x.dtype) / valid.sum(-1, keepdim=True).clamp_min(1).to(x.dtype)


def _focal_log_1m_pt(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``log(1 − p_t) = log(t σ(−x) + (1 − t) σ(x))`` in log space (finite at logits ±1e4), with a
    target on the boundary {0, 1} handled exactly.

    ``log t`` and ``log(1 − t)`` are taken only where they are finite (``-inf`` is selected in
    otherwise), so no ``0·inf`` reaches the backward pass. Selecting drops the target derivative of
    that branch, ``σ(∓x)/(1 − p_t) = e^{∓x}`` at ``t = 0`` / ``t = 1``; it is put back by a term
    that is exactly 0 in value and has that derivative in ``t`` (its ``x`` derivative is 0 there).
    """
    from ._numerics import EXP_CAP

    zero, one = t == 0, t == 1
    ninf = torch.full_like(t, -math.inf)
    log_t = torch.where(zero, ninf, torch.log(torch.where(zero, torch.ones_like(t), t)))
    log_1mt = torch.where(one, ninf, torch.log1p(-torch.where(one, torch.zeros_like(t), t)))
    out = torch.logaddexp(log_t - softplus(x), log_1mt - softplus(-x))
    if t.requires_grad:
        cap = torch.exp(torch.clamp(-x.detach(), max=EXP_CAP))
        out = out + torch.where(zero, t * cap, torch.zeros_like(t))
        cap = torch.exp(torch.clamp(x.detach(), max=EXP_CAP))
        out = out + torch.where(one, (1 - t) * cap, torch.zeros_like(t))
    return out


def _cross_entropy_fused(logits, target, x, dim, ignore_index, eps, sample_weight, reduction, cw=None):
    """:func:`cross_entropy` through the fused kernel: the same checks and reductions (class weights
    ``cw``: the weighted kernel, and the mean over ``Σ w_{y_i}`` as in the reference)."""
    def per_example(t):
        if cw is None:
            return kernels.cross_entropy(x, t, ignore_index, eps)
        return kernels.cross_entropy_weighted(x, t, cw, ignore_index, eps)

    if isinstance(target, torch.Tensor) and target.is_floating_point():
        check_same_shape("input", logits, "target", target)
        t = target.movedim(check_dim("dim", dim, logits), -1)
        check_at_least("target", t, 0.0)
        return _reduce(per_example(t), reduction, sample_weight)
    y = _labels(target, x, ignore_index)
    loss = per_example(y)
    valid = y != ignore_index
    denom = valid.to(x.dtype) if cw is None else valid.to(x.dtype) * cw[torch.where(valid, y, torch.zeros_like(y))]
    return reduce_with_denominator(loss, reduction, sample_weight, denom)


class _WestonWatkins(torch.autograd.Function):
    """``Σ_{k≠y} max(0, m − s_y + s_k)^p`` along the last dim with one ``[..., K]`` buffer.

    Autograd through the expression kept the violations, a masked copy, the clamp's input
    and a scattered gradient of the gathered ``s_y`` (3.25× the memory of
    ``F.multi_margin_loss``). Here the forward keeps a boolean of the active classes (p = 1)
    or the clamped violations (p = 2), and the backward forms the gradient in one buffer:
    ``g·1[m − s_y + s_k ≥ 0]`` (p = 1; ``≥`` as the clamp's subgradient, ties included) or
    ``2g·max(0, ·)`` (p = 2) at ``k ≠ y``, and minus their row sum at ``y``.
    """

    @staticmethod
    def forward(ctx, x, idx, m, p):
        v = torch.add(x, m - x.gather(-1, idx))  # (m − s_y) + s_k, as the former expression
        if p == 1:
            active = v >= 0
            active.scatter_(-1, idx, False)
            ctx.save_for_backward(active, idx)
        v.clamp_min_(0).scatter_(-1, idx, 0.0)
        if p == 2:
            ctx.save_for_backward(v, idx)
            loss = (v * v).sum(-1)
        else:
            loss = v.sum(-1)
        ctx.p = p
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        saved, idx = ctx.saved_tensors
        g = grad_out.unsqueeze(-1)
        if ctx.p == 1:
            grad = torch.where(saved, g, g.new_zeros(()))
        else:
            grad = saved * g
            grad.add_(grad)  # 2·g·v as the product rule's g·v + g·v
        grad.scatter_(-1, idx, -grad.sum(-1, keepdim=True))
        return grad, None, None, None


class _KLRows(torch.autograd.Function):
    """``Σ_k t_k (log t_k − x_k)`` over the last dim with ``0·log 0 = 0`` and ``0·(±inf) = 0``,
    as ``xlogx(t) − mul_where_zero(t, x)`` gives, in one buffer: the elementwise formula made
    about ten full-size temporaries forward and as many backward; here the forward keeps one
    and the gradient is written directly (``∂/∂x = −t``; ``∂/∂t = log t + 1 − x`` for ``t > 0``,
    ``−x`` at ``t = 0`` where ``xlogx`` has the finite stand-in 0, with an infinite ``x`` read
    as 0 there). Its backward is made of differentiable ops, so double backward works."""

    @staticmethod
    def forward(ctx, x, t):
        val = torch.special.xlogy(t, t)
        val.addcmul_(t, x, value=-1)
        rows = val.sum(-1)
        # 0·(±inf) gave NaN: zero those terms. On the CPU a look at the row sums costs
        # nothing (no device sync), so the full-size masks are formed only if a row is NaN.
        if x.device.type != "cpu" or bool(torch.isnan(rows).any()):
            zero_inf = torch.isinf(x)
            zero_inf &= t == 0
            rows = val.masked_fill_(zero_inf, 0).sum(-1)
        ctx.save_for_backward(x, t)
        return rows

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        g = g.unsqueeze(-1)
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = (t * g).neg_()
        if ctx.needs_input_grad[1]:
            pos = t > 0
            x_safe = x.masked_fill(~pos & torch.isinf(x), 0)
            gt = (torch.where(pos, torch.log(torch.where(pos, t, torch.ones_like(t))) + 1, torch.zeros_like(t)) - x_safe) * g
        return gx, gt


def _fused_hinge(scores, target, m: float, squared: bool, impl, sample_weight, reduction):
    """:func:`hinge` (or :func:`squared_hinge`) on the kernel, or ``None`` where ``impl`` resolves
    to the reference. Same checks in the same order as the reference, the ±1 check folded into
    the kernel's pass (its flag read after the pass; the elementwise check reruns for the message)."""
    if not isinstance(target, torch.Tensor):
        return None  # the reference raises the TypeError
    name = "squared_hinge" if squared else "hinge"
    fused, _ = kernels.use_fused(name, impl, scores, not target.requires_grad)
    if not fused:
        return None
    check_target_shape("target", target, scores.shape, "the shape of scores")
    y = target if target.dtype in (torch.int64, scores.dtype) else target.to(scores.dtype)
    check = value_checks_enabled(target)
    sum_only = sample_weight is None and reduction in ("mean", "sum")
    loss, bad = kernels.hinge(scores, y, m, squared, check, sum_only)
    if check and bool(bad):
        check_values_in("target", target, (-1, 1), " (use 2*y - 1 for 0/1 labels)")
    if not sum_only:
        return _reduce(loss, reduction, sample_weight)
    n = scores.numel()
    return loss / n if reduction == "mean" and n > 0 else loss
