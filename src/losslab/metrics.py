"""Evaluation metrics: single-logit classification quality (seed 001) and ranking (seed 002)."""
from __future__ import annotations

__all__: list[str] = []


# ---------------------------------------------------------------------------------
# ranking (issue 4)
#
# Per-list metrics over scores [..., L], graded labels [..., L] and an optional boolean
# mask [..., L] of valid items; each returns one value per list (shape [...]), computed
# without gradients on CPU (numpy), masked items removed before ranking.

def _ranking_rows(scores, labels, mask):
    import numpy as np
    import torch

    if not isinstance(scores, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError("scores and labels must be torch.Tensors")
    if scores.dim() == 0 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must have the same shape [..., L]; got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != scores.shape:
            raise ValueError(f"mask must be a boolean tensor of shape {tuple(scores.shape)}")
    L = scores.shape[-1]
    s = scores.detach().reshape(-1, L).double().cpu().numpy()
    y = labels.detach().reshape(-1, L).double().cpu().numpy()
    m = np.ones_like(s, dtype=bool) if mask is None else mask.detach().reshape(-1, L).cpu().numpy()
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
        >>> ll.metrics.ndcg_at_k(s, l, k=3)     # DCG 0 + 2/log2 3 + 1/2 over 2 + 1/log2 3
        tensor([0.6934], dtype=torch.float64)
    """
    import numpy as np

    k = _check_k(k)
    if gain not in ("linear", "exp2"):
        raise ValueError(f"gain must be 'linear' or 'exp2'; got {gain!r}")
    rows, batch, dtype = _ranking_rows(scores, labels, mask)
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
