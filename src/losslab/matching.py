"""Selective matching losses (seed 000: Shamir & Warmuth, *Selective Matching Losses*).

A matching loss is the Bregman divergence of the primitive ``H`` of a link ``h``
(eq. 1-2); its gradient is ``h(ŝ) − h(s)``. Composite Sigmoid and composite
Softmax (Sections 3-5, Appendix C) build ``H`` from a *scaling* ``q`` with
primitive ``Q``, adding ranking sensitivity in the multi-class case.

The gradients are supplied analytically (custom autograd): exact even where the
value comes from quadrature, finite where differentiating the value formula
would overflow, and -- for :func:`composite_softmax_loss` -- one ``[B, K]``
tensor kept for backward instead of autograd's chain of temporaries.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import registry
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import (
    old_weight_keyword,
    check_dim,
    check_floating,
    check_positive,
    check_same_shape,
    check_reduction,
)
from ._validate import promote_floating
from ._validate import check_bool
from .links import Link, custom as _custom_link
from . import kernels

__all__ = [
    "matching_loss",
    "composite_sigmoid",
    "composite_sigmoid_link",
    "composite_sigmoid_loss",
    "composite_softmax",
    "composite_softmax_link",
    "composite_softmax_loss",
    "decomposed_matching_loss",
]


def _check_link(name: str, link) -> Link:
    if not isinstance(link, Link):
        raise TypeError(f"{name} must be a losslab.links.Link (e.g. links.sigmoid()), got {type(link).__name__}")
    return link


def _check_pair(pred, target) -> None:
    check_floating("pred", pred)
    check_floating("target", target)
    check_same_shape("pred", pred, "target", target)


# ---------------------------------------------------------------------------------
# Scalar matching loss, eq. (1)-(2)


class _MatchingLoss(torch.autograd.Function):
    """Elementwise ``D_H(ŝ, s)`` with gradient ``h(ŝ) − h(s)`` (eq. 1) and ``−(ŝ−s) h'(s)`` for ``s``."""

    @staticmethod
    def forward(pred, target, link):
        return link.bregman(pred, target)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pred, target, link = inputs
        ctx.link = link
        ctx.save_for_backward(pred, target)

    @staticmethod
    def backward(ctx, grad_out):
        pred, target = ctx.saved_tensors
        link = ctx.link
        grad_pred = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_pred = grad_out * (link(pred) - link(target))
        if ctx.needs_input_grad[1]:
            grad_target = -grad_out * (pred - target) * link.derivative(target)
        return grad_pred, grad_target, None


@old_weight_keyword
def matching_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    link: Link,
    *,
    sample_weight: torch.Tensor | None = None,
    impl: str = "auto",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Selective matching loss of a link: the Bregman divergence of its primitive (seed 000, eq. 2).

    .. math::

        \mathcal{L}_m(\hat s, s) = \int_s^{\hat s} [h(z) - h(s)]\,dz
          = H(\hat s) - H(s) - (\hat s - s)\, h(s),
        \qquad \frac{\partial \mathcal{L}_m}{\partial \hat s} = h(\hat s) - h(s) \quad \text{(eq. 1)}

    Elementwise over any shape. A link without a closed-form primitive (``links.custom(f)``)
    gets its value by Gauss–Legendre quadrature; the gradient is exact either way.
    ``h'(z)`` is the local sensitivity (Appendix B): steep link regions are where the
    loss is selective.

    Args:
        pred: predicted scores ``ŝ``, any shape ``[...]``, floating.
        target: observed scores ``s``, same shape and dtype as ``pred`` (may require grad).
        link: a :class:`losslab.links.Link`.
        sample_weight: optional per-element weights, shape ``[...]``.
        impl: ``'auto'`` (the fused kernel of :mod:`losslab.kernels` for every link of
            :mod:`losslab.links` with a closed-form primitive, in float32/float64 on CPU, else the
            reference), ``'reference'`` or ``'fused'`` (the kernel, or a ``ValueError`` saying why
            it cannot run).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s_hat = torch.tensor([0.0, 2.0], requires_grad=True)
        >>> s = torch.tensor([1.0, 1.0])
        >>> h = ll.links.sigmoid(beta=1.0)            # high-score emphasis around 1
        >>> loss = ll.matching_loss(s_hat, s, h, reduction="sum")
        >>> loss.backward()
        >>> torch.allclose(s_hat.grad, h(s_hat) - h(s))   # eq. (1)
        True

    Reference: Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are Created Equal", 2025.
    """
    pred, target = promote_floating(pred, target)
    _check_pair(pred, target)
    _check_link("link", link)
    check_reduction(reduction)
    # impl is checked first: impl='fused' on a link no kernel covers (no primitive) raises
    fused, spec = kernels.use_fused("matching_loss", impl, pred, link)
    if not link.has_primitive and link.g_divergence is None:
        return _quadrature_matching_loss(pred, target, link, sample_weight, reduction)
    if fused:
        kernels.check_link_domain(link, pred, target)
    if fused and sample_weight is None and reduction != "none":
        # The kernel sums in the same pass: no per-element loss tensor is stored.
        total = kernels.matching_link(pred, target, spec, sum_only=True)
        return total if reduction == "sum" or pred.numel() == 0 else total / pred.numel()
    if fused:
        loss = kernels.matching_link(pred, target, spec)
    else:
        loss = _MatchingLoss.apply(pred, target, link)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def decomposed_matching_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    link: Link,
    *,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multi-class matching loss with a diagonal Hessian: per-class scalar losses summed (eq. 28).

    .. math::

        \mathcal{L}_{m,d}(\hat{\mathbf s}, \mathbf s) = \sum_{k=1}^K
          \{H(\hat s_k) - H(s_k) - (\hat s_k - s_k)\, h(s_k)\}

    The way to low-norm sensitivity in the multi-class case (Table 1); it has region
    but no ranking sensitivity.

    Args:
        pred: predicted scores ``[..., K, ...]``; ``dim`` is the class dim.
        target: observed scores, same shape.
        link: a :class:`losslab.links.Link`.
        dim: the class dimension summed over.
        sample_weight: optional per-example weights, shape of ``pred`` without ``dim``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``pred`` shape without ``dim`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s_hat, s = torch.zeros(2, 3), torch.tensor([[3.0, 0.0, -3.0], [0.0, 0.0, 0.0]])
        >>> ll.decomposed_matching_loss(s_hat, s, ll.links.sigmoid(), reduction="none").shape
        torch.Size([2])
    """
    pred, target = promote_floating(pred, target)
    _check_pair(pred, target)
    _check_link("link", link)
    check_reduction(reduction)
    dim = check_dim("dim", dim, pred)
    fused, spec = kernels.use_fused("matching_loss", "auto", pred, link) if link.has_primitive else (False, None)
    if fused:
        kernels.check_link_domain(link, pred, target)
        if sample_weight is None and reduction != "none":
            # The mean of per-row sums is the total over all elements divided by the number of
            # rows: the fused kernel sums in its pass, and no per-element tensor is stored.
            total = kernels.matching_link(pred, target, spec, sum_only=True)
            rows = math.prod(pred.shape[:dim] + pred.shape[dim + 1:]) if pred.dim() else 1
            return total if reduction == "sum" or rows == 0 else total / rows
        loss = kernels.matching_link(pred, target, spec).sum(dim)
    else:
        loss = _MatchingLoss.apply(pred, target, link).sum(dim)
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Composite Sigmoid, eq. (22)-(25) with γ as in (G.1)


def composite_sigmoid(z: torch.Tensor, scaling: Link, *, gamma: float = 1.0) -> torch.Tensor:
    r"""Composite Sigmoid ``p(z) = σ(Q(z)/γ)`` of a scaling ``q`` with primitive ``Q`` (eq. 22, G.1).

    .. math:: p(z) = \frac{1}{1 + e^{-Q(z)/\gamma}}

    Args:
        z: scores, any shape.
        scaling: the scaling function ``q`` as a :class:`~losslab.links.Link` (its primitive is ``Q``).
        gamma: regularisation ``γ > 0`` (eq. G.1); 1 gives eq. (22).

    Returns:
        Probabilities of ``z``'s shape.

    Example:
        >>> import torch, losslab as ll
        >>> ll.composite_sigmoid(torch.tensor([0.0, 2.0]), ll.links.identity())   # σ(z²/2)
        tensor([0.5000, 0.8808])
    """
    check_floating("z", z)
    _check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    check_hyper_magnitude("gamma", check_hyper_magnitude("gamma", gamma, z), z, reciprocal=True)
    return torch.sigmoid(scaling.primitive(z) / gamma)


def composite_sigmoid_link(scaling: Link, gamma: float = 1.0) -> Link:
    r"""The link ``h = q·p`` of a composite Sigmoid (eq. 22), as a :class:`Link` usable anywhere.

    Primitive ``H = γ·softplus(Q/γ)`` (eq. G.1); derivative (sensitivity, eq. B.1 with γ):

    .. math:: h'(z) = p(z)\,\{q'(z) + \tfrac{1}{\gamma}[1 - p(z)]\, q(z)^2\}
    """
    _check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    q = scaling

    def h(z):
        return q(z) * torch.sigmoid(q.primitive(z) / gamma)

    def h_prime(z):
        # p q' + p (1 - p) q² / γ, the second term in log space: q² alone overflows
        # float32 for a capped exp/cosh scaling (e^100) while p (1 - p) underflows to 0.
        Qg = q.primitive(z) / gamma
        qz = q(z)
        log_pq2 = 2 * torch.log(qz.abs()) + F.logsigmoid(Qg) + F.logsigmoid(-Qg)
        return torch.sigmoid(Qg) * q.derivative(z) + torch.exp(log_pq2) / gamma

    def H(z):
        return gamma * torch.nn.functional.softplus(q.primitive(z) / gamma)

    return _custom_link(h, h_prime, H, name=f"composite_sigmoid[{q.name}, gamma={gamma:g}]", monotone=q.monotone)


@old_weight_keyword
def composite_sigmoid_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    scaling: Link,
    *,
    gamma: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    impl: str = "auto",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Amplified scalar selective matching loss of a composite Sigmoid (eq. 24, with γ of eq. G.1).

    .. math::

        \mathcal{L}_m(\hat s, s) = \gamma\log(1 + e^{Q(\hat s)/\gamma}) - \gamma\log(1 + e^{Q(s)/\gamma})
          - (\hat s - s)\, q(s)\, p(s),
        \qquad g_m = q(\hat s)p(\hat s) - q(s)p(s) \quad \text{(eq. 25)}

    Convex when ``q`` is non-decreasing (Thm 3), or more generally when (G.2) holds;
    :func:`losslab.analysis.check_convexity` tests a design.

    Args:
        pred: predicted scores ``ŝ``, any shape.
        target: observed scores ``s``, same shape and dtype.
        scaling: the scaling function ``q`` (its primitive is ``Q``).
        gamma: regularisation ``γ > 0``.
        sample_weight: optional per-element weights.
        impl: ``'auto'`` (the fused kernel of :mod:`losslab.kernels` for every scaling of
            :mod:`losslab.links` with a closed-form primitive defined on all reals -- ``identity``,
            ``exp``, ``anti_exp``, ``sinh``, ``cosh``, ``tanh``, ``sigmoid``, ``huber``, ... -- in
            float32/float64 on CPU, else the reference), ``'reference'`` or ``'fused'`` (the kernel,
            or a ``ValueError`` saying why it cannot run).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> q = ll.links.tanh()                      # symmetric low-norm loss (Section 4)
        >>> a = ll.composite_sigmoid_loss(torch.tensor([1.0]), torch.tensor([0.0]), q)
        >>> b = ll.composite_sigmoid_loss(torch.tensor([-1.0]), torch.tensor([0.0]), q)
        >>> torch.allclose(a, b)
        True
    """
    pred, target = promote_floating(pred, target)
    _check_pair(pred, target)
    _check_link("scaling", scaling)
    g = check_hyper_magnitude("gamma", check_positive("gamma", gamma), pred)
    check_hyper_magnitude("gamma", g, pred, reciprocal=True)
    check_reduction(reduction)
    fused, spec = kernels.use_fused("composite_sigmoid_loss", impl, pred, scaling)
    if fused and sample_weight is None and reduction != "none":
        # The kernel sums in the same pass: no per-element loss tensor is stored.
        total = kernels.composite_sigmoid(pred, target, spec, g, sum_only=True)
        return total if reduction == "sum" or pred.numel() == 0 else total / pred.numel()
    if fused:
        return _reduce(kernels.composite_sigmoid(pred, target, spec, g), reduction, sample_weight)
    return matching_loss(pred, target, composite_sigmoid_link(scaling, gamma), sample_weight=sample_weight,
                         impl="reference", reduction=reduction)


# ---------------------------------------------------------------------------------
# Composite Softmax, eq. (16)-(18), (29)-(30) with γ as in (C.3)-(C.6)


def composite_softmax(scores: torch.Tensor, scaling: Link, *, gamma: float = 1.0, dim: int = -1) -> torch.Tensor:
    r"""Composite Softmax ``p_k = e^{Q(z_k)/γ} / Σ_j e^{Q(z_j)/γ}`` (eq. 16, C.3).

    Args:
        scores: ``[..., K]`` scores (``dim`` is the class dim).
        scaling: the scaling function ``q`` (its primitive is the log-score-transform ``Q``).
        gamma: regularisation ``γ > 0``.
        dim: the class dimension.

    Returns:
        Probabilities of ``scores``' shape, summing to one along ``dim``.

    Example:
        >>> import torch, losslab as ll
        >>> z = torch.tensor([1.0, 2.0, 3.0])
        >>> torch.allclose(ll.composite_softmax(z, ll.links.identity()), torch.softmax(z**2/2, -1))
        True
    """
    check_floating("scores", scores)
    _check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    check_hyper_magnitude("gamma", check_hyper_magnitude("gamma", gamma, scores), scores, reciprocal=True)
    dim = check_dim("dim", dim, scores)
    return torch.softmax(scaling.primitive(scores) / gamma, dim)


def _scaling_terms(q: Link, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``q(z)`` and ``Q(z)·α`` sharing ``x = α(z−β)``, its clamp and ``g(x)``.

    Returns ``(q(z), α·Q(z), fresh)``; ``fresh`` says the second tensor is a new buffer that
    may be written in place. Same values as ``q(z)``, ``q.primitive(z)·α``, in fewer passes:
    ``x`` is formed and clamped once, ``g(x)`` is reused as ``G(x)`` when they are the same
    function (``exp``), and the linear continuation past a cap is skipped when nothing is capped.
    """
    x = q.x(z)
    q._check_domain(x)
    xc = q._clamp(x)
    gx = q.g(xc)
    if q.g_primitive is q.g:
        G, fresh = gx, False
    else:
        G = q._base_primitive(xc)
        fresh = G is not gx and G is not xc and G is not x and G is not z
    if xc is not x and not torch.equal(xc, x):
        # Past the cap g is constant and G continues linearly (see Link.primitive).
        G, fresh = G + gx * (x - xc), True
    return gx, G, fresh


def _log_partition_and_link(z: torch.Tensor, q: Link, gamma: float, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``H(z) = γ·logsumexp(Q(z)/γ)`` (C.4), ``p(z)`` (C.3) and ``q(z)``.

    One ``exp`` pass for both ``H`` and ``p`` (max-shift, exponentiate in place, normalise in
    place), instead of ``logsumexp`` followed by ``exp(logits − lse)``.
    """
    qz, G, fresh = _scaling_terms(q, z)
    scale = 1.0 / (q.alpha * gamma)
    logits = G.mul_(scale) if fresh else G * scale
    m = logits.amax(dim, keepdim=True)
    # As torch.logsumexp: an infinite max is not subtracted (keeps +inf rows +inf, -inf rows finite).
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = logits.sub_(m).exp_()
    total = p.sum(dim, keepdim=True)
    p.div_(total)  # max-shifted: no overflow
    lse = total.log_().add_(m)
    return lse.squeeze(dim).mul_(gamma), p, qz


# Elements per chunk in composite_softmax_loss's forward: bounds the [rows, K]
# temporaries (about five of them per chunk) so that peak memory is ~ one extra
# [B, K] tensor (the saved gradient). 2^16 float32 elements = 256 KB per temporary
# keeps a chunk's working set in L2: measured 4.3x faster than 2^20 (4 MB, 16.3 s ->
# 3.8 s per pass at 1024x32768, one thread), while 2^14 (one row per chunk) was slower.
_CHUNK_ELEMENTS = 1 << 16


class _CompositeSoftmaxLoss(torch.autograd.Function):
    """Eq. (29) with the analytic gradient (30): saves one ``[B, K]`` tensor for backward."""

    @staticmethod
    def forward(ctx, pred, target, q, gamma, dim):
        need_pred_grad = ctx.needs_input_grad[0]
        need_target_grad = ctx.needs_input_grad[1]
        pred_m = pred.movedim(dim, -1)
        target_m = target.movedim(dim, -1)
        batch_shape = pred_m.shape[:-1]
        K = pred_m.shape[-1]
        flat_pred = pred_m.reshape(-1, K)
        flat_target = target_m.reshape(-1, K)
        rows = flat_pred.shape[0]
        loss = flat_pred.new_empty(rows)
        grad = torch.empty_like(flat_pred, memory_format=torch.contiguous_format) if need_pred_grad else None
        step = max(1, _CHUNK_ELEMENTS // max(K, 1))
        for start in range(0, rows, step):
            sl = slice(start, start + step)
            zh, zs = flat_pred[sl], flat_target[sl]
            H_hat, p_hat, q_hat = _log_partition_and_link(zh, q, gamma, -1)
            H_s, p_s, q_s = _log_partition_and_link(zs, q, gamma, -1)
            h_s = p_s.mul_(q_s)  # q(s)·p(s), the target's link (C.5)
            lin = torch.sub(zh, zs).mul_(h_s).sum(-1)
            torch.sub(H_hat, H_s, out=loss[sl]).sub_(lin)
            if grad is not None:
                torch.mul(p_hat, q_hat, out=grad[sl]).sub_(h_s)  # eq. (30)
        ctx.dim, ctx.q, ctx.gamma = dim, q, gamma
        ctx.shape = pred_m.shape
        if need_target_grad:
            ctx.save_for_backward(grad, pred, target)
        else:
            ctx.save_for_backward(grad)
        return loss.reshape(batch_shape)

    @staticmethod
    def backward(ctx, grad_out):
        saved = ctx.saved_tensors
        grad_flat = saved[0]
        g = grad_out.reshape(-1, 1)
        grad_pred = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_pred = (grad_flat * g).reshape(ctx.shape).movedim(-1, ctx.dim)
        if ctx.needs_input_grad[1]:
            # ∂L/∂s = −∇²H(s)(ŝ − s); the Hessian-vector product from (B.2) with γ:
            # [∇²H δ]_j = p_j q'_j δ_j + (1/γ) p_j q_j (q_j δ_j − Σ_k p_k q_k δ_k).
            pred, target = saved[1], saved[2]
            q, gamma, dim = ctx.q, ctx.gamma, ctx.dim
            _, p, qs = _log_partition_and_link(target, q, gamma, dim)
            delta = pred - target
            pq = p * qs
            hvp = p * q.derivative(target) * delta + pq * (qs * delta - (pq * delta).sum(dim, keepdim=True)) / gamma
            grad_target = -grad_out.unsqueeze(dim) * hvp
        return grad_pred, grad_target, None, None, None


@old_weight_keyword
def composite_softmax_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    scaling: Link,
    *,
    gamma: float = 1.0,
    dim: int = -1,
    sample_weight: torch.Tensor | None = None,
    impl: str = "auto",
    reduction: str = "mean",
    inplace_backward: bool = False,
) -> torch.Tensor:
    r"""Multi-class selective matching loss of a composite Softmax (eq. 29-30, with γ of C.3-C.5).

    .. math::

        \mathcal{L}_m(\hat{\mathbf s}, \mathbf s) = H(\hat{\mathbf s}) - H(\mathbf s)
          - \sum_{k=1}^K (\hat s_k - s_k)\, q(s_k)\, p_k(\mathbf s),
        \qquad H(\mathbf z) = \gamma \log \sum_k e^{Q(z_k)/\gamma}

    with gradient ``q(ŝ_k) p_k(ŝ) − q(s_k) p_k(s)`` (eq. 30). The scaling ``q`` sets region
    sensitivity, the composite Softmax ``p_k`` ranking sensitivity (Table 1): e.g.
    ``q = links.exp()`` for high scores, ``links.sinh()`` for high norms. Convex when ``q``
    is non-decreasing (Thm 4). The backward keeps one ``[..., K]`` tensor.

    Args:
        pred: predicted scores ``[..., K]`` (``dim`` is the class dim), floating.
        target: observed scores ``s``, same shape and dtype (may require grad, e.g. a teacher).
        scaling: the scaling function ``q`` as a :class:`~losslab.links.Link`.
        gamma: regularisation ``γ > 0``.
        dim: the class dimension.
        sample_weight: optional per-example weights, shape of ``pred`` without ``dim``.
        impl: ``'auto'`` (the fused CPU kernel of :mod:`losslab.kernels` where it exists for
            the device, dtype and scaling, else the reference), ``'reference'`` (pure PyTorch)
            or ``'fused'`` (the kernel, or a ``ValueError`` saying why it cannot run).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        inplace_backward: **destroys** ``pred``: the fused kernel writes the gradient over
            ``pred``'s values in the forward, so forward + backward allocate no ``[..., K]``
            tensor (as Liger-Kernel does). For logits that are an intermediate result (an output
            layer's): ``pred`` must require grad, not be a leaf (its ``.grad`` would share its
            memory), be contiguous with the classes in the last dim, and ``target`` must not require
            grad; an op before it that saved ``pred`` for its own backward makes that backward raise
            autograd's "modified by an inplace operation" error. A second backward needs
            ``inplace_backward=False``. Applies where the fused CPU kernel runs outside
            ``torch.compile``; elsewhere (``impl='auto'`` falling back, CUDA, compiling) ``pred`` is
            left intact and the gradient is a new tensor. ``impl='reference'`` rejects it.

    Returns:
        ``pred`` shape without ``dim`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s = torch.tensor([[3.0, 0.0, -3.0]])
        >>> s_hat = torch.zeros(1, 3, requires_grad=True)
        >>> q = ll.links.exp(alpha=1.0)                     # high-score sensitivity
        >>> ll.composite_softmax_loss(s_hat, s, q).backward()
        >>> p = lambda z: ll.composite_softmax(z, q)
        >>> torch.allclose(s_hat.grad, q(s_hat) * p(s_hat) - q(s) * p(s))   # eq. (30)
        True
    """
    pred, target = promote_floating(pred, target)
    _check_pair(pred, target)
    _check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    check_hyper_magnitude("gamma", check_hyper_magnitude("gamma", gamma, pred), pred, reciprocal=True)
    check_reduction(reduction)
    if pred.dim() == 0:
        raise ValueError("pred must have a class dimension; got a 0-dim tensor")
    dim = check_dim("dim", dim, pred)
    fused, spec = kernels.use_fused("composite_softmax_loss", impl, pred, scaling)
    inplace = check_bool("inplace_backward", inplace_backward) and kernels.inplace_applies(impl, pred, target, dim)
    if fused and pred.shape[dim] > 0:
        loss = kernels.composite_softmax_loss(pred, target, spec, gamma, dim, inplace=inplace)
    else:
        loss = _CompositeSoftmaxLoss.apply(pred, target, scaling, gamma, dim)
    return _reduce(loss, reduction, sample_weight)


def composite_softmax_link(scores: torch.Tensor, scaling: Link, *, gamma: float = 1.0, dim: int = -1) -> torch.Tensor:
    """The multi-class link ``h_k(z) = q(z_k) p_k(z)`` (eq. 18, C.5)."""
    p = composite_softmax(scores, scaling, gamma=gamma, dim=dim)  # validates the arguments first
    return scaling(scores) * p


# ---------------------------------------------------------------------------------
# Registry specs


def _scalar_sample(link_factory):
    def sample(batch_shape, *, dtype, generator):
        pred = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
        target = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
        return registry.Sample((pred, target, link_factory()), none_shape=tuple(batch_shape), grad_argnums=(0, 1))

    return sample


def _scalar_extremes(link_factory):
    def extremes(dtype):
        big = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0], dtype=dtype)
        tgt = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4], dtype=dtype)
        return [registry.Sample((big, tgt, link_factory()), none_shape=(7,), grad_argnums=(0, 1))]

    return extremes


def _class_sample(link_factory, K=5, **kw):
    def sample(batch_shape, *, dtype, generator):
        shape = tuple(batch_shape) + (K,)
        pred = registry.randn(shape, dtype=dtype, generator=generator)
        target = registry.randn(shape, dtype=dtype, generator=generator)
        return registry.Sample((pred, target, link_factory()), kw, none_shape=tuple(batch_shape), grad_argnums=(0, 1))

    return sample


def _class_extremes(link_factory, **kw):
    def extremes(dtype):
        pred = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4]], dtype=dtype)
        target = torch.tensor([[-1e4, 1e4, 0.0], [1e4, 1e4, -1e4], [0.0, 0.0, 0.0]], dtype=dtype)
        return [registry.Sample((pred, target, link_factory()), kw, none_shape=(3,), grad_argnums=(0, 1))]

    return extremes


def _sinh_scaling():
    from . import links

    return links.sinh(alpha=0.5, cap=20.0)


def _exp_scaling():
    from . import links

    return links.exp(alpha=0.5, cap=20.0)


def _register() -> None:
    from . import links

    def _ref_matching(pred, target, link, **_):
        return link.primitive(pred) - link.primitive(target) - (pred - target) * link(target)

    registry.register(
        registry.LossSpec(
            name="matching_loss",
            fn=matching_loss,
            family="matching",
            domain="pred, target: any real scores (capped links keep |z| up to 1e4 finite)",
            sample=_scalar_sample(lambda: links.sigmoid(alpha=1.5, beta=0.5)),
            extremes=_scalar_extremes(lambda: links.sinh(alpha=1.0, cap=20.0)),
            reference=_ref_matching,
            compile_smoke=True,
            extreme_dtypes=(torch.float32, torch.bfloat16),
        )
    )
    registry.register(
        registry.LossSpec(
            name="composite_sigmoid_loss",
            fn=composite_sigmoid_loss,
            family="matching",
            domain="pred, target: any real scores; scaling capped for extremes",
            sample=_scalar_sample(lambda: links.exp(alpha=0.5, beta=-1.0)),
            extremes=_scalar_extremes(lambda: links.tanh()),
            reference=None,
        )
    )
    registry.register(
        registry.LossSpec(
            name="composite_softmax_loss",
            fn=composite_softmax_loss,
            family="matching",
            domain="pred, target: [..., K] real scores; capped scaling keeps |z| up to 1e4 finite",
            sample=_class_sample(_sinh_scaling),
            extremes=_class_extremes(_exp_scaling),
            compile_smoke=False,
            extreme_dtypes=(torch.float32, torch.bfloat16),
        )
    )
    registry.register(
        registry.LossSpec(
            name="decomposed_matching_loss",
            fn=decomposed_matching_loss,
            family="matching",
            domain="pred, target: [..., K] real scores",
            sample=_class_sample(lambda: links.sigmoid()),
            extremes=_class_extremes(lambda: links.sigmoid()),
        )
    )


_register()


# ---------------------------------------------------------------------------------
# Scalar matching loss of a link without a closed-form primitive (quadrature)

# Elements per chunk of the quadrature path: its temporaries are [chunk, QUADRATURE_NODES]
# (48 nodes: 3 MiB in float32), so memory does not grow with the input. Measured at 10^7
# elements, one thread: 2^12-2^14 cost 3.3-3.9x the closed form, 2^15 8x and 2^16 15x (the
# temporaries fall out of cache); 2^14 keeps the Python loop to ~600 iterations.
_QUADRATURE_CHUNK = 1 << 14


def _chunks(n: int):
    return ((i, min(i + _QUADRATURE_CHUNK, n)) for i in range(0, n, _QUADRATURE_CHUNK))


class _QuadratureMatchingLoss(torch.autograd.Function):
    """:class:`_MatchingLoss` for links whose value comes from quadrature, walked in chunks.

    All-at-once quadrature makes ``[numel, nodes]`` temporaries (~150× the input at 48
    nodes). Here forward evaluates ``link.bregman`` chunk by chunk and, for ``sum_only``,
    adds the chunk sums instead of storing the per-element loss; backward writes the exact
    gradient ``h(ŝ) − h(s)`` (and ``−(ŝ−s) h'(s)``) chunk by chunk into one output tensor.
    """

    @staticmethod
    def forward(pred, target, link, sum_only):
        p, t = pred.reshape(-1), target.reshape(-1)
        if sum_only:
            # Chunk sums accumulate in at least float32: a bf16 running total would round
            # at every chunk.
            total = pred.new_zeros((), dtype=torch.promote_types(pred.dtype, torch.float32))
            for i, j in _chunks(p.numel()):
                total += link.bregman(p[i:j], t[i:j]).sum()
            return total.to(pred.dtype)
        out = torch.empty_like(p)
        for i, j in _chunks(p.numel()):
            out[i:j] = link.bregman(p[i:j], t[i:j])
        return out.reshape(pred.shape)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pred, target, link, _ = inputs
        ctx.link = link
        ctx.save_for_backward(pred, target)

    @staticmethod
    def backward(ctx, grad_out):
        pred, target = ctx.saved_tensors
        link = ctx.link
        p, t = pred.reshape(-1), target.reshape(-1)
        go = grad_out.expand(pred.shape).reshape(-1)  # a view for a scalar (sum_only) grad
        grad_pred = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_pred = torch.empty_like(p)
            for i, j in _chunks(p.numel()):
                grad_pred[i:j] = go[i:j] * (link(p[i:j]) - link(t[i:j]))
            grad_pred = grad_pred.reshape(pred.shape)
        if ctx.needs_input_grad[1]:
            grad_target = torch.empty_like(t)
            for i, j in _chunks(t.numel()):
                grad_target[i:j] = -go[i:j] * (p[i:j] - t[i:j]) * link.derivative(t[i:j])
            grad_target = grad_target.reshape(target.shape)
        return grad_pred, grad_target, None, None


def _quadrature_matching_loss(pred, target, link, sample_weight, reduction):
    if sample_weight is None and reduction != "none":
        total = _QuadratureMatchingLoss.apply(pred, target, link, True)
        return total if reduction == "sum" or pred.numel() == 0 else total / pred.numel()
    return _reduce(_QuadratureMatchingLoss.apply(pred, target, link, False), reduction, sample_weight)
