"""Contrastive and metric-learning losses (seed 002, *Contrastive Loss*, *Triplet Loss*,
*InfoNCE Loss*, *Multiple Negative Ranking Loss*).

Embeddings are ``[..., D]`` (feature dim last). Euclidean distances use a
square root clamped away from 0, so identical embeddings give finite gradients;
similarity-based losses L2-normalise first (``F.normalize``), so embeddings at
±1e4 are fine. The in-batch losses (``info_nce``, ``nt_xent``,
``multiple_negatives_ranking``) take ``[N, D]``: every other row is a negative,
so they have no extra leading batch dims. NaN inputs give NaN losses (in-batch
losses spread a NaN row to every example, as any softmax over the batch would).
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from . import registry
from ._catalogue import check_embeddings, check_target_shape, check_values_in, safe_norm
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import check_floating, check_positive, check_reduction
from ._validate import check_bool, legacy_reduction, old_weight_keyword, promote_floating

__all__ = ["contrastive", "triplet", "info_nce", "nt_xent", "multiple_negatives_ranking",
           "triplet_margin_loss", "triplet_margin_with_distance_loss"]


def _same(name_a, a, name_b, b) -> None:
    check_floating(name_b, b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 1:
        raise ValueError(f"{name_a} must have a feature dim [..., D]; got a 0-dim tensor")


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``‖x − y‖₂`` over the last dim, with a finite gradient at ``x = y``."""
    return safe_norm(x - y, -1)


@old_weight_keyword
def contrastive(
    x1: torch.Tensor,
    x2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Contrastive (siamese) loss of Hadsell, Chopra & LeCun on Euclidean distances.

    .. math::

        \ell = y\, \tfrac12 D^2 + (1 - y)\, \tfrac12 \max(0,\ m - D)^2, \qquad D = \|x_1 - x_2\|_2

    (seed 002, *Contrastive Loss*). Here ``y = 1`` marks a *similar* pair and
    ``y = 0`` a dissimilar one (the paper's ``Y`` is ``1 − y``).

    Args:
        x1, x2: embeddings ``[..., D]``, floating, same shape.
        target: ``[...]`` in ``{0, 1}`` (bool, integer or floating).
        margin: ``m > 0``.
        sample_weight: optional per-pair weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> a, b = torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.6, 0.8], [0.3, 0.4]])
        >>> ll.contrastive(a, b, torch.tensor([1, 0]), margin=1.0, reduction="none")
        tensor([0.5000, 0.1250])

    Reference: Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006.
    """
    x1, x2, target = promote_floating(x1, x2, target)
    check_floating("x1", x1)
    _same("x1", x1, "x2", x2)
    m = check_positive("margin", margin)
    check_hyper_magnitude("margin", m, x1, power=2)
    check_reduction(reduction)
    check_target_shape("target", target, x1.shape[:-1], "the embeddings without the feature dim")
    check_values_in("target", target, (0, 1))
    y = target.to(x1.dtype)
    # One fused norm (no [..., D] square in the forward, one [..., D] buffer in its backward);
    # its gradient at d = 0 is 0, as the former clamped sqrt's, and d² is the squared distance.
    d = torch.linalg.vector_norm(x1 - x2, dim=-1)
    sq = d * d
    far = (m - d).clamp_min(0)
    return _reduce(0.5 * (y * sq + (1 - y) * far * far), reduction, sample_weight)


@old_weight_keyword
def triplet(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    margin: float = 1.0,
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    swap: bool = False,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Triplet margin loss with any distance.

    .. math::

        \ell = \max\big(0,\ d(a, p) - d(a, n) + m\big)

    (seed 002, *Triplet Loss*). ``swap=True`` uses ``min(d(a, n), d(p, n))`` as the
    negative distance (Balntas et al. 2016), as PyTorch does. ``distance(x, y)``
    maps two ``[..., D]`` tensors to ``[...]``; the default is the Euclidean
    distance with a finite gradient at 0. With
    ``distance=lambda x, y: F.pairwise_distance(x, y)`` this is exactly
    ``F.triplet_margin_loss``.

    Args:
        anchor, positive, negative: embeddings ``[..., D]``, floating, same shape.
        margin: ``m > 0``.
        distance: callable ``(x, y) -> [...]``, or ``None`` for Euclidean.
        swap: use the distance swap.
        sample_weight: optional per-triplet weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
        >>> ll.triplet(a, p, n, margin=1.0)
        tensor(0.5000)

    Reference: Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015; Weinberger & Saul, 2009.
    """
    anchor, positive, negative = promote_floating(anchor, positive, negative)
    check_floating("anchor", anchor)
    _same("anchor", anchor, "positive", positive)
    _same("anchor", anchor, "negative", negative)
    m = check_positive("margin", margin)
    check_hyper_magnitude("margin", m, anchor)
    check_reduction(reduction)
    if distance is None:
        distance = euclidean_distance
    elif not callable(distance):
        raise TypeError(f"distance must be a callable (x, y) -> distances, got {type(distance).__name__}")
    d_ap = distance(anchor, positive)
    d_an = distance(anchor, negative)
    if check_bool("swap", swap):
        d_an = torch.minimum(d_an, distance(positive, negative))
    if d_ap.shape != anchor.shape[:-1]:
        raise ValueError(f"distance must return shape {tuple(anchor.shape[:-1])}; got {tuple(d_ap.shape)}")
    return _reduce((d_ap - d_an + m).clamp_min(0), reduction, sample_weight)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


@old_weight_keyword
def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    negative_keys: torch.Tensor | None = None,
    *,
    temperature: float = 0.1,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""InfoNCE: cross-entropy of picking each query's positive key among negatives, on cosine similarities.

    .. math::

        \ell_i = -\log \frac{e^{\cos(q_i, k_i^+)/\tau}}{e^{\cos(q_i, k_i^+)/\tau} + \sum_{j} e^{\cos(q_i, k_{ij}^-)/\tau}}

    (seed 002, *InfoNCE Loss*). Negatives: ``None`` — the other rows' positive
    keys (in-batch); ``[M, D]`` — one shared set for all queries; ``[N, M, D]`` —
    per-query negatives.

    Args:
        query: ``[N, D]``, floating.
        positive_key: ``[N, D]``.
        negative_keys: ``None``, ``[M, D]`` or ``[N, M, D]``.
        temperature: ``τ > 0``.
        sample_weight: optional per-query weights ``[N]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[N]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> q = torch.eye(3)
        >>> bool(ll.info_nce(q, q, temperature=0.05) < 1e-6)   # each query matches only its key
        True

    Reference: van den Oord, Li & Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018.
    """
    check_embeddings("query", query, 2, "[N, D]")
    _same("query", query, "positive_key", positive_key)
    t = check_positive("temperature", temperature)
    query, positive_key, negative_keys = promote_floating(query, positive_key, negative_keys)
    check_hyper_magnitude("temperature", t, query, reciprocal=True)
    check_reduction(reduction)
    q, k = _unit(query), _unit(positive_key)
    if negative_keys is None:
        logits = _scaled_logits(q, k, 1.0 / t)
        labels = torch.arange(q.shape[0], device=q.device)
        return _reduce(F.cross_entropy(logits, labels, reduction="none"), reduction, sample_weight)
    check_floating("negative_keys", negative_keys)
    D = query.shape[-1]
    neg = _unit(negative_keys)
    # 1/τ is folded into the [N, D] queries, not applied to the [N, M + 1] logits.
    q = q * (1.0 / t)
    if negative_keys.dim() == 2 and negative_keys.shape[-1] == D:
        neg_logits = q @ neg.T
    elif negative_keys.dim() == 3 and negative_keys.shape[0] == query.shape[0] and negative_keys.shape[-1] == D:
        neg_logits = torch.einsum("nd,nmd->nm", q, neg)
    else:
        raise ValueError(f"negative_keys must have shape [M, {D}] or [{query.shape[0]}, M, {D}]; got {tuple(negative_keys.shape)}")
    pos = (q * k).sum(-1, keepdim=True)
    logits = torch.cat([pos, neg_logits], -1)
    return _reduce(torch.logsumexp(logits, -1) - logits[:, 0], reduction, sample_weight)


def _ce_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(logits, -1) - logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


@old_weight_keyword
def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float = 0.5,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""NT-Xent (SimCLR): symmetric InfoNCE over ``2N`` views, every other view a negative.

    .. math::

        \ell(i, j) = -\log \frac{e^{\cos(z_i, z_j)/\tau}}{\sum_{k \ne i} e^{\cos(z_i, z_k)/\tau}},
        \qquad \ell_n = \tfrac12\big(\ell(n, n{+}N) + \ell(n{+}N, n)\big)

    over the concatenation ``z = [z1; z2]``; the mean over pairs ``n`` equals
    SimCLR's mean over all ``2N`` anchors.

    Args:
        z1, z2: the two views' embeddings ``[N, D]``, floating, ``N ≥ 1``.
        temperature: ``τ > 0``.
        sample_weight: optional per-pair weights ``[N]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[N]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z = torch.eye(4)[:2]
        >>> ll.nt_xent(z, z, temperature=1.0, reduction="none").shape
        torch.Size([2])

    Reference: Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
    """
    check_embeddings("z1", z1, 2, "[N, D]")
    _same("z1", z1, "z2", z2)
    t = check_positive("temperature", temperature)
    check_hyper_magnitude("temperature", t, z1, reciprocal=True)
    check_reduction(reduction)
    N = z1.shape[0]
    z = _unit(torch.cat([z1, z2], 0))
    sim = _scaled_logits(z, z, 1.0 / t)
    # In place: one [2N, 2N] matrix instead of an eye mask and a masked copy.
    sim.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)]).to(z.device)
    per_anchor = F.cross_entropy(sim, partner, reduction="none")
    return _reduce(0.5 * (per_anchor[:N] + per_anchor[N:]), reduction, sample_weight)


@old_weight_keyword
def multiple_negatives_ranking(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    scale: float = 20.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multiple negatives ranking loss: each anchor must rank its positive first among all candidates.

    .. math::

        \ell_i = -\log \frac{e^{s \cos(a_i, p_i)}}{\sum_{j=1}^{N} e^{s \cos(a_i, p_j)} + \sum_{j=1}^{M} e^{s \cos(a_i, n_j)}}

    (seed 002, *Multiple Negative Ranking Loss*). Candidates are the batch's
    positives plus optional hard ``negatives`` shared by every anchor (as in
    sentence-transformers' ``MultipleNegativesRankingLoss``).

    Args:
        anchors: ``[N, D]``, floating.
        positives: ``[N, D]``.
        negatives: optional hard negatives ``[M, D]``.
        scale: ``s > 0`` (inverse temperature).
        sample_weight: optional per-anchor weights ``[N]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[N]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> ll.multiple_negatives_ranking(a, a, scale=1.0, reduction="none")   # log(1 + e^-1)
        tensor([0.3133, 0.3133])

    Reference: Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply", 2017.
    """
    check_embeddings("anchors", anchors, 2, "[N, D]")
    _same("anchors", anchors, "positives", positives)
    s = check_positive("scale", scale)
    anchors, positives, negatives = promote_floating(anchors, positives, negatives)
    check_hyper_magnitude("scale", s, anchors)
    check_reduction(reduction)
    cands = positives
    if negatives is not None:
        check_embeddings("negatives", negatives, 2, f"[M, {anchors.shape[-1]}]")
        if negatives.shape[-1] != anchors.shape[-1]:
            raise ValueError(f"negatives must have shape [M, {anchors.shape[-1]}]; got {tuple(negatives.shape)}")
        cands = torch.cat([positives, negatives], 0)
    logits = _scaled_logits(_unit(anchors), _unit(cands), s)
    labels = torch.arange(anchors.shape[0], device=anchors.device)
    return _reduce(F.cross_entropy(logits, labels, reduction="none"), reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Registry specs


def _pair_sample(batch_shape, *, dtype, generator):
    a = registry.randn(tuple(batch_shape) + (3,), dtype=dtype, generator=generator)
    b = registry.randn(tuple(batch_shape) + (3,), dtype=dtype, generator=generator)
    y = registry.randint(2, batch_shape, generator=generator)
    return registry.Sample((a, b, y), {"margin": 2.0}, grad_argnums=(0, 1), batched_argnums=(0, 1, 2), none_shape=tuple(batch_shape))


def _pair_extremes(dtype):
    a = torch.tensor([[1e4, -1e4], [1e4, 1e4], [0.0, 0.0], [1.0, 2.0]], dtype=dtype)
    b = torch.tensor([[-1e4, 1e4], [1e4, 1e4], [0.0, 0.0], [1.0, 2.0]], dtype=dtype)
    y = torch.tensor([1, 0, 0, 1])
    return [registry.Sample((a, b, y), grad_argnums=(0, 1), none_shape=(4,))]


def _triplet_sample(batch_shape, *, dtype, generator):
    xs = [registry.randn(tuple(batch_shape) + (3,), dtype=dtype, generator=generator) for _ in range(3)]
    return registry.Sample(tuple(xs), {"margin": 1.0}, grad_argnums=(0, 1, 2), batched_argnums=(0, 1, 2), none_shape=tuple(batch_shape))


def _triplet_extremes(dtype):
    a = torch.tensor([[1e4, -1e4], [0.0, 0.0], [1.0, 1.0]], dtype=dtype)
    p = torch.tensor([[-1e4, 1e4], [0.0, 0.0], [1.0, 1.0]], dtype=dtype)
    n = torch.tensor([[1e4, -1e4], [0.0, 0.0], [1e4, 1e4]], dtype=dtype)
    return [
        registry.Sample((a, p, n), grad_argnums=(0, 1, 2), none_shape=(3,)),
        registry.Sample((a, p, n), {"swap": True}, grad_argnums=(0, 1, 2), none_shape=(3,)),
    ]


def _batch_pair_sample(**kw):
    def sample(batch_shape, *, dtype, generator):
        N = int(batch_shape[0])
        a = registry.randn((N, 3), dtype=dtype, generator=generator)
        b = registry.randn((N, 3), dtype=dtype, generator=generator)
        return registry.Sample((a, b), dict(kw), grad_argnums=(0, 1), batched_argnums=(), none_shape=(N,))

    return sample


def _batch_pair_extremes(**kw):
    def extremes(dtype):
        a = torch.tensor([[1e4, -1e4], [0.0, 0.0], [1e4, 1e4]], dtype=dtype)
        b = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype=dtype)
        return [registry.Sample((a, b), dict(kw), grad_argnums=(0, 1), none_shape=(3,))]

    return extremes


def _info_nce_sample(batch_shape, *, dtype, generator):
    N = int(batch_shape[0])
    q = registry.randn((N, 3), dtype=dtype, generator=generator)
    k = registry.randn((N, 3), dtype=dtype, generator=generator)
    neg = registry.randn((N, 2, 3), dtype=dtype, generator=generator)
    return registry.Sample((q, k, neg), {"temperature": 0.5}, grad_argnums=(0, 1, 2), batched_argnums=(), none_shape=(N,))


def _info_nce_extremes(dtype):
    base = _batch_pair_extremes(temperature=0.01)(dtype)[0]
    q, k = base.args
    neg = torch.tensor([[1e4, 0.0], [0.0, -1e4]], dtype=dtype)
    return [base, registry.Sample((q, k, neg), {"temperature": 0.01}, grad_argnums=(0, 1, 2), none_shape=(3,))]


def _mnr_extremes(dtype):
    base = _batch_pair_extremes(scale=100.0)(dtype)[0]
    q, k = base.args
    neg = torch.tensor([[1e4, 0.0], [0.0, -1e4]], dtype=dtype)
    return [base, registry.Sample((q, k, neg), {"scale": 100.0}, grad_argnums=(0, 1, 2), none_shape=(3,))]


def _ref_contrastive(x1, x2, target, *, margin=1.0, **_):
    d = F.pairwise_distance(x1, x2, eps=0.0)
    y = target.to(x1.dtype)
    return 0.5 * y * d**2 + 0.5 * (1 - y) * torch.relu(margin - d) ** 2


def _ref_triplet(anchor, positive, negative, *, margin=1.0, swap=False, **_):
    dist = lambda x, y: F.pairwise_distance(x, y, eps=0.0)  # noqa: E731
    flat = [t.reshape(-1, t.shape[-1]) for t in (anchor, positive, negative)]
    out = F.triplet_margin_with_distance_loss(*flat, distance_function=dist, margin=margin, swap=swap, reduction="none")
    return out.reshape(anchor.shape[:-1])


def _register() -> None:
    R, S, fam = registry.register, registry.LossSpec, "contrastive"
    R(S("contrastive", contrastive, fam, "embeddings [..., D] any real; target in {0, 1}; margin > 0",
        _pair_sample, _pair_extremes, reference=_ref_contrastive))
    R(S("triplet", triplet, fam, "embeddings [..., D] any real; margin > 0", _triplet_sample, _triplet_extremes,
        reference=_ref_triplet))
    R(S("info_nce", info_nce, fam, "query, keys [N, D] any real (L2-normalised inside); temperature > 0",
        _info_nce_sample, _info_nce_extremes, leading_batch_dims=False, notes="in-batch / shared negatives: rows interact"))
    R(S("nt_xent", nt_xent, fam, "views [N, D] any real (L2-normalised inside); temperature > 0",
        _batch_pair_sample(temperature=0.5), _batch_pair_extremes(temperature=0.05), leading_batch_dims=False,
        notes="in-batch negatives: rows interact"))
    R(S("multiple_negatives_ranking", multiple_negatives_ranking, fam, "anchors, positives [N, D] any real; scale > 0",
        _batch_pair_sample(scale=5.0), _mnr_extremes, leading_batch_dims=False, notes="in-batch negatives: rows interact"))


_register()


# ---------------------------------------------------------------------------------
# PyTorch's names with PyTorch's arguments and positional order (torch.nn.functional).


@old_weight_keyword
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None, reduce=None,
                        reduction="mean", *, sample_weight=None):
    """``torch.nn.functional.triplet_margin_loss``: :func:`triplet` with PyTorch's ``p``-norm distance ``‖x − y + ε‖_p``.

    Args:
        anchor, positive, negative: embeddings ``[N, D]`` or ``[D]``, floating, same shape.
        margin: ``m > 0``.
        p: the norm's degree.
        eps: PyTorch's ``ε`` added to the difference (keeps the gradient finite at 0).
        swap: use the distance swap (Balntas et al. 2016).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-triplet weights ``[N]``.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
        >>> torch.allclose(ll.triplet_margin_loss(a, p, n), F.triplet_margin_loss(a, p, n))
        True
    """
    distance = functools.partial(F.pairwise_distance, p=p, eps=eps)
    return triplet(anchor, positive, negative, margin=margin, distance=distance, swap=swap, sample_weight=sample_weight,
                   reduction=legacy_reduction(size_average, reduce, reduction))


@old_weight_keyword
def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean", sample_weight=None):
    """``torch.nn.functional.triplet_margin_with_distance_loss``: :func:`triplet` with PyTorch's argument names.

    Args:
        anchor, positive, negative: embeddings ``[N, D]`` or ``[D]``, floating, same shape.
        distance_function: callable ``(x, y) -> [N]``; ``None`` is ``F.pairwise_distance`` (PyTorch's default).
        margin: ``m > 0``.
        swap: use the distance swap.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-triplet weights ``[N]``.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
        >>> torch.allclose(ll.triplet_margin_with_distance_loss(a, p, n), F.triplet_margin_with_distance_loss(a, p, n))
        True
    """
    distance = F.pairwise_distance if distance_function is None else distance_function
    return triplet(anchor, positive, negative, margin=margin, distance=distance, swap=swap, sample_weight=sample_weight,
                   reduction=reduction)


def _scaled_logits(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """``c · a @ b.T`` with the scale applied to the smaller operand: the ``[N, D]``
    embeddings when ``D ≤ M`` (the usual case), else the ``[N, M]`` product in place (a
    scalar ``mul_`` keeps nothing for backward), so no second ``[N, M]`` matrix is made."""
    if a.shape[-1] <= b.shape[0]:
        return (a * c) @ b.T
    return (a @ b.T).mul_(c)
