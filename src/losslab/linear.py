"""Fused linear + loss: a loss of ``input @ linear_weight.T + linear_bias`` that never holds
the ``[N, K]`` logits.

An LLM's output layer maps ``N`` hidden states ``[N, d]`` to ``K`` vocabulary logits; at
``N = 4096`` and ``K = 131072`` the logits alone take 2 GB in float32, and autograd keeps
them, the softmax and the logits' gradient alive together. Here the rows are walked in
chunks: a chunk's logits are formed, its per-row losses and the logits' gradient are
computed at once in closed form (softmax − target for cross-entropy, eq. 30
``q(ŝ)p(ŝ) − q(s)p(s)`` of seed 000 for the composite Softmax), the gradient is folded into
the gradients of ``input``, ``linear_weight`` and ``linear_bias``, and the chunk is dropped.
The backward of ``'mean'``/``'sum'`` only scales those saved gradients by ``grad_output``;
``'none'`` (a per-row cotangent) recomputes chunk by chunk in the backward.

The same design as Liger-Kernel's fused linear cross-entropy, Apple's Cut Cross-Entropy
(which also avoids the chunk) and PyTorch's ``F.linear_cross_entropy``.
"""
from __future__ import annotations

import functools
import math

import torch
from torch.autograd.function import once_differentiable

from ._catalogue import check_at_least, check_class_weight
from ._numerics import mul_where_zero
from ._validate import (
    check_class_indices,
    check_floating,
    check_hyper_magnitude,
    check_integer,
    check_positive,
    check_reduction,
    check_finite_scalar,
    check_tensor,
    check_weight,
    promote_floating,
)
from . import kernels
from .links import Link

__all__ = ["linear_cross_entropy", "linear_composite_softmax_loss"]

# Elements of one chunk's logits when chunk_size is None: 2^25 = 128 MB in float32 (256 rows
# at K = 131072). With the fused steps a chunk's logits and their gradient share one buffer,
# against 2 GB for one [4096, 131072] logits tensor. Each chunk reads the weight twice and
# reads and writes its gradient once, so fewer, larger chunks mean less memory traffic and
# better-shaped matmuls: at B = 4096, d = 1024, K = 131072 (2 threads) 64-row chunks took
# 1.08x the materialised path's time, 256-row chunks 0.88x.
_CHUNK_ELEMENTS = 1 << 25


def _chunk_rows(chunk_size, N: int, K: int) -> int:
    if chunk_size is None:
        return max(1, min(N, _CHUNK_ELEMENTS // max(K, 1)))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive int (rows per chunk), got {chunk_size}")
    return chunk_size


# ---------------------------------------------------------------------------------
# One chunk: (logits [n, K], target rows) -> (loss [n], d loss.sum() / d logits [n, K]).
# `logits` is a scratch buffer owned by the caller (reused for the next chunk once the
# gradient has been used) and may be overwritten, also by the gradient itself. These are the only
# loss-specific code; a fused operator computing the same pair replaces one of them.


def _ce_chunk_loss_and_grad(logits, target, *, class_weight, ignore_index, label_smoothing, need_grad):
    """Cross-entropy rows and their logits' gradient ``(Σ_k c_k) softmax − c``, ``c_k = w_k t_k``
    (``t`` the one-hot or probability target, label-smoothed): ``softmax − t`` without class weights."""
    eps = label_smoothing
    K = logits.shape[-1]
    if target.is_floating_point():
        valid = None
        t = target
    else:
        valid = target != ignore_index
        y = torch.where(valid, target, torch.zeros_like(target)).unsqueeze(-1)
        # Ignored rows are zeroed before the softmax, so their logits (NaN padding) reach neither
        # the loss nor the gradient (as cross_entropy does).
        logits.masked_fill_(~valid.unsqueeze(-1), 0.0)
    logp = torch.log_softmax(logits, -1)
    del logits
    share = None
    if eps > 0:
        finite = logp != -math.inf  # a -inf logit masks its class: no smoothing mass on it
        share = finite.to(logp.dtype) / finite.sum(-1, keepdim=True).clamp_min(1).to(logp.dtype)
    wlogp = logp if class_weight is None else mul_where_zero(class_weight, logp)
    if valid is None:
        c = t if share is None else t * (1 - eps) + eps * share
        if class_weight is not None:
            c = c * class_weight
        loss = -mul_where_zero(c, logp).sum(-1)
    else:
        loss = -wlogp.gather(-1, y).squeeze(-1)
        if share is not None:
            loss = (1 - eps) * loss - eps * mul_where_zero(share, wlogp).sum(-1)
        loss = loss.masked_fill_(~valid, 0.0)
    if not need_grad:
        return loss, None
    p = logp.exp_()  # softmax, in place of the log-probabilities
    if valid is None:
        grad = p.mul_(c.sum(-1, keepdim=True)).sub_(c)
    else:
        w_y = torch.ones_like(loss) if class_weight is None else class_weight[y.squeeze(-1)]
        onehot_mass = (1 - eps) * w_y
        total = onehot_mass
        if share is not None:
            sw = share if class_weight is None else share * class_weight
            total = total + eps * sw.sum(-1)
            grad = p.mul_(total.unsqueeze(-1)).sub_(eps * sw)
        else:
            grad = p.mul_(total.unsqueeze(-1))
        grad.scatter_add_(-1, y, -onehot_mass.unsqueeze(-1))
        grad.masked_fill_(~valid.unsqueeze(-1), 0.0)
    return loss, grad


def _composite_chunk_loss_and_grad(logits, target, *, scaling, gamma, need_grad):
    """Composite Softmax matching loss rows (eq. 29, C.4-C.5) and the gradient
    ``q(ŝ)p(ŝ) − q(s)p(s)`` (eq. 30), as ``composite_softmax_loss`` computes them."""
    from .matching import _log_partition_and_link

    H_hat, p_hat, q_hat = _log_partition_and_link(logits, scaling, gamma, -1)
    H_s, p_s, q_s = _log_partition_and_link(target, scaling, gamma, -1)
    h_s = p_s.mul_(q_s)  # the target's link q(s)·p(s)
    loss = (H_hat - H_s).sub_(torch.sub(logits, target).mul_(h_s).sum(-1))
    if not need_grad:
        return loss, None
    return loss, p_hat.mul_(q_hat).sub_(h_s)


# ---------------------------------------------------------------------------------
# The chunked driver


def _walk(hidden, weight, bias, target, coeff, chunk_fn, rows, needs):
    """Loss rows ``[N]`` and, for the inputs in ``needs`` (hidden, weight, bias), the gradients of
    ``Σ_i coeff_i · loss_i`` (``coeff`` None: no gradients). Holds one chunk of logits at a time."""
    N = hidden.shape[0]
    loss = hidden.new_empty(N)
    want = coeff is not None
    g_hidden = torch.empty_like(hidden) if want and needs[0] else None
    g_weight = torch.zeros_like(weight) if want and needs[1] else None
    g_bias = torch.zeros_like(bias) if want and bias is not None and needs[2] else None
    # One [rows, K] buffer for every chunk's logits (and, where the chunk step writes it in
    # place, their gradient): allocated and first touched once, not once per chunk.
    z_buffer = hidden.new_empty((min(rows, N), weight.shape[0]))
    for start in range(0, N, rows):
        sl = slice(start, min(start + rows, N))
        h = hidden[sl]
        z = z_buffer[: h.shape[0]]
        if bias is None:
            torch.mm(h, weight.t(), out=z)
        else:
            torch.addmm(bias, h, weight.t(), out=z)
        loss_rows, g = chunk_fn(z, target[sl], need_grad=want)
        del z
        loss[sl] = loss_rows
        if not want:
            continue
        g = g.mul_(coeff[sl].unsqueeze(-1))
        if g_hidden is not None:
            torch.mm(g, weight, out=g_hidden[sl])
        if g_weight is not None:
            g_weight.addmm_(g.t(), h)
        if g_bias is not None:
            g_bias.add_(g.sum(0))
        del g
    return loss, g_hidden, g_weight, g_bias


class _LinearLoss(torch.autograd.Function):
    """Returns ``(total, rows)``: ``rows`` the per-row losses, ``total = Σ coeff_i rows_i``.

    With ``coeff`` (``'mean'``/``'sum'``) the forward computes the gradients of ``total`` and the
    backward scales them by ``grad_output`` in place and hands them over (``rows`` is then
    non-differentiable); a second backward (``retain_graph=True``) walks the chunks again. Without
    ``coeff`` (``'none'``) the forward only computes ``rows`` and the backward walks the chunks
    again with the per-row cotangent as ``coeff``.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, target, coeff, chunk_fn, rows):
        needs = ctx.needs_input_grad[:3]
        ctx.chunk_fn, ctx.rows = chunk_fn, rows
        rows_loss, gh, gw, gb = _walk(hidden, weight, bias, target, coeff if any(needs) else None,
                                      chunk_fn, rows, needs)
        # Held on ctx, not saved: the backward drops its reference before returning them, so
        # autograd takes them as .grad without a copy (a [K, d] copy is as large as the weight).
        ctx.precomputed = (gh, gw, gb) if coeff is not None else None
        if coeff is not None:
            total = (rows_loss * coeff).sum()
            ctx.mark_non_differentiable(rows_loss)
        else:
            total = rows_loss.sum()
        ctx.save_for_backward(hidden, weight, bias, target, coeff)
        return total, rows_loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_total, grad_rows):
        needs = ctx.needs_input_grad[:3]
        if ctx.precomputed is not None:
            grads, ctx.precomputed = ctx.precomputed, None
            return (*(None if g is None else g.mul_(grad_total) for g in grads), None, None, None, None)
        hidden, weight, bias, target, coeff = ctx.saved_tensors
        if coeff is not None:  # a second backward of 'mean'/'sum'
            coeff = coeff * grad_total
        else:
            coeff = grad_rows if grad_rows is not None else hidden.new_zeros(hidden.shape[0])
            if grad_total is not None:
                coeff = coeff + grad_total
        _, gh, gw, gb = _walk(hidden, weight, bias, target, coeff, ctx.chunk_fn, ctx.rows, needs)
        return gh, gw, gb, None, None, None, None


def _check_linear(input, linear_weight, linear_bias):
    check_floating("input", input)
    check_floating("linear_weight", linear_weight)
    if linear_weight.dim() != 2:
        raise ValueError(f"linear_weight must have shape [K, d] (nn.Linear's layout); got {tuple(linear_weight.shape)}")
    if input.dim() < 1 or input.shape[-1] != linear_weight.shape[1]:
        raise ValueError(
            f"input's last dim must equal linear_weight's in_features {linear_weight.shape[1]}; "
            f"got input of shape {tuple(input.shape)} and linear_weight of shape {tuple(linear_weight.shape)}"
        )
    if linear_bias is not None:
        check_floating("linear_bias", linear_bias)
        if linear_bias.shape != (linear_weight.shape[0],):
            raise ValueError(
                f"linear_bias must have shape ({linear_weight.shape[0]},) (linear_weight's out_features); "
                f"got {tuple(linear_bias.shape)}"
            )


def _run(input, linear_weight, linear_bias, target, chunk_fn, chunk_size, reduction, sample_weight, denom):
    """Flatten, walk, reduce. ``denom`` ``[N]`` is what ``'mean'`` divides by per row (None: 1)."""
    batch_shape = input.shape[:-1]
    d, K = input.shape[-1], linear_weight.shape[0]
    hidden = input.reshape(-1, d)
    if not torch.is_grad_enabled():  # Function.apply sees requires_grad even under no_grad: skip the gradients
        hidden, linear_weight = hidden.detach(), linear_weight.detach()
        linear_bias = None if linear_bias is None else linear_bias.detach()
    flat_target = target.reshape(hidden.shape[0], *target.shape[len(batch_shape):])
    N = hidden.shape[0]
    rows = _chunk_rows(chunk_size, N, K)
    sw = None
    if sample_weight is not None:
        check_weight(sample_weight, input.new_empty(batch_shape))
        sw = sample_weight.reshape(N).to(hidden.dtype)
    if reduction == "none":
        _, loss = _LinearLoss.apply(hidden, linear_weight, linear_bias, flat_target, None, chunk_fn, rows)
        loss = loss.reshape(batch_shape)
        return loss if sample_weight is None else loss * sample_weight
    # 'mean'/'sum': the weight of each row in the total, fixed before the walk, so its gradients
    # can be accumulated in the forward (same semantics as _reduce / reduce_with_denominator).
    with torch.no_grad():
        coeff = torch.ones(N, dtype=hidden.dtype, device=hidden.device) if sw is None else sw.detach().clone()
        if reduction == "mean":
            total_w = coeff.sum() if denom is None else (coeff * denom).sum()
            coeff = coeff / torch.where(total_w == 0, torch.ones_like(total_w), total_w)
    total, loss = _LinearLoss.apply(hidden, linear_weight, linear_bias, flat_target, coeff, chunk_fn, rows)
    if sw is not None and sw.requires_grad:
        # d total / d sample_weight through the same reduction on the (constant) loss rows.
        ref = _reduce_rows(loss.detach(), sw, denom, reduction)
        total = total + (ref - ref.detach())
    return total


def _reduce_rows(loss, sw, denom, reduction):
    total = (loss * sw).sum()
    if reduction == "sum":
        return total
    d = (sw if denom is None else sw * denom).sum()
    return total / torch.where(d == 0, torch.ones_like(d), d)


# ---------------------------------------------------------------------------------
# Public functions


def linear_cross_entropy(
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    *,
    linear_bias: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    chunk_size: int | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    r"""Cross-entropy of ``input @ linear_weight.T + linear_bias`` without holding the logits.

    Equal to ``cross_entropy(F.linear(input, linear_weight, linear_bias), target, ...)`` (values
    and the gradients of ``input``, ``linear_weight`` and ``linear_bias``), with PyTorch's
    ``F.linear_cross_entropy`` arguments; the rows are walked ``chunk_size`` at a time, each
    chunk's logits gradient ``softmax − t`` is folded into the three gradients in the forward and
    the chunk is dropped: peak extra memory is ``grad`` of the parameters plus a few
    ``[chunk_size, K]`` buffers, never ``[N, K]``.

    .. math::

        \ell_i = -\sum_k w_k\, t_{ik} \log \operatorname{softmax}(W x_i + b)_k

    Args:
        input: hidden states ``[..., d]`` (leading dims are flattened to ``N`` rows), floating.
        linear_weight: ``[K, d]``, ``nn.Linear``'s layout (pass ``lm_head.weight``).
        target: integer labels ``[...]`` in ``[0, K)`` or ``ignore_index``; or probabilities ``[..., K]``.
        linear_bias: optional ``[K]`` (``lm_head.bias``).
        weight: optional class weights ``[K]`` (PyTorch's ``weight``; the mean divides by ``Σ w_{y_i}``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        ignore_index: label that contributes nothing (``None``: PyTorch's ``linear_cross_entropy``
            default, meaning -100).
        label_smoothing: ``ε ∈ [0, 1]``.
        sample_weight: losslab's extra: per-row weights ``[...]``.
        chunk_size: rows per chunk; ``None`` picks ``max(1, 2^25 // K)`` (128 MB of float32 logits).
        impl: ``'auto'`` (default) computes each chunk's loss and logits gradient with the fused
            ``cross_entropy`` operator where it runs (CPU float32/float64, or CUDA with Triton; with class
            weights the weighted operator), else in closed form; ``'reference'`` always the
            closed form; ``'fused'`` the operator or a ``ValueError``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, W, y = torch.randn(6, 4), torch.randn(10, 4), torch.tensor([1, 0, 9, 3, 3, 2])
        >>> torch.allclose(ll.linear_cross_entropy(x, W, y, chunk_size=4), F.cross_entropy(x @ W.T, y))
        True

    Reference: Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models", 2025;
    Hsu et al., "Liger Kernel", 2024.
    """
    check_reduction(reduction)
    check_tensor("target", target)
    input, linear_weight, linear_bias, weight = promote_floating(input, linear_weight, linear_bias, weight)
    _check_linear(input, linear_weight, linear_bias)
    K = linear_weight.shape[0]
    if ignore_index is None:
        ignore_index = -100
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
    eps = check_finite_scalar("label_smoothing", label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1]; got {label_smoothing!r}")
    cw = check_class_weight(weight, K, input, "weight")
    batch_shape = input.shape[:-1]
    if target.is_floating_point():
        target = target.to(input.dtype)
        if target.shape != (*batch_shape, K):
            raise ValueError(f"probability target must have shape {(*batch_shape, K)} (input's batch dims and "
                             f"linear_weight's K); got {tuple(target.shape)}")
        check_at_least("target", target, 0.0)
        denom = None
    else:
        check_integer("target", target)
        if target.shape != batch_shape:
            raise ValueError(
                f"target must have shape {tuple(batch_shape)} (input's without its last dim); got {tuple(target.shape)}"
            )
        check_class_indices("target", target, K, ignore_index)
        target = target.long()
        flat = target.reshape(-1)
        valid = (flat != ignore_index).to(input.dtype)
        denom = valid if cw is None else valid * cw[torch.where(flat != ignore_index, flat, 0)]
    fused, _ = kernels.use_fused("linear_cross_entropy", impl, input, None)
    chunk_fn = functools.partial(_ce_chunk_fused if fused else _ce_chunk_loss_and_grad, class_weight=cw,
                                 ignore_index=ignore_index, label_smoothing=eps)
    return _run(input, linear_weight, linear_bias, target, chunk_fn, chunk_size, reduction, sample_weight, denom)


def linear_composite_softmax_loss(
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    scaling: Link,
    *,
    linear_bias: torch.Tensor | None = None,
    gamma: float = 1.0,
    reduction: str = "mean",
    sample_weight: torch.Tensor | None = None,
    chunk_size: int | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    r"""Composite Softmax matching loss (eq. 29-30) of ``input @ linear_weight.T + linear_bias``
    against target scores, without holding the predicted logits.

    Equal to ``composite_softmax_loss(F.linear(input, linear_weight, linear_bias), target, scaling,
    gamma=gamma)`` (values and the gradients of ``input``, ``linear_weight``, ``linear_bias``);
    each chunk's gradient ``q(ŝ)p(ŝ) − q(s)p(s)`` (eq. 30) is folded into them in the forward.
    The target scores (a teacher's logits) are themselves ``[N, K]``: that memory is the loss's
    input and is not saved here; what is saved is the predicted logits and their gradient.

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf s) = H(\hat{\mathbf s}) - H(\mathbf s)
          - \sum_k (\hat s_k - s_k)\, q(s_k)\, p_k(\mathbf s), \qquad \hat{\mathbf s} = W x + b

    Args:
        input: hidden states ``[..., d]`` (leading dims are flattened to ``N`` rows), floating.
        linear_weight: ``[K, d]``, ``nn.Linear``'s layout.
        target: target scores ``[..., K]`` (constant: a target that requires grad is rejected).
        scaling: the scaling function ``q`` (a :class:`~losslab.links.Link`).
        linear_bias: optional ``[K]``.
        gamma: regularisation ``γ > 0``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: optional per-row weights ``[...]``.
        chunk_size: rows per chunk; ``None`` picks ``max(1, 2^25 // K)``.
        impl: ``'auto'`` (default) computes each chunk with the fused ``composite_softmax_loss``
            operator where it runs (the scalings and dtypes/devices :func:`losslab.composite_softmax_loss`
            fuses), else in closed form; ``'reference'`` always the closed form; ``'fused'`` the
            operator or a ``ValueError``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> x, W, s = torch.randn(6, 4), torch.randn(10, 4), torch.randn(6, 10)
        >>> q = ll.links.exp(alpha=0.5)
        >>> torch.allclose(ll.linear_composite_softmax_loss(x, W, s, q, chunk_size=4),
        ...                ll.composite_softmax_loss(x @ W.T, s, q))
        True

    Reference: Shamir & Warmuth, "Selective Matching Losses", eq. (29)-(30).
    """
    from .matching import _check_link

    check_reduction(reduction)
    input, linear_weight, linear_bias, target = promote_floating(input, linear_weight, linear_bias, target)
    _check_linear(input, linear_weight, linear_bias)
    check_floating("target", target)
    K = linear_weight.shape[0]
    expected = (*input.shape[:-1], K)
    if tuple(target.shape) != expected:
        raise ValueError(f"target must have shape {expected} (input's batch dims and linear_weight's K); "
                         f"got {tuple(target.shape)}")
    if target.requires_grad:
        raise ValueError("target must not require grad here (its gradient is not computed); pass target.detach()")
    _check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    check_hyper_magnitude("gamma", check_hyper_magnitude("gamma", gamma, input), input, reciprocal=True)
    fused, spec = kernels.use_fused("linear_composite_softmax_loss", impl, input, scaling)
    if fused:
        chunk_fn = functools.partial(_composite_chunk_fused, spec=spec, gamma=gamma)
    else:
        chunk_fn = functools.partial(_composite_chunk_loss_and_grad, scaling=scaling, gamma=gamma)
    return _run(input, linear_weight, linear_bias, target, chunk_fn, chunk_size, reduction, sample_weight, None)


# ---------------------------------------------------------------------------------
# The same chunk steps through the fused operators (losslab.kernels): one call returns the rows'
# losses and d loss_row / d logits (unscaled by any cotangent), as the closed forms above do.


def _ce_chunk_fused(logits, target, *, class_weight, ignore_index, label_smoothing, need_grad):
    """``_ce_chunk_loss_and_grad`` through ``cross_entropy_fwd``, or with class weights through
    ``cross_entropy_weighted_fwd``, whose rows are ``Σ_k c_k w_k (lse − z_k)`` (``c`` the smoothed
    one-hot or probability target) with gradient ``softmax·Σ_j c_j w_j − c·w``: exact with label
    smoothing and ``ignore_index`` too (the weighted mean's denominator is ``_run``'s)."""
    if class_weight is not None:
        loss, grad, _ = torch.ops.losslab.cross_entropy_weighted_fwd(
            logits, target.contiguous(), class_weight.detach().contiguous(), int(ignore_index),
            float(label_smoothing), need_grad, False)
        return loss, (grad if need_grad else None)
    if (need_grad and label_smoothing == 0 and logits.device.type == "cpu" and logits.is_contiguous()
            and not torch.compiler.is_compiling()):
        # the chunk's logits are ours: the gradient overwrites them (one [n, K] buffer, not two)
        loss = torch.ops.losslab.cross_entropy_fwd_inplace_(logits, target.contiguous(), int(ignore_index), 0.0)
        return loss, logits
    loss, grad, _ = torch.ops.losslab.cross_entropy_fwd(
        logits, target.contiguous(), int(ignore_index), float(label_smoothing), need_grad, False)
    return loss, (grad if need_grad else None)


def _composite_chunk_fused(logits, target, *, spec, gamma, need_grad):
    """``_composite_chunk_loss_and_grad`` through ``composite_softmax_fwd`` (``spec`` from
    ``kernels.scaling_spec``): loss rows of eq. (29) and the unscaled gradient of eq. (30)."""
    shape, alpha, beta, cap, scale = spec
    if need_grad and logits.device.type == "cpu" and logits.is_contiguous() and not torch.compiler.is_compiling():
        # the chunk's logits are ours: the gradient overwrites them (one [n, K] buffer, not two)
        loss = torch.ops.losslab.composite_softmax_fwd_inplace_(
            logits, target.contiguous(), shape, alpha, beta, cap, scale, float(gamma))
        return loss, logits
    loss, grad, _ = torch.ops.losslab.composite_softmax_fwd(
        logits, target.contiguous(), shape, alpha, beta, cap, scale, float(gamma), need_grad, False)
    return loss, (grad if need_grad else None)
