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

    The largest false logit comes from the row's top 3 (the top 2 once the label's entry is
    dropped): no masked copy. Its gradient goes to the arg-max false class; where several
    false classes tie at the max (detected by the top 2 false values being equal) it is
    shared equally among them, as ``amax`` does. ``n`` (not differentiable) lets a batch
    maximum over rows share its gradient the same way (:func:`tied_max`).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor):
        K = logits.shape[-1]
        idx = labels.unsqueeze(-1)
        true = logits.gather(-1, idx)
        vals, pos = logits.topk(min(3, K), -1)
        first_is_label = pos[..., :1] == idx
        # the first two entries of the top 3 that are not the label (the label is at most one of them)
        worst = torch.where(first_is_label, vals[..., 1:2], vals[..., :1])
        worst_pos = torch.where(first_is_label, pos[..., 1:2], pos[..., :1])
        counts = torch.ones_like(worst)
        tie_rows = torch.empty(0, dtype=torch.long, device=logits.device)
        if K > 2:
            second_is_label = pos[..., 1:2] == idx
            runner_up = torch.where(first_is_label | second_is_label, vals[..., 2:3], vals[..., 1:2])
            tie = (runner_up == worst).reshape(-1)
            if bool(tie.any()):
                tie_rows = tie.nonzero().squeeze(-1)
                flat = logits.reshape(-1, K)
                at_max = flat.index_select(0, tie_rows) == worst.reshape(-1, 1).index_select(0, tie_rows)
                at_max.scatter_(-1, labels.reshape(-1, 1).index_select(0, tie_rows), False)
                counts.view(-1).index_copy_(0, tie_rows, at_max.sum(-1).to(counts.dtype))
        ctx.save_for_backward(logits, labels, worst, worst_pos, counts, tie_rows)
        ctx.mark_non_differentiable(counts)
        return true.squeeze(-1), worst.squeeze(-1), counts.squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_true, g_worst, _):
        logits, labels, worst, worst_pos, counts, tie_rows = ctx.saved_tensors
        grad = torch.zeros_like(logits)
        if g_worst is not None:
            g_w = g_worst.unsqueeze(-1)
            if tie_rows.numel():
                K = logits.shape[-1]
                flat_g = g_w.reshape(-1, 1)
                at_max = logits.reshape(-1, K).index_select(0, tie_rows) == worst.reshape(-1, 1).index_select(0, tie_rows)
                at_max.scatter_(-1, labels.reshape(-1, 1).index_select(0, tie_rows), False)
                share = flat_g.index_select(0, tie_rows) / counts.reshape(-1, 1).index_select(0, tie_rows)
                grad.view(-1, K).index_copy_(0, tie_rows, at_max.to(grad.dtype) * share)
                g_w = g_w.clone()
                g_w.view(-1).index_fill_(0, tie_rows, 0)
            grad.scatter_add_(-1, worst_pos, g_w.expand_as(worst_pos).to(grad.dtype))
        if g_true is not None:
            grad.scatter_add_(-1, labels.unsqueeze(-1), g_true.unsqueeze(-1))
        return grad, None


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
    """``(z_y, lse(z), lse(2z))`` along the last dim, from one buffer ``e = exp(z − max z)``.

    ``∂ lse(z)/∂z = e/Σe`` and ``∂ lse(2z)/∂z = 2e²/Σe²``: the backward is ``e ⊙ (c₁ + c₂ e)``
    plus the true logit's one-hot, in one buffer.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor):
        m = _finite_max(logits)
        e = (logits - m).exp_()
        s1 = e.sum(-1, keepdim=True)
        s2 = torch.einsum("...k,...k->...", e, e).unsqueeze(-1)  # Σ e² without an [..., K] product
        true = logits.gather(-1, labels.unsqueeze(-1))
        ctx.save_for_backward(e, labels, s1, s2)
        return true.squeeze(-1), (m + s1.log()).squeeze(-1), (2 * m + s2.log()).squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_true, g_lse, g_lse2):
        e, labels, s1, s2 = ctx.saved_tensors
        c1 = 0 if g_lse is None else g_lse.unsqueeze(-1) / s1
        c2 = 0 if g_lse2 is None else 2 * g_lse2.unsqueeze(-1) / s2
        grad = (e * c2).add_(c1).mul_(e)
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
