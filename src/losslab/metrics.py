"""Evaluation metrics: single-logit classification quality (seed 001) and ranking (seed 002)."""
from __future__ import annotations

__all__: list[str] = []


# ---------------------------------------------------------------------------------
# Single-logit classification metrics (seed 001, Sect. 6)

import math as _math  # noqa: E402
from dataclasses import dataclass as _dataclass, field as _field  # noqa: E402

import torch as _torch  # noqa: E402

from ._validate import check_class_indices as _check_class_indices  # noqa: E402
from ._validate import check_floating as _check_floating, check_integer as _check_integer  # noqa: E402
from ._validate import check_bool as _check_bool, check_tensor as _check_tensor  # noqa: E402

__all__ += ["average_precision", "precision_at_recall", "precision_recall_points", "SLCReport", "slc_report", "all_logits_scores"]


def _binary_inputs(scores, targets) -> tuple[_torch.Tensor, _torch.Tensor]:
    _check_tensor("scores", scores)
    _check_tensor("targets", targets)
    _check_floating("scores", scores)
    if targets.is_floating_point() or targets.is_complex():
        raise TypeError(f"targets must be a bool or integer tensor of 0/1 labels, got dtype {targets.dtype}")
    if scores.dim() != 1 or targets.shape != scores.shape:
        raise ValueError(
            f"scores and targets must be 1-D of the same length; got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    if targets.dtype != _torch.bool:
        if targets.numel() and bool(((targets != 0) & (targets != 1)).any()):
            raise ValueError(f"targets must be 0/1; got values {_torch.unique(targets).tolist()}")
        targets = targets != 0
    if not bool(targets.any()):
        raise ValueError("targets has no positive example: precision-recall metrics are undefined")
    if not bool(_torch.isfinite(scores).all()):
        raise ValueError("scores must be finite (a NaN or inf score has no place in the ranking)")
    return scores.detach().to(_torch.float64).cpu(), targets.detach().cpu()


def precision_recall_points(scores, targets) -> tuple[_torch.Tensor, _torch.Tensor, _torch.Tensor]:
    """Precision and recall at every distinct score used as threshold (predict positive when ``score >= T``).

    Thresholds run from the highest score down; tied scores enter together (the
    convention of scikit-learn's ``precision_recall_curve``, without its final
    ``(recall 0, precision 1)`` point).

    Args:
        scores: ``[N]`` floating scores.
        targets: ``[N]`` bool or 0/1 integer labels, at least one positive.

    Returns:
        ``(precision, recall, thresholds)``, each ``[M]`` float64 for the ``M`` distinct
        scores in decreasing order.

    Example:
        >>> from losslab.metrics import precision_recall_points
        >>> import torch
        >>> p, r, t = precision_recall_points(torch.tensor([0.9, 0.5, 0.5, 0.1]), torch.tensor([1, 1, 0, 0]))
        >>> p.tolist(), r.tolist()
        ([1.0, 0.6666666666666666, 0.5], [0.5, 1.0, 1.0])
    """
    s, y = _binary_inputs(scores, targets)
    order = _torch.sort(s, descending=True, stable=True).indices
    s, y = s[order], y[order].to(_torch.float64)
    # The last index of each run of equal scores: where the next score differs.
    last = _torch.nonzero(s[1:] != s[:-1]).flatten()
    last = _torch.cat([last, _torch.tensor([s.numel() - 1])])
    tps = _torch.cumsum(y, 0)[last]
    fps = (last + 1).to(_torch.float64) - tps
    return tps / (tps + fps), tps / tps[-1], s[last]


def average_precision(scores, targets) -> float:
    r"""Area under the precision-recall curve as average precision, ties as in scikit-learn.

    .. math:: \mathrm{AP} = \sum_n (R_n - R_{n-1})\, P_n

    over the distinct score thresholds in decreasing order (``R_0 = 0``): the step-wise
    (not trapezoidal) area, exactly ``sklearn.metrics.average_precision_score``. The
    seed's single-logit AUPRC (Sect. 6.1) for class ``k`` is
    ``average_precision(logits[:, k], labels == k)``.

    Args:
        scores: ``[N]`` floating scores (higher = more likely positive).
        targets: ``[N]`` bool or 0/1 integer labels, at least one positive.

    Returns:
        A Python float in ``[0, 1]``.

    Example:
        >>> import torch
        >>> from losslab.metrics import average_precision
        >>> average_precision(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
        0.8333333333333333
    """
    precision, recall, _ = precision_recall_points(scores, targets)
    steps = _torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


def precision_at_recall(scores, targets, recall: float) -> float:
    """Precision at the threshold a required recall dictates (seed 001, Sect. 6.1: Precision@0.9, @0.99).

    The threshold is the highest distinct score ``T`` at which ``recall(score >= T)``
    reaches ``recall``; the precision there is returned.

    Args:
        scores: ``[N]`` floating scores.
        targets: ``[N]`` bool or 0/1 integer labels, at least one positive.
        recall: the required recall, in ``(0, 1]``.

    Returns:
        A Python float in ``(0, 1]``.

    Example:
        >>> import torch
        >>> from losslab.metrics import precision_at_recall
        >>> s, y = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]), torch.tensor([1, 0, 1, 0, 1])
        >>> precision_at_recall(s, y, 0.5), precision_at_recall(s, y, 0.9)
        (0.6666666666666666, 0.6)
    """
    if isinstance(recall, bool) or not isinstance(recall, (int, float)) or not 0 < recall <= 1:
        raise ValueError(f"recall must be a number in (0, 1]; got {recall!r}")
    precision, rec, _ = precision_recall_points(scores, targets)
    # Tolerate rounding in the recall fractions (e.g. 9/10 computed as 0.8999...).
    reached = _torch.nonzero(rec >= recall - 1e-12).flatten()
    return float(precision[reached[0]])


def all_logits_scores(logits: _torch.Tensor) -> _torch.Tensor:
    """The "CE with all logits" baseline of seed 001, Sect. 6.2: class scores ``softmax(logits)[:, k]``.

    Normalising needs every logit, which single-logit classification avoids; the paper
    compares against it (Table 2).

    Example:
        >>> import torch
        >>> from losslab.metrics import all_logits_scores
        >>> all_logits_scores(torch.zeros(1, 4))
        tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
    """
    _check_floating("logits", logits)
    return _torch.softmax(logits, dim=-1)


@_dataclass(frozen=True)
class SLCReport:
    """Per-class and macro single-logit classification quality (seed 001, Table 1 columns).

    Attributes:
        one_minus_auprc: ``[K]`` ``1 − AUPRC`` per class (NaN for a class without examples).
        one_minus_precision: ``{recall: [K]}`` ``1 − Precision@recall`` per class.
        macro: ``{"1-AUPRC": .., "1-Precision@0.9": .., "1-Precision@0.99": ..}``, the
            means over the classes that have examples (lower is better).
        classes_evaluated: how many classes entered the macro average.
        scores: ``'logits'`` (single logit) or ``'softmax'`` (CE with all logits).
    """

    one_minus_auprc: _torch.Tensor
    one_minus_precision: dict
    macro: dict
    classes_evaluated: int
    scores: str = _field(default="logits")

    def __str__(self) -> str:
        return "  ".join(f"{k}={v:.4f}" for k, v in self.macro.items())


def _recall_key(r: float) -> str:
    return f"1-Precision@{r:g}"


def slc_report(logits: _torch.Tensor, labels: _torch.Tensor, *, recalls=(0.9, 0.99), scores: str = "logits") -> SLCReport:
    """Evaluate single-logit classification per class and macro-average (seed 001, Sect. 6.1-6.2).

    For each class ``k``, the binary task "is ``x`` of class ``k``?" is scored by the
    single logit ``logits[:, k]`` (``scores='logits'``) or, for the paper's "CE with all
    logits" baseline, by ``softmax(logits)[:, k]`` (``scores='softmax'``). Reports
    ``1 − AUPRC`` (:func:`average_precision`) and ``1 − Precision@r``
    (:func:`precision_at_recall`) per class and their mean over the classes present.

    Args:
        logits: ``[N, K]`` test-set logits, floating.
        labels: ``[N]`` integer class indices.
        recalls: the recall levels for Precision@recall.
        scores: ``'logits'`` | ``'softmax'``.

    Returns:
        An :class:`SLCReport`; ``report.macro`` holds the Table-1 row.

    Example:
        >>> import torch
        >>> from losslab.metrics import slc_report
        >>> z = torch.tensor([[3.0, -3.0], [2.0, -2.0], [-1.0, 1.0], [-4.0, 4.0]])
        >>> slc_report(z, torch.tensor([0, 0, 1, 1])).macro["1-AUPRC"]
        0.0
    """
    _check_floating("logits", logits)
    _check_integer("labels", labels)
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape [N, K] with K >= 2; got {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},); got {tuple(labels.shape)}")
    _check_class_indices("labels", labels, logits.shape[1])
    if scores not in ("logits", "softmax"):
        raise ValueError(f"scores must be 'logits' or 'softmax'; got {scores!r}")
    recalls = tuple(float(r) for r in recalls)
    s = logits.detach() if scores == "logits" else all_logits_scores(logits.detach())
    K = logits.shape[1]
    nan = _math.nan
    auprc = _torch.full((K,), nan, dtype=_torch.float64)
    prec = {r: _torch.full((K,), nan, dtype=_torch.float64) for r in recalls}
    for k in range(K):
        target = labels == k
        if not bool(target.any()):
            continue
        auprc[k] = 1.0 - average_precision(s[:, k], target)
        for r in recalls:
            prec[r][k] = 1.0 - precision_at_recall(s[:, k], target, r)
    present = ~_torch.isnan(auprc)
    macro = {"1-AUPRC": float(auprc[present].mean())}
    for r in recalls:
        macro[_recall_key(r)] = float(prec[r][present].mean())
    return SLCReport(auprc, prec, macro, int(present.sum()), scores)
# ranking
#
# Per-list metrics over scores [..., L], graded labels [..., L] and an optional boolean
# mask [..., L] of valid items; each returns one value per list (shape [...]), computed
# without gradients on CPU (numpy), masked items removed before ranking.

def _ranking_rows(scores, labels, mask):
    import numpy as np
    import torch

    _check_tensor("scores", scores)
    _check_tensor("labels", labels)
    if scores.dim() == 0 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must have the same shape [..., L]; got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    if mask is not None:
        _check_tensor("mask", mask)
        if mask.dtype != torch.bool or mask.shape != scores.shape:
            raise ValueError(f"mask must be a boolean tensor of shape {tuple(scores.shape)}")
    L = scores.shape[-1]
    s = scores.detach().reshape(-1, L).double().cpu().numpy()
    y = labels.detach().reshape(-1, L).double().cpu().numpy()
    m = np.ones_like(s, dtype=bool) if mask is None else mask.detach().reshape(-1, L).cpu().numpy()
    # A NaN sorts arbitrarily and compares False: on a valid item it would give a silently wrong metric.
    for name, v in (("scores", s), ("labels", y)):
        bad = m & ~np.isfinite(v)
        if bad.any():
            raise ValueError(f"{name} of valid items must be finite; got {float(v[bad][0])!r}")
    return [(s[i][m[i]], y[i][m[i]]) for i in range(s.shape[0])], scores.shape[:-1], scores.dtype


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return k


def _as_output(values, batch_shape, dtype):
    import torch

    return torch.tensor(values, dtype=torch.float64).reshape(batch_shape)


def _tie_averaged_dcg(s, g, k):
    """DCG@k averaged over all orderings of tied scores (McSherry & Najork 2008), as sklearn."""
    import numpy as np

    n = len(s)
    discount = 1.0 / np.log2(np.arange(n) + 2.0)
    discount[k:] = 0.0
    csum = np.cumsum(discount)
    _, inv, counts = np.unique(-s, return_inverse=True, return_counts=True)
    mean_gain = np.zeros(len(counts))
    np.add.at(mean_gain, inv.reshape(-1), g)
    mean_gain /= counts
    ends = np.cumsum(counts) - 1
    sums = np.diff(np.concatenate([[0.0], csum[ends]]))
    return float((mean_gain * sums).sum())


def ndcg_at_k(scores, labels, k, mask=None, *, gain="linear", ignore_ties=False):
    """NDCG@k per list, with tied scores averaged over their orderings (scikit-learn's convention).

    ``DCG@k = Σ_{r ≤ k} G(l_(r)) / log2(1 + r)`` with ``G(l) = l`` (``gain='linear'``, as
    ``sklearn.metrics.ndcg_score``) or ``G(l) = 2^l − 1`` (``gain='exp2'``, the LETOR
    convention); ``NDCG@k = DCG@k / IDCG@k``. Items with tied scores share the average gain
    of their group over the positions the group occupies (sklearn's default
    ``ignore_ties=False``); ``ignore_ties=True`` breaks ties by position instead. A list with
    ``IDCG = 0`` (no relevant valid item) scores 0, as in sklearn. ``k`` larger than a list
    means the whole list.

    Args:
        scores: ``[..., L]`` predicted scores.
        labels: ``[..., L]`` grades ``≥ 0``.
        k: cut-off, a positive int.
        mask: optional boolean ``[..., L]`` of valid items.
        gain: ``'linear'`` | ``'exp2'``.
        ignore_ties: break score ties by position (faster, not averaged).

    Returns:
        ``[...]`` float64 tensor of NDCG values in ``[0, 1]``.

    Example:
        >>> import torch, losslab as ll
        >>> s = torch.tensor([[0.9, 0.8, 0.1]]); l = torch.tensor([[0, 2, 1]])
        >>> ll.metrics.ndcg_at_k(s, l, k=3)     # DCG (0 + 2/log2 3 + 1/2) / (2 + 1/log2 3)
        tensor([0.6697], dtype=torch.float64)
    """
    import numpy as np

    k = _check_k(k)
    _check_bool("ignore_ties", ignore_ties)
    if gain not in ("linear", "exp2"):
        raise ValueError(f"gain must be 'linear' or 'exp2'; got {gain!r}")
    rows, batch, dtype = _ranking_rows(scores, labels, mask)
    # Grades must be >= 0 (a negative gain can push NDCG outside [0, 1]) and, for exp2 gains,
    # small enough that the ideal DCG, a sum of up to L gains 2^l - 1, stays finite in float64.
    top = _math.log2(np.finfo(np.float64).max / max(scores.shape[-1], 1)) if gain == "exp2" else _math.inf
    for _, y in rows:
        if len(y) and (y.min() < 0 or y.max() > top):
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(f"labels must be grades in [0, {top:.6g}] for gain={gain!r}; got {float(bad)!r}")
    out = []
    for s, y in rows:
        g = y if gain == "linear" else np.exp2(y) - 1
        if len(s) == 0:
            out.append(0.0)
            continue
        discount = 1.0 / np.log2(np.arange(len(s)) + 2.0)
        discount[k:] = 0.0
        ideal = float((np.sort(g)[::-1] * discount).sum())
        if ignore_ties:
            order = np.argsort(-s, kind="stable")
            dcg = float((g[order] * discount).sum())
        else:
            dcg = _tie_averaged_dcg(s, g, k)
        out.append(dcg / ideal if ideal > 0 else 0.0)
    return _as_output(out, batch, dtype)


def mrr(scores, labels, mask=None, *, threshold=0.0):
    """Reciprocal rank of the first relevant item (grade ``> threshold``) per list.

    Ranks are by descending score; tied scores are broken by position in the list (a stable
    sort). A list with no relevant valid item scores 0. Average the output for MRR.

    Example:
        >>> import torch, losslab as ll
        >>> ll.metrics.mrr(torch.tensor([[0.9, 0.8, 0.1]]), torch.tensor([[0, 2, 1]]))
        tensor([0.5000], dtype=torch.float64)
    """
    import numpy as np

    rows, batch, dtype = _ranking_rows(scores, labels, mask)
    out = []
    for s, y in rows:
        rel = y[np.argsort(-s, kind="stable")] > threshold
        hits = np.flatnonzero(rel)
        out.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return _as_output(out, batch, dtype)


def recall_at_k(scores, labels, k, mask=None, *, threshold=0.0):
    """Fraction of a list's relevant items (grade ``> threshold``) ranked in its top ``k``.

    Ranks by descending score, ties broken by position (stable sort). A list with no relevant
    valid item scores 0 (undefined recall, reported as 0 rather than NaN).

    Example:
        >>> import torch, losslab as ll
        >>> ll.metrics.recall_at_k(torch.tensor([[0.9, 0.8, 0.1]]), torch.tensor([[0, 2, 1]]), k=2)
        tensor([0.5000], dtype=torch.float64)
    """
    import numpy as np

    k = _check_k(k)
    rows, batch, dtype = _ranking_rows(scores, labels, mask)
    out = []
    for s, y in rows:
        rel = y > threshold
        total = int(rel.sum())
        if total == 0:
            out.append(0.0)
            continue
        top = np.argsort(-s, kind="stable")[:k]
        out.append(float(rel[top].sum()) / total)
    return _as_output(out, batch, dtype)


__all__ += ["ndcg_at_k", "mrr", "recall_at_k"]
