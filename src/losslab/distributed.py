"""Losses across processes: the global batch under data parallelism, the sharded vocabulary under class parallelism.

Built on :mod:`torch.distributed` and its differentiable collectives
(:mod:`torch.distributed.nn.functional`); no communication layer of its own. Importing
this module never initialises anything: with ``group=None`` and no process group
initialised every function is the single-process loss of the core.

**Global-batch losses** (data parallel: each rank holds some rows of the batch, ranks
may hold different numbers of rows). :func:`batch_cross_entropy`,
:func:`batch_max_margin` (seed 001, Definitions 2-3), :func:`info_nce`,
:func:`nt_xent`, :func:`multiple_negatives_ranking`, :func:`in_batch_negatives_loss`
and :func:`ge2e` compute the loss of the *concatenated* batch (rows in rank order),
communicating only what the loss needs: a global log-sum-exp (one all-reduce MAX, one
all-reduce SUM of one number), the per-rank extreme logits (an all-gather of two numbers
per rank), or the keys/embeddings the other ranks' queries are scored against
(a differentiable all-gather; gradients flow back to the rank that owns each row).
Each rank scores only its own rows against the global batch.

**Gradient-scale convention.** With ``W`` ranks and a ``'mean'`` or ``'sum'``
reduction, each rank returns ``W ×`` its share of the global loss (the shares sum to
the global loss), so

* the average of the returned values over ranks is the global loss ``L``;
* the gradient a rank gets for a tensor, averaged over ranks as
  :class:`~torch.nn.parallel.DistributedDataParallel` averages parameter gradients
  (a row a rank does not hold counts as 0 there), equals the single-process gradient of
  ``L`` on the concatenated batch. For a row input that is ``W × ∂L/∂row`` on its
  owning rank; for a replicated parameter, DDP's mean is ``∂L/∂θ`` exactly.

``reduction='none'`` returns the rank's own per-example terms of the global loss
(exactly the single-process terms of those rows); reduce them yourself.

**A rank may hold zero rows.** It still joins every collective, forward and backward (so it
must call ``backward()`` on what it returns, like the others), and returns ``0`` (an empty
tensor for ``'none'``), its share of the global loss; :func:`batch_max_margin` returns its
``W × 1/W`` share of the batch term, ``(γ − z₊ + z₋)₊`` (``/ m`` for ``'mean'``).

**Class-parallel (vocabulary-parallel) losses.** :func:`vocab_parallel_cross_entropy`,
:func:`vocab_parallel_self_normalization` and :func:`vocab_parallel_composite_softmax_loss`
take each rank's contiguous slice ``[class_start, class_start + K_local)`` of the
``[B, K]`` logits (every rank holds all ``B`` rows), :func:`vocab_parallel_sampled_softmax_loss`
the same slice of the output weight, and return the unsharded loss on every rank. A forward issues two all-reduces of ``O(B)`` numbers (a MAX, then one fused SUM);
the backward is local (the forward saved the global normalisers) and the gradient of
the local logits is the matching slice of the unsharded gradient. Logits are never
gathered. On float32/float64 CPU shards (``impl='auto'``) the local work runs on fused
operators of :mod:`losslab.kernels`: one statistics pass per shard before the collectives
(sums taken relative to the shard's own row max, moved onto the global max in ``O(B)``)
and one gradient pass in backward. The gradient of a hidden state replicated across the class-parallel group
must be summed over the group by the layer that produced the logits, as in any
tensor-parallel linear layer.

:func:`communication` counts the collectives issued by this module and their bytes.

Reference: Keren, Sabato & Schuller, 2019 (Definitions 2-3); Shoeybi et al.,
"Megatron-LM", 2019 (vocabulary-parallel cross-entropy).
"""
from __future__ import annotations

import math
import importlib
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import classification as _classification
from . import kernels as _kernels
from . import matching as _matching
from . import sampled as _sampled
from . import single_logit as _single_logit
from ._catalogue import check_class_weight, check_embeddings, reduce_with_denominator
from ._reduce import _reduce
from ._validate import (
    check_choice,
    check_class_indices,
    check_finite_scalar,
    check_floating,
    check_integer,
    check_positive,
    check_reduction,
    promote_floating,
    value_checks_enabled,
)

# ``losslab.contrastive`` the attribute is the loss function (re-exported by the package),
# so the module is looked up by name.
_contrastive = importlib.import_module(".contrastive", __package__)

__all__ = [
    "global_batch_group",
    "batch_cross_entropy",
    "batch_max_margin",
    "info_nce",
    "nt_xent",
    "multiple_negatives_ranking",
    "in_batch_negatives_loss",
    "ge2e",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_self_normalization",
    "vocab_parallel_composite_softmax_loss",
    "vocab_parallel_sampled_softmax_loss",
    "communication",
    "reset_communication",
]


# ---------------------------------------------------------------------------------
# Process groups, counted collectives


_COMM = {"collectives": 0, "bytes": 0}


def communication() -> dict:
    """``{'collectives': n, 'bytes': b}`` issued by this module's forwards and backwards since the last reset.

    ``bytes`` counts what this rank contributes to each collective (the tensor it sends;
    for an all-gather, its own padded part).
    """
    return dict(_COMM)


def reset_communication() -> None:
    """Zero the counters of :func:`communication`."""
    _COMM["collectives"] = 0
    _COMM["bytes"] = 0


def _count(t: torch.Tensor) -> None:
    _COMM["collectives"] += 1
    _COMM["bytes"] += t.numel() * t.element_size()


def global_batch_group(group=None):
    """The process group a distributed loss runs on, or ``None`` for the single-process loss.

    ``group=None`` means the default (world) group when :mod:`torch.distributed` is
    initialised and the single-process loss otherwise; a ``group`` given while
    :mod:`torch.distributed` is not initialised is a ``ValueError``.
    """
    ready = dist.is_available() and dist.is_initialized()
    if not ready:
        if group is None:
            return None
        raise ValueError(
            f"group={group!r} was given but torch.distributed is not initialised; call "
            "torch.distributed.init_process_group first (torchrun does the rendezvous), or pass group=None "
            "for the single-process loss"
        )
    return dist.group.WORLD if group is None else group


def _all_reduce_(t: torch.Tensor, op, group) -> torch.Tensor:
    """In-place, non-differentiable all-reduce (counted); ``group=None``: one process, nothing to reduce."""
    if group is None:
        return t
    _count(t)
    dist.all_reduce(t, op=op, group=group)
    return t


def _diff_all_gather(t: torch.Tensor, group) -> list[torch.Tensor]:
    """Differentiable all-gather (counted, its backward all-to-all too): the gradient of each
    gathered part returns to the rank that sent it."""
    from torch.distributed.nn.functional import all_gather

    _count(t)
    with warnings.catch_warnings():
        # Deprecated in torch 2.13 like all_reduce below; its replacement has no autograd.
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*all_gather is deprecated")
        return list(all_gather(_CountBackward.apply(t, dist.get_world_size(group)), group=group))


def _all_reduce_diff(t: torch.Tensor, group) -> torch.Tensor:
    """Differentiable SUM all-reduce: its backward all-reduces the gradients, so the
    gradient of a global sum reaches every rank's summands (counted, backward too)."""
    from torch.distributed.nn.functional import all_reduce

    _count(t)
    with warnings.catch_warnings():
        # torch 2.13 marks it deprecated in favour of _functional_collectives.all_reduce,
        # which has no autograd; this one's backward is the all-reduce of the gradients.
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*all_reduce is deprecated")
        summed = all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return _CountBackward.apply(summed)


class _CountBackward(torch.autograd.Function):
    """Identity whose backward counts one collective of ``factor ×`` the gradient's size (the
    differentiable all-reduce sends its gradient; the all-gather's backward, an all-to-all,
    sends one gradient-sized part to each of the ``W`` ranks)."""

    @staticmethod
    def forward(ctx, t, factor=1):
        ctx.factor = factor
        return t.view_as(t)

    @staticmethod
    def backward(ctx, g):
        _count(g)
        _COMM["bytes"] += (ctx.factor - 1) * g.numel() * g.element_size()
        return g, None


def _gather_table(values: list[int], device, group) -> list[list[int]]:
    """All-gather a few integers per rank (one tiny collective): ``table[r]`` is rank ``r``'s list."""
    t = torch.tensor(values, dtype=torch.int64, device=device)
    out = [torch.empty_like(t) for _ in range(dist.get_world_size(group))]
    _count(t)
    dist.all_gather(out, t, group=group)
    return [o.tolist() for o in out]


def _gather_rows(x: torch.Tensor, sizes: list[int], group) -> torch.Tensor:
    """Differentiable all-gather of ``x`` along dim 0 where rank ``r`` holds ``sizes[r]`` rows.

    The collective needs equal shapes: pad to the largest part, gather, drop the padding.
    The backward routes each part's gradient to the rank that owns it.
    """
    n_max = max(sizes)
    pad = n_max - x.shape[0]
    xp = torch.cat([x, x.new_zeros((pad,) + tuple(x.shape[1:]))], 0) if pad else x
    parts = _diff_all_gather(xp, group)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)], 0)


def _gather_labels(labels: torch.Tensor, sizes: list[int], group) -> torch.Tensor:
    """Non-differentiable all-gather of integer rows with padding."""
    n_max = max(sizes)
    pad = n_max - labels.shape[0]
    lp = torch.cat([labels, labels.new_zeros(pad)]) if pad else labels.contiguous()
    out = [torch.empty_like(lp) for _ in sizes]
    _count(lp)
    dist.all_gather(out, lp, group=group)
    return torch.cat([o[:n] for o, n in zip(out, sizes)])


def _rows_layout(name: str, x: torch.Tensor, extra: list[int], group) -> tuple[list[int], int, int, int]:
    """Gather ``[rows, *extra]`` of every rank; check that ``extra`` (feature sizes, K…) agrees.

    Returns ``(sizes, offset, world, rank)``. Raises the same ``ValueError`` on every rank
    when the ranks disagree, so no rank is left waiting in a later collective.
    """
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    table = _gather_table([x.shape[0]] + list(extra), x.device, group)
    if any(row[1:] != table[0][1:] for row in table):
        raise ValueError(
            f"{name}: the ranks disagree on the shape of {name} beyond the batch dim; "
            f"per rank [rows, ...] = {table}"
        )
    sizes = [row[0] for row in table]
    return sizes, sum(sizes[:rank]), world, rank


def _global_reduce(terms: torch.Tensor, reduction: str, sample_weight, world: int, count: int, group) -> torch.Tensor:
    """``W ×`` this rank's share of the global ``'mean'``/``'sum'``; the terms for ``'none'``.

    A weighted mean divides by the global ``Σw`` (one extra all-reduce of one number).
    """
    if sample_weight is not None:
        if not isinstance(sample_weight, torch.Tensor) or sample_weight.shape != terms.shape:
            raise ValueError(
                f"sample_weight must be a tensor of shape {tuple(terms.shape)} (this rank's rows); got "
                f"{tuple(sample_weight.shape) if isinstance(sample_weight, torch.Tensor) else sample_weight!r}"
            )
        terms = terms * sample_weight
    if reduction == "none":
        return terms
    total = terms.sum() * world
    if reduction == "sum":
        return total
    if sample_weight is None:
        return total / count if count > 0 else total
    denom = _all_reduce_(sample_weight.detach().sum().reshape(1).to(terms.dtype).clone(), dist.ReduceOp.SUM, group)[0]
    return total / torch.where(denom == 0, torch.ones_like(denom), denom)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def _ce_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(logits, -1) - logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


# ---------------------------------------------------------------------------------
# Global-batch losses (seed 001, Definitions 2-3)


def batch_cross_entropy(logits, labels, *, group=None, sample_weight=None, reduction="mean"):
    r"""Batch cross-entropy (Definition 2) of the global batch: one softmax over all ranks' ``B×K`` logits.

    .. math::

        \ell_i = \mathrm{lse}(z_{\text{all ranks}}) - z_{y_i}(x_i) - \log m, \qquad
        L_c = \tfrac1m \textstyle\sum_{i=1}^m \ell_i

    with ``m`` the global batch size. The global log-sum-exp is an all-reduce MAX of the
    per-rank maxima (a shift; no gradient needed) then a differentiable all-reduce SUM of
    the shifted sums, so the gradient of the normaliser reaches every rank's logits.
    Communicates 3 tiny collectives forward (the row counts, MAX, SUM) and one of
    one number backward.

    Args:
        logits: ``[B_r, K]`` this rank's rows (``B_r`` may differ per rank, ``Σ B_r > 1``).
        labels: ``[B_r]`` class indices.
        group: process group; ``None``: the world group if initialised, else the single-process
            :func:`losslab.batch_cross_entropy`.
        sample_weight: not supported (must be ``None``): the batch distribution couples examples.
        reduction: ``'mean'`` (``W×`` this rank's share of ``L_c``), ``'sum'`` (``W×`` its share of
            ``m·L_c``) or ``'none'`` (this rank's ``ℓ_i``). See the module's gradient-scale convention.

    Returns:
        A scalar, or ``[B_r]`` for ``'none'``.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[0.0, -30.0], [-30.0, 0.0]]), torch.tensor([0, 1])
        >>> bool(ll.distributed.batch_cross_entropy(z, y) == ll.batch_cross_entropy(z, y))   # no process group
        True

    Reference: Keren, Sabato & Schuller, 2019, Definition 2.
    """
    g = global_batch_group(group)
    if g is None:
        return _single_logit.batch_cross_entropy(logits, labels, sample_weight=sample_weight, reduction=reduction)
    _check_rows_logits("batch_cross_entropy", logits, labels)
    _single_logit._no_weight("batch_cross_entropy", sample_weight)
    check_reduction(reduction)
    sizes, _, world, _ = _rows_layout("logits", logits, [logits.shape[1]], g)
    m = sum(sizes)
    if m < 2:
        raise ValueError(f"batch_cross_entropy is a batch loss and needs a global batch of m > 1 examples; got rows per rank {sizes}")
    z = logits
    local_max = z.detach().amax() if z.numel() else z.new_full((), float("-inf"))
    shift = _all_reduce_(local_max.reshape(1).clone(), dist.ReduceOp.MAX, g)
    # As torch.logsumexp: an infinite max is not subtracted.
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    local_sum = torch.exp(z - shift).sum().reshape(1)
    lse = torch.log(_all_reduce_diff(local_sum, g))[0] + shift[0]
    terms = lse - _single_logit._true_logit(z, labels) - math.log(m)
    return _global_reduce(terms, reduction, None, world, m, g)


def batch_max_margin(logits, labels, *, margin=1.0, group=None, sample_weight=None, reduction="mean"):
    r"""Batch max-margin (Definition 3) of the global batch: the smallest true and largest false logit over all ranks.

    .. math::

        L_m = \tfrac1m \max(0, \gamma - z^B_+ + z^B_-) + \tfrac1m \textstyle\sum_{i=1}^m \ell(z(x_i), y_i)

    Each rank's extremes (two numbers) are all-gathered differentiably and the global
    min/max taken, so the batch term's gradient reaches only the rank that owns the
    arg-min true logit and the arg-max false logit.

    Args:
        logits: ``[B_r, K]`` this rank's rows (``Σ B_r > 1``).
        labels: ``[B_r]``.
        margin: ``γ > 0``.
        group: as in :func:`batch_cross_entropy`.
        sample_weight: not supported (must be ``None``).
        reduction: ``'mean'`` | ``'sum'``; the returned value is ``W×`` this rank's share
            (the batch term counts ``1/W`` on each rank).

    Returns:
        A scalar.

    Reference: Keren, Sabato & Schuller, 2019, Definition 3.
    """
    g = global_batch_group(group)
    if g is None:
        return _single_logit.batch_max_margin(logits, labels, margin=margin, sample_weight=sample_weight, reduction=reduction)
    _check_rows_logits("batch_max_margin", logits, labels)
    gamma = check_positive("margin", margin)
    _single_logit._no_weight("batch_max_margin", sample_weight)
    check_reduction(reduction)
    if reduction == "none":
        raise ValueError("batch_max_margin has no per-example form; reduction must be 'mean' or 'sum', got 'none'")
    sizes, _, world, _ = _rows_layout("logits", logits, [logits.shape[1]], g)
    m = sum(sizes)
    if m < 2:
        raise ValueError(f"batch_max_margin is a batch loss and needs a global batch of m > 1 examples; got rows per rank {sizes}")
    true = _single_logit._true_logit(logits, labels)
    false = logits.masked_fill(~_single_logit._false_mask(logits, labels), float("-inf"))
    if logits.shape[0]:
        ext = torch.stack([true.amin(), false.amax()])
    else:  # a rank without rows takes no part in the extremes, but its gather must still
        # be differentiable (attached to the logits) so that it joins the backward collective
        ext = logits.new_tensor([float("inf"), float("-inf")]) + logits.sum()
    parts = torch.stack(_diff_all_gather(ext, g))  # [W, 2]
    z_plus, z_minus = parts[:, 0].amin(), parts[:, 1].amax()
    batch_term = torch.clamp_min(gamma - z_plus + z_minus, 0.0)
    per_example = torch.clamp_min(gamma - true + false.amax(-1), 0.0) if logits.shape[0] else true
    total = batch_term + world * per_example.sum()
    return total / m if reduction == "mean" else total


def _check_rows_logits(name, logits, labels):
    check_floating("logits", logits)
    check_integer("labels", labels)
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"{name} takes this rank's logits of shape [B_r, K] with K >= 2; got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape {tuple(logits.shape[:1])}; got {tuple(labels.shape)}")
    check_class_indices("labels", labels, logits.shape[1])


# ---------------------------------------------------------------------------------
# In-batch contrastive losses: gather the keys, score the local queries


def info_nce(query, positive_key, negative_keys=None, *, temperature=0.1, group=None, sample_weight=None, reduction="mean"):
    r"""InfoNCE of the global batch: each rank's queries against every rank's positive keys.

    Same loss as :func:`losslab.info_nce` on the concatenated batch. With
    ``negative_keys=None`` the negatives are all other rows' keys across ranks: the
    unit-normalised keys are all-gathered (``N·D`` numbers) and their gradients flow back
    to the owning rank. With explicit ``negative_keys`` the loss has no in-batch coupling
    and only the mean is global.

    Args:
        query, positive_key: ``[N_r, D]`` this rank's rows.
        negative_keys: ``None``, ``[M, D]`` or ``[N_r, M, D]``, as in :func:`losslab.info_nce`.
        temperature: ``τ > 0``.
        group: process group (``None``: world if initialised, else single process).
        sample_weight: ``[N_r]`` per-query weights (a weighted mean divides by the global ``Σw``).
        reduction: ``'mean'`` | ``'sum'`` (``W×`` this rank's share) | ``'none'`` (this rank's terms).

    Returns:
        A scalar, or ``[N_r]`` for ``'none'``.

    Reference: van den Oord, Li & Vinyals, 2018.
    """
    g = global_batch_group(group)
    if g is None:
        return _contrastive.info_nce(query, positive_key, negative_keys, temperature=temperature,
                                     sample_weight=sample_weight, reduction=reduction)
    check_embeddings("query", query, 2, "[N, D]")
    _contrastive._same("query", query, "positive_key", positive_key)
    t = check_positive("temperature", temperature)
    check_reduction(reduction)
    query, positive_key = promote_floating(query, positive_key)
    # The flag makes ranks that disagree on in-batch vs explicit negatives raise together
    # instead of waiting in different collectives.
    sizes, offset, world, _ = _rows_layout("query", query, [query.shape[1], int(negative_keys is None)], g)
    if negative_keys is not None:
        terms = _contrastive.info_nce(query, positive_key, negative_keys, temperature=temperature, reduction="none")
    else:
        keys = _gather_rows(_unit(positive_key), sizes, g)
        logits = _unit(query) @ keys.T / t
        labels = torch.arange(offset, offset + query.shape[0], device=query.device)
        terms = _ce_rows(logits, labels)
    return _global_reduce(terms, reduction, sample_weight, world, sum(sizes), g)


def nt_xent(z1, z2, *, temperature=0.5, group=None, sample_weight=None, reduction="mean"):
    r"""NT-Xent (SimCLR) of the global batch: every view on every rank is a negative.

    Same loss as :func:`losslab.nt_xent` on the concatenated pairs. Each rank all-gathers
    the unit-normalised ``[z1 | z2]`` (``2·N·D`` numbers) and scores its own ``2·N_r``
    anchors against the ``2·N`` views.

    Args:
        z1, z2: ``[N_r, D]`` this rank's two views.
        temperature: ``τ > 0``.
        group, sample_weight, reduction: as in :func:`info_nce` (weights are per pair).

    Returns:
        A scalar, or ``[N_r]`` for ``'none'``.

    Reference: Chen, Kornblith, Norouzi & Hinton, ICML 2020.
    """
    g = global_batch_group(group)
    if g is None:
        return _contrastive.nt_xent(z1, z2, temperature=temperature, sample_weight=sample_weight, reduction=reduction)
    check_embeddings("z1", z1, 2, "[N, D]")
    _contrastive._same("z1", z1, "z2", z2)
    t = check_positive("temperature", temperature)
    check_reduction(reduction)
    sizes, offset, world, _ = _rows_layout("z1", z1, [z1.shape[1]], g)
    N, n, D = sum(sizes), z1.shape[0], z1.shape[1]
    u1, u2 = _unit(z1), _unit(z2)
    both = _gather_rows(torch.cat([u1, u2], 1), sizes, g)
    views = torch.cat([both[:, :D], both[:, D:]], 0)  # [2N, D] in nt_xent's order [z1; z2]
    sim = torch.cat([u1, u2], 0) @ views.T / t  # [2n, 2N]
    local = torch.arange(offset, offset + n, device=z1.device)
    own = torch.cat([local, local + N])
    partner = torch.cat([local + N, local])
    sim = sim.masked_fill(F.one_hot(own, 2 * N).bool(), float("-inf"))
    per_anchor = _ce_rows(sim, partner)
    terms = 0.5 * (per_anchor[:n] + per_anchor[n:])
    return _global_reduce(terms, reduction, sample_weight, world, N, g)


def multiple_negatives_ranking(anchors, positives, negatives=None, *, scale=20.0, group=None, sample_weight=None,
                               reduction="mean"):
    r"""Multiple negatives ranking loss of the global batch: every rank's positives (and hard negatives) are candidates.

    Same loss as :func:`losslab.multiple_negatives_ranking` on the concatenated
    anchors, positives and negatives (each in rank order), as sentence-transformers'
    ``gather_across_devices``. Gathers the unit-normalised positives and negatives.

    Args:
        anchors, positives: ``[N_r, D]`` this rank's rows.
        negatives: ``None`` on every rank, or ``[M_r, D]`` on every rank.
        scale: ``s > 0``.
        group, sample_weight, reduction: as in :func:`info_nce`.

    Returns:
        A scalar, or ``[N_r]`` for ``'none'``.

    Reference: Henderson et al., 2017.
    """
    g = global_batch_group(group)
    if g is None:
        return _contrastive.multiple_negatives_ranking(anchors, positives, negatives, scale=scale,
                                                       sample_weight=sample_weight, reduction=reduction)
    check_embeddings("anchors", anchors, 2, "[N, D]")
    _contrastive._same("anchors", anchors, "positives", positives)
    s = check_positive("scale", scale)
    check_reduction(reduction)
    D = anchors.shape[1]
    if negatives is not None:
        check_embeddings("negatives", negatives, 2, f"[M, {D}]")
        if negatives.shape[-1] != D:
            raise ValueError(f"negatives must have shape [M, {D}]; got {tuple(negatives.shape)}")
    m_r = -1 if negatives is None else negatives.shape[0]
    world, rank = dist.get_world_size(g), dist.get_rank(g)
    table = _gather_table([anchors.shape[0], D, m_r], anchors.device, g)
    if any(row[1] != D for row in table) or any((row[2] < 0) != (m_r < 0) for row in table):
        raise ValueError(f"multiple_negatives_ranking: ranks disagree on D or on whether negatives are given; per rank [N_r, D, M_r or -1] = {table}")
    sizes = [row[0] for row in table]
    offset = sum(sizes[:rank])
    cands = _gather_rows(_unit(positives), sizes, g)
    if negatives is not None:
        cands = torch.cat([cands, _gather_rows(_unit(negatives), [row[2] for row in table], g)], 0)
    logits = s * (_unit(anchors) @ cands.T)
    labels = torch.arange(offset, offset + anchors.shape[0], device=anchors.device)
    return _global_reduce(_ce_rows(logits, labels), reduction, sample_weight, world, sum(sizes), g)


def in_batch_negatives_loss(hidden, out_weight, out_bias, labels, *, proposal=None, counts=None, power=1.0,
                            logq_correction=True, remove_accidental_hits=True, sparse_grad=False, group=None,
                            sample_weight=None, reduction="mean"):
    r"""In-batch negatives softmax (Yi et al. 2019) whose candidates are the labels of the global batch.

    Same loss as :func:`losslab.in_batch_negatives_loss` on the concatenated batch. The
    output layer is replicated (as under DDP), so only the labels are all-gathered
    (``N`` integers); each rank scores its own hidden states against the candidate rows
    ``out_weight[labels_all]`` locally. The batch frequencies of the logQ correction and
    the accidental hits are those of the global batch.

    Args:
        hidden: ``[B_r, d]`` this rank's rows; out_weight ``[K, d]``, out_bias ``[K]`` or ``None``
            (replicated); labels ``[B_r]``.
        proposal, counts, power, logq_correction, remove_accidental_hits, sparse_grad: as in
            :func:`losslab.in_batch_negatives_loss`.
        group, sample_weight, reduction: as in :func:`info_nce`.

    Returns:
        A scalar, or ``[B_r]`` for ``'none'``.

    Reference: Yi et al., RecSys 2019.
    """
    g = global_batch_group(group)
    if g is None:
        return _sampled.in_batch_negatives_loss(
            hidden, out_weight, out_bias, labels, proposal=proposal, counts=counts, power=power,
            logq_correction=logq_correction, remove_accidental_hits=remove_accidental_hits,
            sparse_grad=sparse_grad, sample_weight=sample_weight, reduction=reduction)
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _sampled._check_options(power, sparse_grad=sparse_grad, remove_accidental_hits=remove_accidental_hits,
                            logq_correction=logq_correction)
    K, _ = _sampled._check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    sizes, offset, world, _ = _rows_layout("hidden", hidden, [hidden.shape[1], K], g)
    B, n = sum(sizes), hidden.shape[0]
    labels_all = _gather_labels(labels, sizes, g)
    s = _sampled._candidate_logits(hidden, out_weight, out_bias, labels_all, sparse_grad)  # [n, B]
    if logq_correction:
        if proposal is None:
            if counts is not None:
                raise ValueError("counts needs proposal='unigram'")
            freq = (labels_all.unsqueeze(0) == labels_all.unsqueeze(1)).sum(1).to(hidden.dtype)
            log_q = torch.log(freq / B)
        else:
            q = _sampled._proposal_probs(proposal, K, counts, power, hidden.dtype, hidden.device)
            log_q = _sampled._log_q(labels_all, K, proposal, q, hidden.dtype)
        s = s - log_q.unsqueeze(0)
    own = torch.arange(offset, offset + n, device=hidden.device)
    if remove_accidental_hits:
        dup = (labels.unsqueeze(1) == labels_all.unsqueeze(0)) & ~F.one_hot(own, B).bool()
        s = s.masked_fill(dup, float("-inf"))
    terms = torch.logsumexp(s, dim=1) - s.gather(1, own.unsqueeze(1)).squeeze(1)
    return _global_reduce(terms, reduction, sample_weight, world, B, g)


def ge2e(embeddings, *, variant="softmax", w=10.0, b=-5.0, group=None, sample_weight=None, reduction="mean"):
    r"""GE2E of the global batch: speakers split over ranks, every rank's centroids in every softmax.

    Same loss as :func:`losslab.ge2e` on the speakers concatenated in rank order. Each
    rank all-gathers the unit-normalised centroids of its speakers (``N·D`` numbers;
    gradients flow back to the owning rank); the leave-one-out centroids of an
    utterance's own speaker are local.

    Args:
        embeddings: ``[N_r, M, D]`` this rank's speakers (``M ≥ 2`` and ``D`` equal on all ranks,
            ``Σ N_r ≥ 2``).
        variant: ``'softmax'`` | ``'contrast'``.
        w, b: as in :func:`losslab.ge2e` (tensors: replicated parameters).
        group, reduction: as in :func:`info_nce`; sample_weight ``[N_r, M]``.

    Returns:
        A scalar, or ``[N_r, M]`` for ``'none'``.

    Reference: Wan et al., ICASSP 2018.
    """
    g = global_batch_group(group)
    if g is None:
        return _classification.ge2e(embeddings, variant=variant, w=w, b=b, sample_weight=sample_weight, reduction=reduction)
    check_choice("variant", variant, ("softmax", "contrast"))
    check_embeddings("embeddings", embeddings, 3, "[N speakers, M utterances, D]")
    check_reduction(reduction)
    if not isinstance(w, torch.Tensor):
        w = check_positive("w", w)
    n, M, D = embeddings.shape
    sizes, offset, world, _ = _rows_layout("embeddings", embeddings, [M, D], g)
    N = sum(sizes)
    if N < 2 or M < 2:
        raise ValueError(f"embeddings need N >= 2 speakers (over all ranks) and M >= 2 utterances; got speakers per rank {sizes}, M={M}")
    e = _unit(embeddings)
    centroids = _gather_rows(_unit(embeddings.mean(1)), sizes, g)  # [N, D]
    exclusive = _unit((embeddings.sum(1, keepdim=True) - embeddings) / (M - 1))
    cos = torch.einsum("nmd,kd->nmk", e, centroids)
    own = (e * exclusive).sum(-1)
    eye = F.one_hot(torch.arange(offset, offset + n, device=e.device), N).bool().unsqueeze(1)  # [n, 1, N]
    cos = torch.where(eye, own.unsqueeze(-1), cos)
    S = w * cos + b
    S_own = w * own + b
    if variant == "softmax":
        terms = torch.logsumexp(S, -1) - S_own
    else:
        terms = 1 - torch.sigmoid(S_own) + torch.sigmoid(S).masked_fill(eye, float("-inf")).amax(-1)
    return _global_reduce(terms, reduction, sample_weight, world, N * M, g)


# ---------------------------------------------------------------------------------
# Class-parallel (vocabulary-parallel) losses


# Elements per row chunk of the class-parallel passes: bounds the [rows, K_local]
# temporaries so that peak memory is the logits plus one gradient-sized tensor.
_CHUNK_ELEMENTS = 1 << 18


def _row_chunks(rows: int, k: int):
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    for start in range(0, rows, step):
        yield slice(start, start + step)


def _rescale(local_max: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``e^(m_r − m)``: moves a partial sum taken relative to this rank's own row max ``m_r``
    (not subtracted where infinite, as ``torch.logsumexp``) onto the global shift ``m``.
    0 where ``m_r = −∞``: every term of that partial sum is ``e^(−∞) = 0``."""
    own = torch.where(torch.isfinite(local_max), local_max, torch.zeros_like(local_max))
    return torch.where(local_max == float("-inf"), torch.zeros_like(own), torch.exp(own - shift))


def _shard_start(name: str, local: torch.Tensor, class_start, group, validate: bool) -> int:
    """This rank's first class. ``class_start=None``: the prefix sum of the ranks' sizes
    (one all-gather of three integers per rank, which also checks the layout)."""
    k_local, rows = local.shape[-1], local.shape[:-1].numel()
    _check_class_start(class_start)
    if class_start is not None and not validate:
        return class_start
    table = _gather_table([-1 if class_start is None else class_start, k_local, rows], local.device, group)
    return _shard_start_from_table(table, class_start, dist.get_rank(group))


class _VocabParallelLSE(torch.autograd.Function):
    """``(1−ε)·w_y·(lse(z) − z_y) + (ε/K)·Σ_k w_k (lse(z) − z_k) + α·lse(z)²`` over classes
    sharded across ``group`` (``w ≡ 1`` without class weights; 0 on ignored rows).

    Forward: all-reduce MAX of the row maxima, then one all-reduce SUM of ``[B, 3]``
    (shifted sum, true logit where owned, ownership count), widened only as needed: ``w_y``
    where owned (class weights), ``Σ_k w_k z_k`` per row and the two scalars ``K_local``,
    ``Σ_k w_k`` (label smoothing). Backward local: ``c·softmax − (1−ε) w_y·onehot − (ε/K) w``
    with ``c = (1−ε) w_y + (ε/K) Σw + 2α·lse``, the softmax recomputed from the saved ``lse``.
    """

    @staticmethod
    def forward(ctx, logits, labels, start, alpha, group, check, owned=None, eps=0.0, weight=None,
                ignore_index=None, fused=False):
        B, k = logits.shape
        z = logits.detach()
        valid = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
        idx = (labels - start).clamp(0, max(k - 1, 0))
        w = None if weight is None else weight.detach().to(z.dtype)
        tail = []
        if eps:  # the smoothing term needs K and Σ_k w_k too: same SUM
            tail = [float(k), float(w.sum()) if w is not None else float(k)]
        kernel_labels = None
        if fused:
            # One read of the shard: the local max and the sums relative to it, then the
            # sums moved onto the global max (O(B)). A given ``owned`` (sampled softmax)
            # becomes labels outside the shard where it is false.
            kernel_labels = labels if owned is None else torch.where(owned, labels, torch.full_like(labels, start - 1))
            stats = torch.ops.losslab.vocab_parallel_lse_stats(
                z.contiguous(), kernel_labels.contiguous(), start, ignore_index, w, bool(eps))
            m = _all_reduce_(stats[:, 0].clone(), dist.ReduceOp.MAX, group)
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            cols = [stats[:, 1] * _rescale(stats[:, 0], m), *stats[:, 2:].unbind(1)]
            owned = stats[:, 3] > 0
        else:
            m = z.amax(-1) if k else z.new_full((B,), float("-inf"))
            _all_reduce_(m, dist.ReduceOp.MAX, group)
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            s = z.new_empty(B)
            for sl in _row_chunks(B, k):
                s[sl] = torch.exp(z[sl] - m[sl, None]).sum(-1)
            if owned is None:
                owned = (labels >= start) & (labels < start + k) & valid
            zt = z.gather(1, idx.unsqueeze(1)).squeeze(1) if k else z.new_zeros(B)
            cols = [s, torch.where(owned, zt, torch.zeros_like(zt)), owned.to(z.dtype)]
            if w is not None:
                wt = w.gather(0, idx) if k else z.new_zeros(B)
                cols.append(torch.where(owned, wt, torch.zeros_like(wt)))
            if eps:  # Σ_k w_k z_k of each row
                cols.append((z @ w) if w is not None else z.sum(-1))
        buf = torch.cat([torch.stack(cols, 1).reshape(-1), z.new_tensor(tail)])
        _all_reduce_(buf, dist.ReduceOp.SUM, group)
        rows = buf[:B * len(cols)].view(B, len(cols))
        if check and bool(((rows[:, 2] != 1) & valid).any()):
            bad = ((rows[:, 2] != 1) & valid).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"labels: every label must lie in exactly one rank's class shard [class_start, class_start + K_local) "
                f"(global range [0, K)); labels at rows {bad} = {labels[bad].tolist()} do not"
            )
        lse = m + torch.log(rows[:, 0])
        wy = rows[:, 3] if w is not None else torch.ones_like(lse)
        loss = (1 - eps) * wy * (lse - rows[:, 1]) + alpha * lse.square()
        K = w_sum = 0.0
        if eps:
            K, w_sum = float(buf[-2]), float(buf[-1])
            loss = loss + eps / K * (w_sum * lse - rows[:, -1])
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        ctx.save_for_backward(logits, lse, idx, owned, valid, wy, w, kernel_labels)
        ctx.alpha, ctx.eps, ctx.K, ctx.w_sum, ctx.start = alpha, eps, K, w_sum, start
        ctx.mark_non_differentiable(wy)
        return loss, wy

    @staticmethod
    def backward(ctx, g, _):
        logits, lse, idx, owned, valid, wy, w, kernel_labels = ctx.saved_tensors
        eps = ctx.eps
        B, k = logits.shape
        g = torch.where(valid, g, torch.zeros_like(g))
        if kernel_labels is not None:  # the fused gradient pass: one read of the shard, one write
            coef = ((1 - eps) * wy + 2 * ctx.alpha * lse + (eps / ctx.K * ctx.w_sum if eps else 0.0)) * g
            onehot = torch.where(owned, (1 - eps) * wy * g, torch.zeros_like(g))
            smooth = (eps / ctx.K) * g if eps else None
            grad = torch.ops.losslab.vocab_parallel_lse_bwd(
                logits.detach().contiguous(), kernel_labels.contiguous(), ctx.start, lse.contiguous(), coef.contiguous(),
                onehot.contiguous(), smooth, w)
            return grad, None, None, None, None, None, None, None, None, None, None
        grad = torch.empty_like(logits, memory_format=torch.contiguous_format)
        coef = ((1 - eps) * wy + 2 * ctx.alpha * lse + (eps / ctx.K * ctx.w_sum if eps else 0.0)) * g
        for sl in _row_chunks(B, k):
            torch.sub(logits[sl], lse[sl, None], out=grad[sl]).exp_().mul_(coef[sl, None])
        rows = owned.nonzero().flatten()
        if k and rows.numel():
            grad[rows, idx[rows]] -= (1 - eps) * wy[rows] * g[rows]
        if eps:
            grad -= (eps / ctx.K) * g[:, None] * (w if w is not None else 1.0)
        return grad, None, None, None, None, None, None, None, None, None, None


def _check_validate_args(validate_args) -> None:
    if validate_args is not None and not isinstance(validate_args, bool):
        raise TypeError(f"validate_args must be None, True or False; got {validate_args!r}")


def _vocab_lse_loss(name, local_logits, labels, group, class_start, alpha, sample_weight, reduction, validate_args,
                    eps=0.0, weight=None, ignore_index=None, impl="auto"):
    _check_validate_args(validate_args)
    if impl not in _kernels.IMPLS:
        raise ValueError(f"impl must be one of 'auto', 'reference', 'fused'; got {impl!r}")
    check_floating("local_logits", local_logits)
    check_integer("labels", labels)
    check_reduction(reduction)
    if local_logits.dim() != 2:
        raise ValueError(f"local_logits must have shape [B, K_local]; got {tuple(local_logits.shape)}")
    if labels.shape != local_logits.shape[:1]:
        raise ValueError(f"labels must have shape {tuple(local_logits.shape[:1])}; got {tuple(labels.shape)}")
    g = global_batch_group(group)
    if g is None:
        if class_start not in (None, 0):
            raise ValueError(f"class_start={class_start!r} needs a process group; without one the logits hold all classes")
        if ignore_index is None:  # cross_entropy checks its labels itself
            check_class_indices("labels", labels, local_logits.shape[1])
        return None
    validate = bool(validate_args)
    start = _shard_start("local_logits", local_logits, class_start, g, validate)
    check = value_checks_enabled(labels) if validate_args is None else bool(validate_args)
    kept = labels if ignore_index is None else labels[labels != ignore_index]
    if check and kept.numel() and int(kept.min()) < 0:
        raise ValueError(f"labels must be global class ids >= 0 (or ignore_index={ignore_index}); got min {int(kept.min())}")
    # Both paths issue the same two collectives of the same shapes, so ranks that resolve
    # ``impl`` differently (a kernel build failed on one) still meet.
    fused = _kernels.use_fused_class_parallel(name, impl, local_logits)[0]
    loss, wy = _VocabParallelLSE.apply(local_logits, labels, start, alpha, g, check, None, eps, weight, ignore_index,
                                       fused)
    if ignore_index is None:
        return _reduce(loss, reduction, sample_weight)
    # PyTorch's mean: divide by Σ_i w_{y_i} over the rows not ignored (× sample_weight)
    return reduce_with_denominator(loss, reduction, sample_weight, (labels != ignore_index).to(loss.dtype) * wy)


def vocab_parallel_cross_entropy(local_logits, labels, *, group, class_start=None, weight=None, ignore_index=-100,
                                 label_smoothing=0.0, sample_weight=None, reduction="mean", validate_args=None,
                                 impl="auto"):
    r"""Cross-entropy over classes sharded across the ranks of ``group`` (vocabulary parallel).

    .. math::

        \ell_i = (1-\varepsilon)\, w_{y_i} \big(\mathrm{lse}_{k \in [0, K)}(z_{ik}) - z_{i y_i}\big)
        + \tfrac{\varepsilon}{K} \textstyle\sum_{k \in [0, K)} w_k \big(\mathrm{lse}(z_i) - z_{ik}\big)

    exactly :func:`torch.nn.functional.cross_entropy` on the unsharded logits (``w ≡ 1``
    without ``weight``; ``ℓ_i = 0`` where ``y_i = ignore_index``; ``'mean'`` divides by
    ``Σ_i w_{y_i}`` over the rows not ignored, times ``sample_weight`` if given). The
    smoothing's ``Σ_k w_k z_{ik}``, ``K`` and ``Σ_k w_k``, and the label's ``w_{y_i}``, ride
    in the same fused SUM (``5B + 2`` numbers at most), so the forward is still two
    collectives and the backward local.

    Rank ``r`` holds the logit columns ``[class_start, class_start + K_local)`` of every row.
    Forward: one all-reduce MAX of ``B`` numbers, one all-reduce SUM of ``3B``; backward:
    none (local). Returns the unsharded loss on every rank; the gradient of
    ``local_logits`` is the matching slice of the unsharded gradient.

    Checks: labels outside ``[0, K)`` (or in a gap between shards) are found from the fused
    SUM at no extra collective when value checks are on (on CPU by default,
    ``validate_args`` overrides) and raise the same ``ValueError`` on every rank. The
    shard layout (contiguous tiling of ``[0, K)``, equal ``B``) is checked with one
    all-gather of three integers when ``class_start=None`` (which computes the starts) or
    ``validate_args=True``; otherwise it is trusted.

    Args:
        local_logits: ``[B, K_local]`` this rank's slice of the logits.
        labels: ``[B]`` global class ids, the same on every rank.
        group: the class-parallel process group (``None``: world if initialised, else the
            logits hold all classes and this is :func:`losslab.cross_entropy`).
        class_start: this rank's first class; ``None``: ranks hold consecutive slices in rank order.
        weight: ``[K_local]`` this rank's slice of PyTorch's class weights (not differentiated,
            as in PyTorch).
        ignore_index: label value whose rows contribute 0 and leave the mean's denominator
            (may be a valid class id, as in PyTorch).
        label_smoothing: ``ε ∈ [0, 1]``, spread as ``ε/K`` over the global ``K`` classes
            (finite logits, as PyTorch; :func:`losslab.cross_entropy` also masks ``-inf`` classes).
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        validate_args: ``True``/``False`` forces the checks above on/off.
        impl: ``'auto'`` (the fused CPU operators of :mod:`losslab.kernels`,
            ``vocab_parallel_lse_stats`` and ``vocab_parallel_lse_bwd``, for float32/float64 CPU
            shards, else the reference), ``'reference'`` (row-chunked PyTorch) or ``'fused'``
            (the operators, or a ``ValueError`` saying why they cannot run). Both issue the
            same collectives. Without a process group: :func:`losslab.cross_entropy`'s ``impl``.

    Returns:
        ``[B]`` for ``'none'``, else a scalar (identical on every rank).

    Reference: Shoeybi et al., "Megatron-LM", 2019; Szegedy et al., 2016 (label smoothing).
    """
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {ignore_index!r}")
    eps = check_finite_scalar("label_smoothing", label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1]; got {label_smoothing!r}")
    if weight is not None:
        check_floating("local_logits", local_logits)
        weight = check_class_weight(weight, local_logits.shape[-1], local_logits, "weight")
    out = _vocab_lse_loss("vocab_parallel_cross_entropy", local_logits, labels, group, class_start, 0.0,
                          sample_weight, reduction, validate_args, eps, weight, ignore_index, impl)
    if out is None:
        return _classification.cross_entropy(local_logits, labels, weight, ignore_index=ignore_index,
                                             label_smoothing=eps, sample_weight=sample_weight, reduction=reduction,
                                             impl=impl)
    return out


def vocab_parallel_self_normalization(local_logits, labels, *, group, class_start=None, alpha=0.1,
                                      sample_weight=None, reduction="mean", validate_args=None, impl="auto"):
    r"""Self-normalization loss (seed 001, Sect. 4.1) over classes sharded across ``group``.

    .. math:: \ell_i = \mathrm{lse}(z_i) - z_{i y_i} + \alpha\, \mathrm{lse}(z_i)^2

    Same communication, checks and return convention as
    :func:`vocab_parallel_cross_entropy`; backward ``(1 + 2α·lse)·softmax − onehot``, local.

    Args:
        local_logits, labels, group, class_start, sample_weight, reduction, validate_args, impl:
            as in :func:`vocab_parallel_cross_entropy` (without a process group ``'fused'`` runs the
            same operators on the whole logits, ``'auto'`` the core :func:`losslab.self_normalization`).
        alpha: ``α > 0``.

    Reference: Devlin et al., 2014; Keren, Sabato & Schuller, 2019, Sect. 4.1.
    """
    alpha = check_positive("alpha", alpha)
    out = _vocab_lse_loss("vocab_parallel_self_normalization", local_logits, labels, group, class_start, alpha,
                          sample_weight, reduction, validate_args, impl=impl)
    if out is None:
        if impl == "fused" and _kernels.use_fused_class_parallel("vocab_parallel_self_normalization", impl,
                                                                 local_logits)[0]:
            # one process: the whole logits are the only shard, the collectives are skipped
            loss, _ = _VocabParallelLSE.apply(local_logits, labels, 0, alpha, None, False, None, 0.0, None, None, True)
            return _reduce(loss, reduction, sample_weight)
        return _single_logit.self_normalization(local_logits, labels, alpha=alpha, sample_weight=sample_weight,
                                                reduction=reduction)
    return out


def _shifted_scaled(z: torch.Tensor, q, scale: float):
    """``q(z)`` and ``Q(z)/γ`` (as the core's composite Softmax)."""
    qz, G, fresh = _matching._scaling_terms(q, z)
    return qz, (G.mul_(scale) if fresh else G * scale)


class _VocabParallelCompositeSoftmax(torch.autograd.Function):
    """Eq. (29) over sharded classes: ``H(ŝ) − H(s) − Σ_k (ŝ_k − s_k) q(s_k) p_k(s)``.

    Forward: all-reduce MAX of ``[B, 2]`` (the maxima of ``Q/γ`` for ŝ and s), then one
    all-reduce SUM of ``[B, 3]`` (both shifted partition sums and the unnormalised linear
    term). Backward local (eq. 30 for ŝ; the Hessian-vector product for s, whose only
    global quantity ``Σ_k p_k q_k δ_k`` is the linear term already reduced).
    """

    @staticmethod
    def forward(ctx, pred, target, q, gamma, group, spec=None):
        B, k = pred.shape
        scale = 1.0 / (q.alpha * gamma)
        zh, zs = pred.detach(), target.detach()
        ctx.spec = spec
        if spec is not None:
            # The fused statistics: local maxima of Q/γ and the three sums relative to them
            # (one read of each shard), moved onto the global maxima after the MAX.
            stats = torch.ops.losslab.vocab_parallel_composite_stats(zh.contiguous(), zs.contiguous(), *spec,
                                                                     float(gamma))
            m = _all_reduce_(stats[:, :2].contiguous(), dist.ReduceOp.MAX, group)
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            f = _rescale(stats[:, :2], m)
            buf = torch.stack([stats[:, 2] * f[:, 0], stats[:, 3] * f[:, 1], stats[:, 4] * f[:, 1]], 1)
            _all_reduce_(buf, dist.ReduceOp.SUM, group)
            log_zh = m[:, 0] + torch.log(buf[:, 0])
            log_zs = m[:, 1] + torch.log(buf[:, 1])
            lin = buf[:, 2] / buf[:, 1]
            ctx.save_for_backward(pred, target, log_zh, log_zs, lin)
            ctx.q, ctx.gamma = q, gamma
            return gamma * (log_zh - log_zs) - lin
        m = zh.new_empty(B, 2)
        for sl in _row_chunks(B, k):
            m[sl, 0] = _shifted_scaled(zh[sl], q, scale)[1].amax(-1)
            m[sl, 1] = _shifted_scaled(zs[sl], q, scale)[1].amax(-1)
        _all_reduce_(m, dist.ReduceOp.MAX, group)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        buf = zh.new_empty(B, 3)
        for sl in _row_chunks(B, k):
            _, lh = _shifted_scaled(zh[sl], q, scale)
            qs, ls = _shifted_scaled(zs[sl], q, scale)
            buf[sl, 0] = lh.sub_(m[sl, 0:1]).exp_().sum(-1)
            ps = ls.sub_(m[sl, 1:2]).exp_()
            buf[sl, 1] = ps.sum(-1)
            buf[sl, 2] = (zh[sl] - zs[sl]).mul_(qs).mul_(ps).sum(-1)
        _all_reduce_(buf, dist.ReduceOp.SUM, group)
        log_zh = m[:, 0] + torch.log(buf[:, 0])  # log partitions of Q/γ
        log_zs = m[:, 1] + torch.log(buf[:, 1])
        lin = buf[:, 2] / buf[:, 1]
        ctx.save_for_backward(pred, target, log_zh, log_zs, lin)
        ctx.q, ctx.gamma = q, gamma
        return gamma * (log_zh - log_zs) - lin

    @staticmethod
    def backward(ctx, g):
        pred, target, log_zh, log_zs, lin = ctx.saved_tensors
        q, gamma = ctx.q, ctx.gamma
        if ctx.spec is not None:  # the fused gradient pass, both gradients in one read
            need_p, need_t = ctx.needs_input_grad[:2]
            gp, gt = torch.ops.losslab.vocab_parallel_composite_bwd(
                pred.detach().contiguous(), target.detach().contiguous(), log_zh, log_zs, lin,
                g.to(pred.dtype).contiguous(), *ctx.spec, float(gamma), need_p, need_t)
            return gp if need_p else None, gt if need_t else None, None, None, None, None
        scale = 1.0 / (q.alpha * gamma)
        B, k = pred.shape
        grad_pred = torch.empty_like(pred, memory_format=torch.contiguous_format) if ctx.needs_input_grad[0] else None
        grad_target = torch.empty_like(target, memory_format=torch.contiguous_format) if ctx.needs_input_grad[1] else None
        for sl in _row_chunks(B, k):
            qs, ls = _shifted_scaled(target[sl], q, scale)
            ps = ls.sub_(log_zs[sl, None]).exp_()  # p(s), eq. (C.3)
            hs = ps * qs  # q(s)·p(s), the target's link (C.5)
            if grad_pred is not None:
                qh, lh = _shifted_scaled(pred[sl], q, scale)
                torch.mul(lh.sub_(log_zh[sl, None]).exp_(), qh, out=grad_pred[sl]).sub_(hs).mul_(g[sl, None])
            if grad_target is not None:
                # ∂L/∂s = −∇²H(s)(ŝ − s) = −[p q' δ + p q (q δ − Σ p q δ)/γ]
                delta = pred[sl] - target[sl]
                hvp = ps * q.derivative(target[sl]) * delta + hs * (qs * delta - lin[sl, None]) / gamma
                torch.mul(hvp, -g[sl, None], out=grad_target[sl])
        return grad_pred, grad_target, None, None, None, None


def vocab_parallel_composite_softmax_loss(local_pred, local_target, scaling, *, group, gamma=1.0, sample_weight=None,
                                          reduction="mean", validate_args=None, impl="auto"):
    r"""Composite-Softmax selective matching loss (seed 000, eq. 29) over classes sharded across ``group``.

    .. math::

        \mathcal{L} = H(\hat{\mathbf s}) - H(\mathbf s) - \sum_{k=1}^K (\hat s_k - s_k)\, q(s_k)\, p_k(\mathbf s),
        \qquad H(\mathbf z) = \gamma \log \sum_k e^{Q(z_k)/\gamma}

    Every sum over ``k`` is a sum over ranks of local sums: one all-reduce MAX of ``2B``
    numbers, one all-reduce SUM of ``3B``; the backward (eq. 30 for ``ŝ``, the
    Hessian-vector product for ``s``) is local. Returns the unsharded loss on every rank.

    Args:
        local_pred, local_target: ``[B, K_local]`` this rank's class slice of ŝ and s.
        scaling: the scaling function ``q`` (:class:`~losslab.links.Link`).
        group: the class-parallel group (``None``: world if initialised, else
            :func:`losslab.composite_softmax_loss` on all classes).
        gamma: ``γ > 0``.
        sample_weight: ``[B]``; reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        validate_args: ``True``: check with one all-gather that every rank holds the same rows.
        impl: ``'auto'`` (the fused CPU operators ``vocab_parallel_composite_stats`` and
            ``vocab_parallel_composite_bwd`` of :mod:`losslab.kernels` for the scalings
            identity, exp, anti_exp, sinh and cosh on float32/float64 CPU shards, else the
            reference), ``'reference'`` or ``'fused'`` (or a ``ValueError`` saying why not).
            Without a process group: :func:`losslab.composite_softmax_loss`'s ``impl``.

    Returns:
        ``[B]`` for ``'none'``, else a scalar (identical on every rank).

    Reference: Shamir & Warmuth, *Selective Matching Losses*, eq. (29)-(30).
    """
    g = global_batch_group(group)
    if g is None:
        return _matching.composite_softmax_loss(local_pred, local_target, scaling, gamma=gamma,
                                                sample_weight=sample_weight, reduction=reduction, impl=impl)
    local_pred, local_target = promote_floating(local_pred, local_target)
    _matching._check_pair(local_pred, local_target)
    _matching._check_link("scaling", scaling)
    gamma = check_positive("gamma", gamma)
    check_reduction(reduction)
    _check_validate_args(validate_args)
    if local_pred.dim() != 2:
        raise ValueError(f"local_pred must have shape [B, K_local]; got {tuple(local_pred.shape)}")
    if validate_args:
        _shard_start("local_pred", local_pred, None, g, True)
    fused, spec = _kernels.use_fused_class_parallel("vocab_parallel_composite_softmax_loss", impl, local_pred, scaling)
    loss = _VocabParallelCompositeSoftmax.apply(local_pred, local_target, scaling, gamma, g, spec if fused else None)
    return _reduce(loss, reduction, sample_weight)


def vocab_parallel_sampled_softmax_loss(hidden, local_weight, local_bias, labels, *, group, class_start=None,
                                        num_classes=None, num_sampled=None, proposal="uniform", counts=None,
                                        power=1.0, remove_accidental_hits=True, logq_correction=True,
                                        replacement=True, generator=None, sampled=None, sample_weight=None,
                                        reduction="mean", validate_args=None, impl="auto"):
    r"""Sampled softmax (:func:`losslab.sampled_softmax_loss`) with the output layer split over the classes.

    Rank ``r`` holds the rows ``[class_start, class_start + K_local)`` of the output weight
    (and bias); ``hidden [B, d]`` and ``labels`` (global ids) are the same on every rank. The
    ``S`` negatives are drawn identically on every rank (``generator=`` an int seed, or an
    explicit ``sampled=`` set of global ids); each rank computes the logits of the true class
    and of the negatives it owns, and the ``S + 1``-way log-sum-exp is reduced as in
    :func:`vocab_parallel_cross_entropy` (MAX of ``B``, SUM of ``3B`` numbers; local backward).
    Returns the loss of the unsharded layer on every rank; ``local_weight``/``local_bias``
    get their rows of the unsharded gradient, and ``hidden`` this rank's part of it (sum it
    over the group, as for any tensor-parallel layer).

    Args:
        hidden: ``[B, d]``; local_weight ``[K_local, d]``; local_bias ``[K_local]`` or ``None``;
            labels ``[B]`` global class ids.
        group, class_start, validate_args: as in :func:`vocab_parallel_cross_entropy`.
        num_classes: ``K``; ``None``: the sum of the ranks' ``K_local`` (read from the layout
            all-gather, which then always runs).
        num_sampled, proposal, counts, power, remove_accidental_hits, logq_correction,
        replacement, sampled, sample_weight, reduction: as in :func:`losslab.sampled_softmax_loss`.
        generator: an int seed (or ``torch.Generator`` seeded alike on every rank); required
            unless ``sampled`` is given, so that every rank draws the same negatives.
        impl: the ``S + 1``-way log-sum-exp's operators, as in :func:`vocab_parallel_cross_entropy`.
            Without a process group (:func:`losslab.sampled_softmax_loss`, no kernel) ``'fused'``
            is a ``ValueError``.

    Returns:
        ``[B]`` for ``'none'``, else a scalar (identical on every rank).

    Reference: Jean, Cho, Memisevic & Bengio, 2015.
    """
    g = global_batch_group(group)
    if impl not in _kernels.IMPLS:
        raise ValueError(f"impl must be one of 'auto', 'reference', 'fused'; got {impl!r}")
    if g is None:
        if impl == "fused":
            raise ValueError("impl='fused' cannot run vocab_parallel_sampled_softmax_loss without a process group: "
                             "losslab.sampled_softmax_loss has no fused kernel")
        return _sampled.sampled_softmax_loss(
            hidden, local_weight, local_bias, labels, num_sampled=num_sampled, proposal=proposal, counts=counts,
            power=power, remove_accidental_hits=remove_accidental_hits, logq_correction=logq_correction,
            replacement=replacement, generator=generator, sampled=sampled, sample_weight=sample_weight,
            reduction=reduction)
    _check_validate_args(validate_args)
    hidden, local_weight, local_bias, proposal = promote_floating(hidden, local_weight, local_bias, proposal)
    _sampled._check_options(power, replacement=replacement, remove_accidental_hits=remove_accidental_hits,
                            logq_correction=logq_correction)
    check_floating("hidden", hidden)
    check_integer("labels", labels)
    check_reduction(reduction)
    if hidden.dim() != 2 or local_weight.dim() != 2 or local_weight.shape[1] != hidden.shape[1]:
        raise ValueError(f"hidden must be [B, d] and local_weight [K_local, d]; got {tuple(hidden.shape)} and {tuple(local_weight.shape)}")
    if local_bias is not None and local_bias.shape != local_weight.shape[:1]:
        raise ValueError(f"local_bias must have shape {tuple(local_weight.shape[:1])}; got {tuple(local_bias.shape)}")
    if labels.shape != hidden.shape[:1]:
        raise ValueError(f"labels must have shape {tuple(hidden.shape[:1])}; got {tuple(labels.shape)}")
    if sampled is None and generator is None:
        raise ValueError("generator=None: every rank must draw the same negatives; pass generator= an int seed "
                         "(the same on every rank) or an explicit sampled= set")
    k = local_weight.shape[0]
    _check_class_start(class_start)
    if num_classes is None or class_start is None or validate_args:
        table = _gather_table([-1 if class_start is None else class_start, k, hidden.shape[0], hidden.shape[1]],
                              hidden.device, g)
        start = _shard_start_from_table(table, class_start, dist.get_rank(g))
        if any(row[3] != table[0][3] for row in table):
            raise ValueError(f"hidden: the ranks disagree on the hidden size d; d per rank = {[row[3] for row in table]}")
        K = sum(row[1] for row in table)
        if num_classes is not None and num_classes != K:
            raise ValueError(f"num_classes={num_classes} but the ranks' shards hold {K} classes")
    else:
        start, K = class_start, num_classes
    check = value_checks_enabled(labels) if validate_args is None else validate_args
    if check and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= K):
        raise ValueError(f"labels must be global class ids in [0, {K}); got min {int(labels.min())}, max {int(labels.max())}")
    idx, log_q, S = _sampled._candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement,
                                         generator, sampled)
    # Columns: [true class, S negatives]; each is owned by exactly one rank, the others
    # hold -inf there (no mass in the log-sum-exp, no gradient).
    cls = torch.cat([labels.unsqueeze(1), idx.expand(hidden.shape[0], S) if idx.dim() == 1 else idx], 1)  # [B, S+1]
    owned = (cls >= start) & (cls < start + k)
    local = (cls - start).clamp(0, max(k - 1, 0))
    w = local_weight.index_select(0, local.reshape(-1)).reshape(local.shape + (hidden.shape[1],))
    z = torch.einsum("bd,bsd->bs", hidden, w)
    if local_bias is not None:
        z = z + local_bias.index_select(0, local.reshape(-1)).reshape(local.shape)
    if logq_correction:
        corr = log_q + math.log(S)
        z = torch.cat([z[:, :1], z[:, 1:] - (corr if corr.dim() == 2 else corr.unsqueeze(0))], 1)
    mask = ~owned
    if remove_accidental_hits:
        mask[:, 1:] |= cls[:, 1:] == labels.unsqueeze(1)
    z = z.masked_fill(mask, float("-inf"))
    fused = _kernels.use_fused_class_parallel("vocab_parallel_sampled_softmax_loss", impl, z)[0]
    loss, _ = _VocabParallelLSE.apply(z, torch.zeros_like(labels), 0, 0.0, g, False, owned[:, 0], 0.0, None, None, fused)
    return _reduce(loss, reduction, sample_weight)


def _check_class_start(class_start) -> None:
    if class_start is None:
        return
    if isinstance(class_start, bool) or not isinstance(class_start, int):
        raise TypeError(f"class_start must be an int or None; got {class_start!r}")
    if class_start < 0:
        raise ValueError(f"class_start must be >= 0; got {class_start}")


def _shard_start_from_table(table, class_start, rank) -> int:
    """This rank's first class from the gathered ``(class_start or -1, K_local, rows)`` table;
    raises on every rank when the layout does not tile ``[0, K)`` or the rows differ."""
    if class_start is not None:
        end = 0
        for s, k in sorted((row[0], row[1]) for row in table):
            if s != end:
                raise ValueError(
                    f"class_start: the class shards do not tile [0, K) contiguously; per rank (class_start, K_local) = "
                    f"{[(row[0], row[1]) for row in table]}"
                )
            end = s + k
    if any(row[2] != table[0][2] for row in table):
        raise ValueError(f"every rank must hold the same rows; rows per rank = {[row[2] for row in table]}")
    return class_start if class_start is not None else sum(row[1] for row in table[:rank])
