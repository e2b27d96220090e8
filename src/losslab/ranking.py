r"""Learning-to-rank losses: pointwise, pairwise, listwise, and selective variants.

Every loss here scores *lists*: ``scores [..., L]`` (model outputs), graded relevance
``labels [..., L]`` (float or integer grades, higher is more relevant) and an optional
boolean ``mask [..., L]`` of valid items (``True`` = a real item, ``False`` = padding).
Each returns one loss per list (shape ``[...]`` for ``reduction='none'``); ``sample_weight`` is
per list and the reduction is the shared :func:`losslab._reduce._reduce`.

Conventions shared by the family (seed 002, "Ranking Loss"; seed 000, Section 1):

* **Masked items are excluded exactly.** Their scores and labels are never read into a
  value or a gradient: they are replaced by 0 before any arithmetic, so padding may hold
  anything (even NaN or inf) and gets a zero gradient.
* **Pairs** are formed only among valid items with *different* labels, each unordered pair
  once, oriented so that item ``i`` is the more relevant (``l_i > l_j``). Ties in the
  labels give no pair. Pairwise losses sum over pairs (``normalize=True`` divides by the
  number of pairs of the list). Memory is ``O(L^2)`` per list.
* **Degenerate lists.** A list with no valid item has loss exactly 0 with a zero (never NaN)
  gradient. So does a list with one valid item, or (pairwise losses) no two valid items with
  different labels, for the pairwise, ListNet/ListMLE and LambdaLoss losses -- there is
  nothing to rank. The losses that match score *values* -- the pointwise ones
  (``pointwise_*``, ``selective_pointwise``) and ``selective_listwise``, whose composite
  Softmax has region sensitivity and is not shift invariant (for one item it is the scalar
  matching loss of ``Q``) -- still give a one-item list that item's loss.
  An empty batch, or all-zero weights, reduce to 0 by the ``_reduce`` semantics.
* **NaN.** A NaN *score* of a valid item propagates to that list's loss (it is not hidden).
  Labels of valid items must be finite: with value checks on (CPU tensors by default, see
  :func:`losslab.set_validate_args`) a NaN/inf label raises ``ValueError``; with checks off a
  NaN label compares unequal to everything, so pairwise losses would silently drop its
  pairs -- keep the checks on if labels may be corrupt.
* Labels are data: they are cast to the scores' dtype and never differentiated.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import registry
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import check_exp_finite
from ._validate import (
    old_weight_keyword,
    check_choice,
    check_finite_scalar,
    check_floating,
    check_nonnegative,
    check_positive,
    check_reduction,
    check_same_shape,
    check_tensor,
    value_checks_enabled,
)
from ._validate import promote_floating
from .links import Link
from .matching import matching_loss

__all__ = [
    "pointwise_sigmoid_ce",
    "pointwise_mse",
    "ranknet",
    "soft_pairwise",
    "pairwise_hinge",
    "listnet",
    "listmle",
    "lambda_loss",
    "selective_pointwise",
    "selective_pairwise",
    "selective_listwise",
]

_LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------
# Shared preparation


def _prepare(scores, labels, mask):
    """Validate; return ``(s, l, m, batch_shape)`` flattened to ``[N, L]`` with padding zeroed."""
    check_floating("scores", scores)
    check_tensor("labels", labels)
    if labels.is_complex():
        raise TypeError(f"labels must be real grades (float or integer), got dtype {labels.dtype}")
    if scores.dim() == 0:
        raise ValueError("scores must have shape [..., L] (a list dimension last); got a 0-dim tensor")
    check_same_shape("scores", scores, "labels", labels)
    if mask is None:
        m = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    else:
        check_tensor("mask", mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a boolean tensor (True = valid item), got dtype {mask.dtype}")
        check_same_shape("scores", scores, "mask", mask)
        m = mask
    scores, labels = promote_floating(scores, labels)
    lab = labels.detach().to(scores.dtype)
    if value_checks_enabled(lab) and lab.numel() > 0:
        bad = m & ~torch.isfinite(lab)
        if bool(bad.any()):
            raise ValueError(f"labels of valid items must be finite; got {lab[bad].flatten()[0].item()!r}")
    batch_shape = scores.shape[:-1]
    L = scores.shape[-1]
    m = m.reshape(-1, L)
    zero = scores.new_zeros(())
    s = torch.where(m, scores.reshape(-1, L), zero)
    lab = torch.where(m, lab.reshape(-1, L), zero)
    return s, lab, m, batch_shape


def _finish(per_list, batch_shape, reduction, sample_weight):
    return _reduce(per_list.reshape(batch_shape), reduction, sample_weight)


def _pairs(lab, m):
    """``[N, L, L]`` boolean: ``P[n, i, j]`` iff both valid and ``l_i > l_j``."""
    both = m.unsqueeze(-1) & m.unsqueeze(-2)
    return both & (lab.unsqueeze(-1) > lab.unsqueeze(-2))


def _pair_sum(terms, P, normalize):
    total = torch.where(P, terms, terms.new_zeros(())).sum((-1, -2))
    if normalize:
        count = P.sum((-1, -2)).to(total.dtype)
        total = total / count.clamp_min(1)
    return total


def _item_sum(terms, m, normalize):
    total = torch.where(m, terms, terms.new_zeros(())).sum(-1)
    if normalize:
        total = total / m.sum(-1).to(total.dtype).clamp_min(1)
    return total


def _safe_masked_lse(x, m):
    """``logsumexp`` over valid entries of each row; rows with no valid entry give a finite
    placeholder (to be discarded by the caller) so that no ``-inf - (-inf)`` reaches autograd."""
    any_valid = m.any(-1, keepdim=True)
    filled = x.masked_fill(~m, float("-inf"))
    filled = torch.where(any_valid, filled, torch.zeros_like(x))
    return torch.logsumexp(filled, -1), any_valid.squeeze(-1)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


# ---------------------------------------------------------------------------------
# Pointwise


@old_weight_keyword
def pointwise_sigmoid_ce(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    max_grade: float | None = None,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Pointwise sigmoid cross-entropy of each item's score against its relevance (seed 002).

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{i \text{ valid}}
          \big[\log(1 + e^{\hat s_i}) - t_i \hat s_i\big], \qquad t_i = l_i / g_{\max}

    (binary cross-entropy with logits, written with ``softplus`` so it is finite at any score).

    Args:
        scores: ``[..., L]`` item scores (logits), floating.
        labels: ``[..., L]`` grades. With ``max_grade=None`` they must lie in ``[0, 1]``
            (binary relevance or probabilities); otherwise ``t = labels / max_grade``.
        mask: optional boolean ``[..., L]``, ``True`` for valid items.
        max_grade: the top grade ``g_max > 0`` used to scale grades into ``[0, 1]``.
        normalize: divide each list's sum by its number of valid items.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[4, 1, 0]])
        >>> ll.pointwise_sigmoid_ce(s, l, max_grade=4, reduction="none")
        tensor([1.1333])

    Reference: e.g. Liu, "Learning to Rank for Information Retrieval", 2009 (pointwise approach).
    """
    check_reduction(reduction)
    _check_bool("normalize", normalize)
    if mask is None:
        return _pointwise_dense(scores, labels, normalize, sample_weight, reduction, max_grade=max_grade, sigmoid=True)
    s, lab, m, batch = _prepare(scores, labels, mask)
    if max_grade is not None:
        top = check_positive("max_grade", max_grade)
        if value_checks_enabled(lab) and bool((m & ((lab < 0) | (lab > top))).any()):
            # a grade past max_grade gives a target t = l / g_max outside [0, 1]: not a probability
            bad = lab[m & ((lab < 0) | (lab > top))].flatten()[0].item()
            raise ValueError(f"labels must lie in [0, max_grade={top!r}]; got {bad!r}")
        lab = lab / top
    elif value_checks_enabled(lab) and lab.numel() > 0:
        outside = m & ((lab < 0) | (lab > 1))
        if bool(outside.any()):
            raise ValueError(
                f"labels must lie in [0, 1] when max_grade is None; got {lab[outside].flatten()[0].item()!r} "
                "(pass max_grade to scale graded labels)"
            )
    terms = F.softplus(s) - lab * s
    return _finish(_item_sum(terms, m, normalize), batch, reduction, sample_weight)


@old_weight_keyword
def pointwise_mse(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Pointwise squared error between each item's score and its grade (seed 002).

    .. math:: \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{i \text{ valid}} (\hat s_i - l_i)^2

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades (float or integer).
        mask: optional boolean ``[..., L]``.
        normalize: divide each list's sum by its number of valid items.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[2.0, 0.0, 9.0]]), torch.tensor([[3, 1, 0]])
        >>> ll.pointwise_mse(s, l, torch.tensor([[True, True, False]]), reduction="none")
        tensor([2.])
    """
    check_reduction(reduction)
    _check_bool("normalize", normalize)
    if mask is None:
        return _pointwise_dense(scores, labels, normalize, sample_weight, reduction)
    s, lab, m, batch = _prepare(scores, labels, mask)
    return _finish(_item_sum((s - lab) ** 2, m, normalize), batch, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Pairwise


@old_weight_keyword
def ranknet(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    sigma: float = 1.0,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""RankNet: pairwise logistic loss over the pairs with different grades.

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{(i,j):\, l_i > l_j}
          \log\big(1 + e^{-\sigma(\hat s_i - \hat s_j)}\big)

    the cross-entropy of ``P(i ≻ j) = σ(σ_0 (ŝ_i − ŝ_j))`` against the target 1 (Burges et
    al. 2005). Seed 002's "pairwise logistic loss" writes
    ``Σ_i Σ_j log(1 + exp(−(y_i − y_j)(s_i − s_j)))`` over all ordered pairs; restricted to
    pairs with different labels it equals ``2 Σ_{l_i>l_j} log(1 + e^{−(l_i − l_j)(ŝ_i − ŝ_j)})``,
    i.e. ``2 · ranknet`` for binary labels (the label-difference factor only matters for
    grades more than one apart).

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades.
        mask: optional boolean ``[..., L]``.
        sigma: slope ``σ > 0`` of the pair probability.
        normalize: divide each list's sum by its number of pairs.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 0.0]]), torch.tensor([[1, 0]])
        >>> ll.ranknet(s, l, reduction="none")      # one pair, log 2
        tensor([0.6931])

    Reference: Burges et al., "Learning to Rank using Gradient Descent", ICML 2005.
    """
    check_reduction(reduction)
    sigma = check_positive("sigma", sigma)
    check_hyper_magnitude("sigma", sigma, scores)
    _check_bool("normalize", normalize)
    s, lab, m, batch = _prepare(scores, labels, mask)
    P = _pairs(lab, m)
    diff = s.unsqueeze(-1) - s.unsqueeze(-2)
    return _finish(_pair_sum(F.softplus(-sigma * diff), P, normalize), batch, reduction, sample_weight)


@old_weight_keyword
def soft_pairwise(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Seed 002's soft pairwise loss over the ordered pairs with different labels.

    .. math::

        \mathcal{L}_{\text{soft-pairwise}} = \sum_{i}\sum_{j:\, l_j \ne l_i}
          \log\big(1 + e^{-y_{ij}(\hat s_i - \hat s_j)}\big), \qquad y_{ij} = \operatorname{sign}(l_i - l_j)

    The seed writes ``y_i ∈ {+1, −1}`` per instance; for graded labels the sign of ``i``
    relative to ``j`` plays that role (for ``±1`` labels the two agree). Both orders of a
    pair contribute the same term, so ``soft_pairwise = 2 · ranknet(sigma=1)`` exactly (a
    tested identity); pairs with equal labels are excluded (the seed's double sum would add
    ``log(1+e^{-(s_i-s_j)}) + log(1+e^{s_i-s_j})`` for them, pulling tied scores together).
    With ``normalize=True`` the sum is divided by the number of ordered pairs.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades or ``±1`` labels.
        mask: optional boolean ``[..., L]``.
        normalize: divide each list's sum by its number of ordered pairs.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, -1.0]])
        >>> ll.soft_pairwise(s, l, reduction="none")   # two ordered pairs, 2 log 2
        tensor([1.3863])

    Reference: seed 002, "Soft Pairwise Loss".
    """
    check_reduction(reduction)
    _check_bool("normalize", normalize)
    s, lab, m, batch = _prepare(scores, labels, mask)
    P = _pairs(lab, m)
    diff = s.unsqueeze(-1) - s.unsqueeze(-2)
    # Both orders (i, j) and (j, i) give softplus(-(s_hi - s_lo)); count each order.
    total = 2 * torch.where(P, F.softplus(-diff), diff.new_zeros(())).sum((-1, -2))
    if normalize:
        total = total / (2 * P.sum((-1, -2)).to(total.dtype)).clamp_min(1)
    return _finish(total, batch, reduction, sample_weight)


@old_weight_keyword
def pairwise_hinge(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    margin: float = 1.0,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Margin ranking (pairwise hinge) loss over the pairs with different grades (seed 002).

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{(i,j):\, l_i > l_j} \max\big(0,\; m - (\hat s_i - \hat s_j)\big)

    each pair as in ``torch.nn.functional.margin_ranking_loss(s_i, s_j, 1, margin=m)``.
    ``margin ≥ 0``: ``m = 0`` is allowed (it only penalises mis-ordered pairs, and is
    scale-invariant, so its minimiser includes all-equal scores); ``m > 0`` asks for a gap.
    The gradient is piecewise constant with a kink at ``ŝ_i − ŝ_j = m``.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades.
        mask: optional boolean ``[..., L]``.
        margin: ``m ≥ 0``.
        normalize: divide each list's sum by its number of pairs.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.2, 0.0, 3.0]]), torch.tensor([[2, 1, 0]])
        >>> ll.pairwise_hinge(s, l, reduction="none")   # 0.8 + 3.8 + 4.0
        tensor([8.6000])
    """
    check_reduction(reduction)
    margin = check_nonnegative("margin", margin)
    check_hyper_magnitude("margin", margin, scores)
    _check_bool("normalize", normalize)
    s, lab, m, batch = _prepare(scores, labels, mask)
    P = _pairs(lab, m)
    diff = s.unsqueeze(-1) - s.unsqueeze(-2)
    return _finish(_pair_sum(torch.relu(margin - diff), P, normalize), batch, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Listwise


@old_weight_keyword
def listnet(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    target: str = "softmax",
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""ListNet (top-one): cross-entropy between a target distribution and the softmax of scores.

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = -\sum_{i \text{ valid}} P_i(\mathbf l)
          \log \frac{e^{\hat s_i}}{\sum_{j \text{ valid}} e^{\hat s_j}}

    ``target='softmax'`` (Cao et al. 2007): ``P(l) = softmax(l)`` over valid items;
    ``target='normalize'``: ``P_i = l_i / Σ_j l_j`` (grades must be ≥ 0; a list whose grades
    sum to 0 has no target mass and loss 0). Masked items get ``-inf`` logits: exactly no mass.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades.
        mask: optional boolean ``[..., L]``.
        target: ``'softmax'`` | ``'normalize'``.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]])
        >>> ll.listnet(s, l, reduction="none")     # uniform vs uniform: log 2
        tensor([0.6931])

    Reference: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach", ICML 2007.
    """
    check_reduction(reduction)
    check_choice("target", target, ("softmax", "normalize"))
    if mask is None:
        return _listnet_unmasked(scores, labels, target, sample_weight, reduction)
    s, lab, m, batch = _prepare(scores, labels, mask)
    lse, any_valid = _safe_masked_lse(s, m)
    logp = s - lse.unsqueeze(-1)
    if target == "softmax":
        lse_t, _ = _safe_masked_lse(lab, m)
        P = torch.where(m, torch.exp(lab - lse_t.unsqueeze(-1)), lab.new_zeros(()))
    else:
        if value_checks_enabled(lab) and bool((m & (lab < 0)).any()):
            raise ValueError(f"labels must be >= 0 for target='normalize'; got {lab[m & (lab < 0)][0].item()!r}")
        total = lab.sum(-1, keepdim=True)
        P = lab / torch.where(total > 0, total, torch.ones_like(total))
    loss = -(torch.where(m, P * logp, logp.new_zeros(()))).sum(-1)
    loss = torch.where(any_valid, loss, loss.new_zeros(()))
    return _finish(loss, batch, reduction, sample_weight)


@old_weight_keyword
def listmle(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""ListMLE: negative Plackett–Luce log-likelihood of the label order.

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{r=1}^{n}
          \Big[\log \sum_{k=r}^{n} e^{\hat s_{\pi(k)}} - \hat s_{\pi(r)}\Big]

    where ``π`` sorts the ``n`` valid items by grade, highest first. Ties in the grades are
    broken by position in the list (a stable sort), so the loss is deterministic; the suffix
    log-sum-exps use ``torch.logcumsumexp`` (finite at any score).

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades.
        mask: optional boolean ``[..., L]``.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 0.0]]), torch.tensor([[1, 0]])
        >>> ll.listmle(s, l, reduction="none")     # log 2 + log 1
        tensor([0.6931])

    Reference: Xia et al., "Listwise Approach to Learning to Rank: Theory and Algorithm", ICML 2008.
    """
    check_reduction(reduction)
    if mask is None:
        return _listmle_unmasked(scores, labels, sample_weight, reduction)
    s, lab, m, batch = _prepare(scores, labels, mask)
    # Masked items sort *first* (key +inf), so in the reversed cumulative log-sum-exp they
    # come last and never enter a valid item's suffix; their own terms are discarded.
    key = torch.where(m, lab, torch.full_like(lab, float("inf")))
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    s_sorted = torch.gather(s, -1, order)
    m_sorted = torch.gather(m, -1, order)
    suffix = torch.logcumsumexp(s_sorted.flip(-1), dim=-1).flip(-1)
    terms = torch.where(m_sorted, suffix - s_sorted, s_sorted.new_zeros(()))
    return _finish(terms.sum(-1), batch, reduction, sample_weight)


def _gains(lab):
    return torch.exp2(lab) - 1


def _ranks(s, m):
    """1-based rank of each item by current score among valid items (stable for ties)."""
    key = torch.where(m, s.detach(), torch.full_like(s, float("-inf")))
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(1, s.shape[-1] + 1, device=s.device).expand_as(order))
    return ranks.to(s.dtype)


@old_weight_keyword
def lambda_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    weighting: str = "ndcg_loss2",
    sigma: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""LambdaLoss: pairwise logistic loss with NDCG-derived pair weights (Wang et al. 2018).

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{(i,j):\, l_i > l_j}
          w_{ij}\, \log_2\big(1 + e^{-\sigma(\hat s_i - \hat s_j)}\big),
        \qquad w_{ij} = \frac{|G_i - G_j|}{\mathrm{maxDCG}}\; \delta_{ij}

    with gains ``G = 2^l − 1``, ``D(r) = log2(1 + r)``, ranks ``r_i`` of the items sorted by
    the current scores (not differentiated; ties by position), and

    * ``weighting='ndcg_loss2'`` (default; Wang et al.'s NDCG-Loss2, eq. 13):
      ``δ_ij = |1/D(|r_i − r_j|) − 1/D(|r_i − r_j| + 1)|``;
    * ``weighting='lambdarank'`` (LambdaRank's ``|ΔNDCG|``, Burges 2010):
      ``δ_ij = |1/D(r_i) − 1/D(r_j)|``.

    ``maxDCG = Σ_r G_(r) / D(r)`` over the valid items in ideal order. No truncation at k.
    Domain: grades ``≥ 0`` and small enough that ``2^l`` is finite in the scores' dtype.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades ``≥ 0``.
        mask: optional boolean ``[..., L]``.
        weighting: ``'ndcg_loss2'`` | ``'lambdarank'``.
        sigma: slope ``σ > 0``.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 1.0]]), torch.tensor([[1, 0]])
        >>> ll.lambda_loss(s, l, reduction="none")   # w = 1 - 1/log2 3; softplus(1)/ln 2
        tensor([0.6993])

    Reference: Wang, Li, Golbandi, Bendersky, Najork, "The LambdaLoss Framework for Ranking
    Metric Optimization", CIKM 2018.
    """
    check_reduction(reduction)
    check_choice("weighting", weighting, ("ndcg_loss2", "lambdarank"))
    sigma = check_positive("sigma", sigma)
    check_hyper_magnitude("sigma", sigma, scores)
    s, lab, m, batch = _prepare(scores, labels, mask)
    if value_checks_enabled(lab) and bool((m & (lab < 0)).any()):
        raise ValueError(f"labels must be grades >= 0 for lambda_loss; got {lab[m & (lab < 0)][0].item()!r}")
    # the gains 2^l − 1 and their per-list sum (the ideal DCG) must stay finite
    check_exp_finite("labels", lab, base2=True, terms=lab.shape[-1], mask=m, what="the gain 2^l summed over a list")
    G = torch.where(m, _gains(lab), lab.new_zeros(()))
    L = s.shape[-1]
    disc = 1.0 / torch.log2(torch.arange(2, L + 2, device=s.device, dtype=s.dtype))
    ideal = torch.sort(G, dim=-1, descending=True).values
    max_dcg = (ideal * disc).sum(-1, keepdim=True)
    Gn = G / torch.where(max_dcg > 0, max_dcg, torch.ones_like(max_dcg))
    r = _ranks(s, m)
    if weighting == "ndcg_loss2":
        gap = (r.unsqueeze(-1) - r.unsqueeze(-2)).abs().clamp_min(1)
        delta = (1 / torch.log2(1 + gap) - 1 / torch.log2(2 + gap)).abs()
    else:
        inv = 1 / torch.log2(1 + r)
        delta = (inv.unsqueeze(-1) - inv.unsqueeze(-2)).abs()
    w = delta * (Gn.unsqueeze(-1) - Gn.unsqueeze(-2)).abs()
    P = _pairs(lab, m)
    diff = s.unsqueeze(-1) - s.unsqueeze(-2)
    terms = w * F.softplus(-sigma * diff) / _LN2
    return _finish(_pair_sum(terms, P, False), batch, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Selective variants (seed 000)


def _default_pointwise_link():
    from . import links

    return links.exp(alpha=1.0, cap=50.0)


def _default_pairwise_link():
    from . import links

    return links.sinh(alpha=1.0, cap=20.0)


def _default_listwise_scaling():
    from . import links

    return links.exp(alpha=0.5, cap=20.0)


def _link_or_default(name, link, default):
    if link is None:
        return default()
    if not isinstance(link, Link):
        raise TypeError(f"{name} must be a losslab.links.Link or None, got {type(link).__name__}")
    return link


@old_weight_keyword
def selective_pointwise(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    link: Link | None = None,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Pointwise selective matching loss of scores against grades (seed 000, eq. 2).

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{i \text{ valid}}
          \big[H(\hat s_i) - H(l_i) - (\hat s_i - l_i)\, h(l_i)\big],
        \qquad \partial/\partial \hat s_i = h(\hat s_i) - h(l_i)

    The grade is the observed score. The default link ``links.exp(alpha=1, cap=50)`` has
    high-score sensitivity ``h'(z) = e^z`` that keeps growing with the grade (Appendix F:
    "With an exponential link ... the loss keeps getting sharper with increased scores"),
    so errors on highly relevant items dominate, as DCG-type metrics want. A right-shifted
    sigmoid (``links.sigmoid(alpha, beta > 0)``) concentrates it around ``β`` instead.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades (the target scores).
        mask: optional boolean ``[..., L]``.
        link: a :class:`~losslab.links.Link` (``None``: capped exp link).
        normalize: divide each list's sum by its number of valid items.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s = torch.zeros(1, 2, requires_grad=True)
        >>> l = torch.tensor([[3.0, 0.5]])
        >>> ll.selective_pointwise(s, l, reduction="sum").backward()
        >>> torch.allclose(s.grad, torch.exp(s) - torch.exp(l))   # h(ŝ) − h(l)
        True

    Reference: Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are Created Equal", 2025.
    """
    check_reduction(reduction)
    _check_bool("normalize", normalize)
    link = _link_or_default("link", link, _default_pointwise_link)
    if mask is None:
        return _selective_pointwise_unmasked(scores, labels, link, normalize, sample_weight, reduction)
    s, lab, m, batch = _prepare(scores, labels, mask)
    terms = matching_loss(s, lab, link, reduction="none")
    return _finish(_item_sum(terms, m, normalize), batch, reduction, sample_weight)


@old_weight_keyword
def selective_pairwise(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    link: Link | None = None,
    normalize: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Pairwise selective matching loss with high-norm sensitivity (seed 000, "Norm sensitivity").

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = \sum_{(i,j):\, l_i > l_j}
          D_H(\hat s_i - \hat s_j,\; l_i - l_j),
        \qquad D_H(\hat d, d) = H(\hat d) - H(d) - (\hat d - d)\, h(d)

    the matching loss (eq. 2) of each predicted score difference against the label
    difference. The default link ``links.sinh(alpha=1, cap=20)`` (``H = cosh``) is odd, so
    ``D_H(−d̂, −d) = D_H(d̂, d)``: the loss does not depend on the pair's orientation ("robust
    to pair ordering"), and its sensitivity ``cosh`` emphasises large differences and
    discounts small ones, which may come from label noise. The cap keeps it finite (linear
    beyond ``|x| = 20``). Shift the link (``beta``) to favour one side.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades.
        mask: optional boolean ``[..., L]``.
        link: a :class:`~losslab.links.Link` (``None``: capped sinh link).
        normalize: divide each list's sum by its number of pairs.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]])
        >>> v = ll.selective_pairwise(s, l, reduction="none")   # cosh 0 − cosh 2 + 2 sinh 2
        >>> two = torch.tensor(2.0)
        >>> torch.allclose(v, 1 - torch.cosh(two) + 2 * torch.sinh(two))
        True

    Reference: Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are Created Equal", 2025.
    """
    check_reduction(reduction)
    _check_bool("normalize", normalize)
    link = _link_or_default("link", link, _default_pairwise_link)
    s, lab, m, batch = _prepare(scores, labels, mask)
    P = _pairs(lab, m)
    d_hat = s.unsqueeze(-1) - s.unsqueeze(-2)
    d = lab.unsqueeze(-1) - lab.unsqueeze(-2)
    terms = matching_loss(d_hat, d, link, reduction="none")
    return _finish(_pair_sum(terms, P, normalize), batch, reduction, sample_weight)


@old_weight_keyword
def selective_listwise(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scaling: Link | None = None,
    gamma: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Listwise selective loss: the composite-Softmax matching loss over each list's valid items.

    .. math::

        \mathcal{L}(\hat{\mathbf s}, \mathbf l) = H(\hat{\mathbf s}) - H(\mathbf l)
          - \sum_{k \text{ valid}} (\hat s_k - l_k)\, q(l_k)\, p_k(\mathbf l),
        \qquad H(\mathbf z) = \gamma \log \sum_{k \text{ valid}} e^{Q(z_k)/\gamma}

    (seed 000, eq. 29 with γ of C.3-C.5), i.e. :func:`losslab.composite_softmax_loss` with
    the grades as target scores, restricted to the valid items: masked items get ``-inf``
    in the log-partition (exactly no mass, zero gradient) -- for an all-True mask the two
    agree exactly (tested). Gradient ``q(ŝ_k) p_k(ŝ) − q(l_k) p_k(l)`` (eq. 30). The default
    scaling ``links.exp(alpha=0.5, cap=20)`` gives high-score region sensitivity with
    ranking sensitivity from ``p``; raise ``gamma`` to flatten a peaky target ``p(l)``.

    Args:
        scores: ``[..., L]`` item scores, floating.
        labels: ``[..., L]`` grades (the target scores).
        mask: optional boolean ``[..., L]``.
        scaling: the scaling ``q`` (``None``: capped exp with α = 0.5).
        gamma: regularisation ``γ > 0``.
        sample_weight: optional per-list weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> s, l = torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 0], [2, 2, 1, 0]])
        >>> q = ll.links.sinh(alpha=0.5, cap=20.0)
        >>> a = ll.selective_listwise(s, l, scaling=q, reduction="none")
        >>> torch.allclose(a, ll.composite_softmax_loss(s, l, q, reduction="none"))
        True

    Reference: Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are Created Equal", 2025.
    """
    check_reduction(reduction)
    scaling = _link_or_default("scaling", scaling, _default_listwise_scaling)
    gamma = check_positive("gamma", gamma)
    check_hyper_magnitude("gamma", check_hyper_magnitude("gamma", gamma, scores), scores, reciprocal=True)
    if mask is None and isinstance(scores, torch.Tensor) and scores.dim() > 0 and scores.shape[-1] > 0:
        return _selective_listwise_unmasked(scores, labels, scaling, gamma, sample_weight, reduction)
    s, lab, m, batch = _prepare(scores, labels, mask)
    Qh = scaling.primitive(s) / gamma
    Qs = scaling.primitive(lab) / gamma
    lse_h, any_valid = _safe_masked_lse(Qh, m)
    lse_s, _ = _safe_masked_lse(Qs, m)
    p_s = torch.where(m, torch.exp(Qs - lse_s.unsqueeze(-1)), Qs.new_zeros(()))
    h_s = scaling(lab) * p_s
    loss = gamma * (lse_h - lse_s) - ((s - lab) * h_s).sum(-1)
    loss = torch.where(any_valid, loss, loss.new_zeros(()))
    return _finish(loss, batch, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Registry specs

_L = 5


def _list_sample(kwargs=None, *, int_labels=False, grades=5, masked=True, nonneg=True):
    kwargs = dict(kwargs or {})

    def sample(batch_shape, *, dtype, generator):
        shape = tuple(batch_shape) + (_L,)
        scores = registry.randn(shape, dtype=dtype, generator=generator, scale=1.5)
        labels = torch.randint(0, grades, shape, generator=generator)
        if not int_labels:
            labels = labels.to(dtype)
        args = [scores, labels]
        if masked:
            mask = torch.rand(shape, generator=generator) > 0.2
            args.append(mask)
        return registry.Sample(
            tuple(args), dict(kwargs), grad_argnums=(0,), batched_argnums=tuple(range(len(args))), none_shape=tuple(batch_shape)
        )

    return sample


def _list_extremes(kwargs=None, *, grades=5):
    kwargs = dict(kwargs or {})

    def extremes(dtype):
        scores = torch.tensor(
            [
                [1e4, -1e4, 0.0, 1e4, -1e4],
                [-1e4, 1e4, 1e4, -1e4, 30.0],
                [1e4, 0.0, 0.0, 0.0, 0.0],  # one valid item
                [5.0, -5.0, 1e4, 2.0, 0.0],  # all masked
                [-1e4, -1e4, -1e4, -1e4, -1e4],
            ],
            dtype=dtype,
        )
        labels = torch.tensor(
            [[4, 0, 2, 1, 3], [4, 0, 1, 3, 2], [2, 1, 0, 3, 4], [1, 0, 2, 3, 4], [0, 1, 2, 3, 4]], dtype=dtype
        ).clamp_max(grades - 1)
        mask = torch.ones(scores.shape, dtype=torch.bool)
        mask[2, 1:] = False
        mask[3] = False
        return [registry.Sample((scores, labels, mask), dict(kwargs), grad_argnums=(0,), none_shape=(5,))]

    return extremes


def _register() -> None:
    from . import links

    common = dict(family="ranking")
    specs = [
        ("pointwise_sigmoid_ce", pointwise_sigmoid_ce, {"max_grade": 4.0}, {}, "scores: any real; labels: grades in [0, max_grade]"),
        ("pointwise_mse", pointwise_mse, {}, {"int_labels": True}, "scores: any real; labels: any finite grades"),
        ("ranknet", ranknet, {"sigma": 1.0}, {}, "scores: any real; labels: any finite grades"),
        ("soft_pairwise", soft_pairwise, {}, {"int_labels": True}, "scores: any real; labels: any finite grades (or ±1)"),
        ("pairwise_hinge", pairwise_hinge, {"margin": 1.0}, {}, "scores: any real; labels: any finite grades; margin >= 0"),
        ("listnet", listnet, {}, {}, "scores: any real; labels: finite grades (>= 0 for target='normalize')"),
        ("listmle", listmle, {}, {"int_labels": True}, "scores: any real; labels: any finite grades"),
        ("lambda_loss", lambda_loss, {}, {}, "scores: any real; labels: grades >= 0 with finite 2^l"),
        ("selective_pointwise", selective_pointwise, {"link": links.exp(alpha=1.0, cap=50.0)}, {}, "scores: any real (capped link); labels: finite grades"),
        ("selective_pairwise", selective_pairwise, {"link": links.sinh(alpha=1.0, cap=20.0)}, {}, "scores: any real (capped link); labels: finite grades"),
        ("selective_listwise", selective_listwise, {"scaling": links.exp(alpha=0.5, cap=20.0), "gamma": 1.5}, {}, "scores: any real (capped scaling); labels: finite grades"),
    ]
    notes = {
        "pairwise_hinge": "piecewise-linear: gradcheck relies on random scores avoiding the kink",
        "lambda_loss": "pair weights depend on the current ranks (piecewise constant, not differentiated)",
    }
    for name, fn, kw, sample_kw, domain in specs:
        registry.register(
            registry.LossSpec(
                name=name,
                fn=fn,
                domain=domain,
                sample=_list_sample(kw, **sample_kw),
                extremes=_list_extremes(kw),
                notes=notes.get(name, "") + ("; " if name in notes else "") + "one loss per list; mask = valid items",
                **common,
            )
        )


_register()


def _checked_scores_and_grades(scores, labels):
    """The argument checks every unmasked ranking path shares: floating scores ``[..., L]``,
    real grades of the same shape; returns the promoted scores and detached grades."""
    check_floating("scores", scores)
    check_tensor("labels", labels)
    if labels.is_complex():
        raise TypeError(f"labels must be real grades (float or integer), got dtype {labels.dtype}")
    if scores.dim() == 0:
        raise ValueError("scores must have shape [..., L] (a list dimension last); got a 0-dim tensor")
    check_same_shape("scores", scores, "labels", labels)
    scores, labels = promote_floating(scores, labels)
    return scores, labels.detach().to(scores.dtype)


def _listnet_unmasked(scores, labels, target, sample_weight, reduction):
    """:func:`listnet` without a mask: every item is valid, so no ``[N, L]`` boolean, no
    ``-inf`` fill and no ``where`` is needed -- ``log_softmax`` of the scores against the
    target distribution (about a quarter of the masked path's ATen ops, forward + backward)."""
    scores, lab = _checked_scores_and_grades(scores, labels)
    checks = value_checks_enabled(lab) and lab.numel() > 0
    # A finite sum proves every grade finite (inf and NaN propagate through a sum) in one
    # pass; only a non-finite sum (a bad grade, or an overflow) pays the elementwise test.
    if checks and not math.isfinite(float(lab.sum())) and not bool(torch.isfinite(lab).all()):
        raise ValueError(f"labels of valid items must be finite; got {lab[~torch.isfinite(lab)][0].item()!r}")
    logp = torch.log_softmax(scores, -1)
    if target == "softmax":
        P = torch.softmax(lab, -1)
    else:
        if checks and bool((lab < 0).any()):
            raise ValueError(f"labels must be >= 0 for target='normalize'; got {lab[lab < 0][0].item()!r}")
        total = lab.sum(-1, keepdim=True)
        # A list whose grades sum to 0 has no target mass: P = 0, loss 0 (as with a mask).
        P = lab / torch.where(total > 0, total, 1.0)
    return _reduce(-(P * logp).sum(-1), reduction, sample_weight)


def _prepare_unmasked(scores, labels):
    """:func:`_prepare` without a mask: the same checks and errors, but no all-True
    ``[N, L]`` boolean and no ``where`` copies of scores and grades (every item is valid).
    Returns ``(s, lab, batch_shape)`` with ``s``, ``lab`` viewed as ``[N, L]``."""
    scores, lab = _checked_scores_and_grades(scores, labels)
    # A finite sum proves every grade finite (inf and NaN propagate through a sum) in one
    # pass; only a non-finite sum (a bad grade, or an overflow) pays the elementwise test.
    if value_checks_enabled(lab) and lab.numel() > 0 and not math.isfinite(float(lab.sum())):
        bad = ~torch.isfinite(lab)
        if bool(bad.any()):
            raise ValueError(f"labels of valid items must be finite; got {lab[bad].flatten()[0].item()!r}")
    L = scores.shape[-1]
    return scores.reshape(-1, L), lab.reshape(-1, L), scores.shape[:-1]


def _listmle_unmasked(scores, labels, sample_weight, reduction):
    """:func:`listmle` without a mask: the grades themselves are the sort key, and no
    gathered mask or ``where`` is needed."""
    s, lab, batch = _prepare_unmasked(scores, labels)
    order = torch.sort(lab, dim=-1, descending=True, stable=True).indices
    s_sorted = torch.gather(s, -1, order)
    suffix = torch.logcumsumexp(s_sorted.flip(-1), dim=-1).flip(-1)
    return _finish((suffix - s_sorted).sum(-1), batch, reduction, sample_weight)


def _selective_pointwise_unmasked(scores, labels, link, normalize, sample_weight, reduction):
    """:func:`selective_pointwise` without a mask. With a plain mean or sum over lists,
    the per-list sums are never needed: one fused sum of eq. (2) over all items."""
    s, lab, batch = _prepare_unmasked(scores, labels)
    L = s.shape[-1]
    if sample_weight is None and reduction != "none" and not normalize and s.shape[0] > 0:
        total = matching_loss(s, lab, link, reduction="sum")
        return total if reduction == "sum" else total / s.shape[0]
    terms = matching_loss(s, lab, link, reduction="none").sum(-1)
    if normalize:
        terms = terms / max(L, 1)
    return _finish(terms, batch, reduction, sample_weight)


def _selective_listwise_unmasked(scores, labels, scaling, gamma, sample_weight, reduction):
    """:func:`selective_listwise` without a mask (and ``L > 0``, so every list has a valid
    item): plain ``logsumexp``/``softmax`` of ``Q/γ``, no ``-inf`` fills or ``where``."""
    s, lab, batch = _prepare_unmasked(scores, labels)
    Qh = scaling.primitive(s) / gamma
    Qs = scaling.primitive(lab) / gamma
    lse_h = torch.logsumexp(Qh, -1)
    lse_s = torch.logsumexp(Qs, -1)
    h_s = scaling(lab) * torch.exp(Qs - lse_s.unsqueeze(-1))
    loss = gamma * (lse_h - lse_s) - ((s - lab) * h_s).sum(-1)
    return _finish(loss, batch, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Pointwise losses without a mask: every item is valid, so no all-True mask, no masked
# copies of scores and labels, and PyTorch's fused elementwise kernels (one full-size
# tensor each way). Same checks, messages and values as the masked path.


def _pointwise_dense(scores, labels, normalize, sample_weight, reduction, *, max_grade=None, sigmoid=False):
    scores, lab = _checked_scores_and_grades(scores, labels)
    checks = value_checks_enabled(lab) and lab.numel() > 0
    if checks:
        # one pass: min/max propagate NaN and show ±inf and any grade out of range;
        # the masks below run only to name the offending value
        lo, hi = (float(v) for v in torch.aminmax(lab))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"labels of valid items must be finite; got {lab[~torch.isfinite(lab)].flatten()[0].item()!r}")
    top = None if max_grade is None else check_positive("max_grade", max_grade)
    if checks:
        if sigmoid and top is not None and (lo < 0 or hi > top):
            raise ValueError(f"labels must lie in [0, max_grade={top!r}]; got {lab[(lab < 0) | (lab > top)].flatten()[0].item()!r}")
        if sigmoid and top is None and (lo < 0 or hi > 1):
            raise ValueError(
                f"labels must lie in [0, 1] when max_grade is None; got {lab[(lab < 0) | (lab > 1)].flatten()[0].item()!r} "
                "(pass max_grade to scale graded labels)"
            )
    if sigmoid and top is not None:
        lab = lab / top
    if sample_weight is None and reduction != "none" and scores.numel() > 0:
        # A plain mean or sum over lists needs no per-list sums: one fused sum over all items
        # (2 = reduction 'sum'), divided by the number of lists (and by L when normalising).
        if sigmoid:
            total = torch.binary_cross_entropy_with_logits(scores, lab, None, None, 2)
        else:
            total = torch._C._nn.mse_loss(scores, lab, 2)
        L = scores.shape[-1]
        divisor = (scores.numel() // L if reduction == "mean" else 1) * (L if normalize else 1)
        return total / divisor if divisor != 1 else total
    if sigmoid:
        # softplus(s) - t·s, PyTorch's fused form; 0 = reduction 'none'
        terms = torch.binary_cross_entropy_with_logits(scores, lab, None, None, 0)
    else:
        terms = torch._C._nn.mse_loss(scores, lab, 0)
    total = terms.sum(-1)
    if normalize:
        total = total / max(scores.shape[-1], 1)
    return _reduce(total, reduction, sample_weight)
