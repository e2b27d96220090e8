"""Per-row statistics of logits ``[..., K]`` with one ``[..., K]`` gradient buffer each.

The single-logit objectives of seed 001 depend on a row of logits only through a few
scalars: the true logit ``z_y``, the largest false logit ``max_{j≠y} z_j``, ``lse(z)``,
``lse(2z)``, ``lse(2 log σ(z))``. Written with a masked copy of the logits, ``logsumexp``
and autograd, each scalar costs several ``[..., K]`` temporaries in the forward and as
many again in the backward. Here each family of scalars is one ``autograd.Function``: the
forward keeps at most one ``[..., K]`` buffer, the backward forms the gradient of all its
scalars at once in a single ``[..., K]`` buffer, and the objectives combine the scalars
(``[...]`` tensors) with plain autograd, in the same expressions as before.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _finite_max(x: torch.Tensor) -> torch.Tensor:
    # Row max for a max-shift; an infinite max (a row of -inf) shifts by 0, as logsumexp does.
    m = x.amax(-1, keepdim=True)
    return torch.where(torch.isinf(m), torch.zeros_like(m), m)


class TrueAndWorstFalse(torch.autograd.Function):
    """``(z_y, max_{j≠y} z_j, n)`` along the last dim; ``n`` counts the false classes at the max.

    The largest false logit is the row max wherever the label is below it; only the rows
    whose label attains the max are copied (once, with the label's entry set to −inf) for a
    second max. The gradient of the largest false logit is shared equally among the false
    classes at the max, as ``amax`` shares it, from one comparison in the backward; ``n``
    (computed only with ``counts=True`` and only on the rows that hold the batch's largest
    value, 0 elsewhere; not differentiable) lets a batch maximum over rows share its
    gradient the same way (:func:`tied_max`).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor, counts: bool = False):
        K = logits.shape[-1]
        idx = labels.unsqueeze(-1)
        true = logits.gather(-1, idx)
        worst = logits.amax(-1, keepdim=True)
        at_top = (true >= worst).reshape(-1)
        if bool(at_top.any()):
            rows = at_top.nonzero().squeeze(-1)
            sub = logits.reshape(-1, K).index_select(0, rows)
            sub.scatter_(-1, idx.reshape(-1, 1).index_select(0, rows), -math.inf)
            worst.view(-1).index_copy_(0, rows, sub.amax(-1))
        n = None
        if counts:
            # Only rows whose largest false logit is the batch's largest can share a batch
            # maximum's gradient: the others' counts stay 0 (unused by tied_max).
            flat_w = worst.reshape(-1)
            top_rows = (flat_w == flat_w.amax()).nonzero().squeeze(-1)
            sub = logits.reshape(-1, K).index_select(0, top_rows)
            w_sub = flat_w.index_select(0, top_rows).unsqueeze(-1)
            hits = (sub == w_sub).sum(-1, dtype=torch.int32)
            hits -= (true.reshape(-1, 1).index_select(0, top_rows) == w_sub).squeeze(-1).to(torch.int32)
            n = torch.zeros_like(flat_w).index_copy_(0, top_rows, hits.to(flat_w.dtype)).reshape(worst.shape[:-1])
            ctx.mark_non_differentiable(n)
        ctx.save_for_backward(logits, labels, worst)
        return true.squeeze(-1), worst.squeeze(-1), n

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_true, g_worst, _):
        logits, labels, worst = ctx.saved_tensors
        idx = labels.unsqueeze(-1)
        if g_worst is None:
            grad = torch.zeros_like(logits)
        else:
            at_max = logits == worst
            at_max.scatter_(-1, idx, False)
            grad = at_max.to(logits.dtype)  # counted in floats: a boolean sum widens to int64
            del at_max
            grad.mul_(g_worst.unsqueeze(-1) / grad.sum(-1, keepdim=True))
        if g_true is not None:
            grad.scatter_add_(-1, idx, g_true.unsqueeze(-1).to(grad.dtype))
        return grad, None, None


class _TiedMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: torch.Tensor, weights: torch.Tensor):
        m = values.amax()
        ctx.save_for_backward(values, weights, m)
        return m

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        values, weights, m = ctx.saved_tensors
        w = torch.where(values == m, weights, torch.zeros_like(weights))
        return g * w / w.sum(), None


def tied_max(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``values.amax()`` whose gradient is shared among the tied maxima in proportion to ``weights``."""
    return _TiedMax.apply(values, weights)


class SoftmaxStats(torch.autograd.Function):
    """``(z_y, lse(z), lse(2z))`` along the last dim, from one buffer ``p = softmax(z)``.

    PyTorch's fused softmax gives ``p``; ``lse(z) = M − log max_j p_j`` with ``M`` the row
    max (``max p ≥ 1/K`` never underflows) and ``lse(2z) = 2 lse(z) + log Σ p²``.
    ``∂ lse(z)/∂z = p`` and ``∂ lse(2z)/∂z = 2p²/Σp²``: the backward is ``p ⊙ (c₁ + c₂ p)``
    plus the true logit's one-hot, in one buffer.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor):
        p = torch.softmax(logits, -1)
        lse = _finite_max(logits) - p.amax(-1, keepdim=True).log()
        s2 = torch.linalg.vector_norm(p, dim=-1, keepdim=True).square()  # Σ p², no [..., K] product
        true = logits.gather(-1, labels.unsqueeze(-1))
        ctx.save_for_backward(p, labels, s2)
        return true.squeeze(-1), lse.squeeze(-1), (2 * lse + s2.log()).squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_true, g_lse, g_lse2):
        p, labels, s2 = ctx.saved_tensors
        if g_lse2 is None:
            grad = p * (0 if g_lse is None else g_lse.unsqueeze(-1))
        else:
            c2 = 2 * g_lse2.unsqueeze(-1) / s2
            grad = (p * c2) if g_lse is None else torch.addcmul(g_lse.unsqueeze(-1), p, c2)
            grad.mul_(p)
        if g_true is not None:
            grad.scatter_add_(-1, labels.unsqueeze(-1), g_true.unsqueeze(-1).to(grad.dtype))
        return grad, None


class SigmoidStats(torch.autograd.Function):
    """``(z_y, lse(2 log σ(z)))`` along the last dim (``½`` of the latter is ``log‖σ(z)‖``).

    Forward: ``t = (σ(z)/σ(M))² = exp(2(log σ(z) − log σ(M)))`` with ``M`` the row max, in the
    one buffer of ``σ(z)`` (a sigmoid, not a log and an exp per entry); where ``σ(M)`` is
    below the dtype's epsilon, ``1 + e^z`` rounds to 1 for every entry of the row, so
    ``σ(z) = e^z`` there and those rows take ``t = exp(2(z − M))`` (no 0/0 at ``z = −1e4``).
    ``∂/∂z_j lse(2 log σ(z)) = 2 σ(−z_j) t_j/Σt``, formed in place in ``σ(−z)``.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor):
        K = logits.shape[-1]
        m = _finite_max(logits)
        t = torch.sigmoid(logits).div_(torch.sigmoid(m)).square_()
        log_sm = F.logsigmoid(m)
        tiny = (m < math.log(torch.finfo(logits.dtype).eps)).reshape(-1)
        if bool(tiny.any()):
            rows = tiny.nonzero().squeeze(-1)
            sub = logits.reshape(-1, K).index_select(0, rows)
            sub.sub_(m.reshape(-1, 1).index_select(0, rows)).mul_(2).exp_()
            t.view(-1, K).index_copy_(0, rows, sub)
        s = t.sum(-1, keepdim=True)
        true = logits.gather(-1, labels.unsqueeze(-1))
        ctx.save_for_backward(logits, labels, t, s)
        return true.squeeze(-1), (2 * log_sm + s.log()).squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_true, g_lse2):
        logits, labels, t, s = ctx.saved_tensors
        if g_lse2 is None:
            grad = torch.zeros_like(logits)
        else:
            grad = torch.neg(logits).sigmoid_().mul_(t).mul_(2 * g_lse2.unsqueeze(-1) / s)
        if g_true is not None:
            grad.scatter_add_(-1, labels.unsqueeze(-1), g_true.unsqueeze(-1).to(grad.dtype))
        return grad, None
