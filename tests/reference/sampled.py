"""Naive references for the large-K sampled losses: per-example loops over the
full logit row, proposal probabilities written out from their definitions."""
import math

import torch


def _q(k, K, proposal):
    if isinstance(proposal, torch.Tensor):
        return float(proposal[k])
    if proposal == "uniform":
        return 1.0 / K
    if proposal == "log_uniform":
        return (math.log(k + 2) - math.log(k + 1)) / math.log(K + 1)
    raise NotImplementedError(proposal)


def _row(hidden, W, b, i):
    s = [float(torch.dot(hidden[i].double(), W[k].double())) + (0.0 if b is None else float(b[k])) for k in range(W.shape[0])]
    return s


def _negs(sampled, i):
    return [int(n) for n in (sampled if sampled.dim() == 1 else sampled[i])]


def _lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sampled_softmax_loss(hidden, W, b, labels, *, sampled, proposal="uniform", remove_accidental_hits=True,
                         logq_correction=True, **_):
    out = []
    for i, y in enumerate(labels.tolist()):
        s = _row(hidden, W, b, i)
        negs = _negs(sampled, i)
        terms = [s[y]]
        for n in negs:
            if remove_accidental_hits and n == y:
                continue
            terms.append(s[n] - (math.log(len(negs) * _q(n, W.shape[0], proposal)) if logq_correction else 0.0))
        out.append(_lse(terms) - s[y])
    return torch.tensor(out, dtype=torch.float64)


def importance_sampling_loss(hidden, W, b, labels, *, sampled, proposal="uniform", **_):
    out = []
    for i, y in enumerate(labels.tolist()):
        s = _row(hidden, W, b, i)
        negs = _negs(sampled, i)
        zhat = sum(math.exp(s[n]) / _q(n, W.shape[0], proposal) for n in negs) / len(negs)
        out.append(math.log(zhat) - s[y])
    return torch.tensor(out, dtype=torch.float64)


def negative_sampling_loss(hidden, W, b, labels, *, sampled, remove_accidental_hits=True, **_):
    out = []
    for i, y in enumerate(labels.tolist()):
        s = _row(hidden, W, b, i)
        v = -math.log(1 / (1 + math.exp(-s[y])))
        for n in _negs(sampled, i):
            if remove_accidental_hits and n == y:
                continue
            v += -math.log(1 / (1 + math.exp(s[n])))
        out.append(v)
    return torch.tensor(out, dtype=torch.float64)


def sampled_nce_loss(hidden, W, b, labels, *, sampled, proposal="uniform", remove_accidental_hits=False, **_):
    out = []
    K = W.shape[0]
    for i, y in enumerate(labels.tolist()):
        s = _row(hidden, W, b, i)
        negs = _negs(sampled, i)
        S = len(negs)
        v = _softplus(-(s[y] - math.log(S * _q(y, K, proposal))))
        for n in negs:
            if remove_accidental_hits and n == y:
                continue
            v += _softplus(s[n] - math.log(S * _q(n, K, proposal)))
        out.append(v)
    return torch.tensor(out, dtype=torch.float64)


def in_batch_negatives_loss(hidden, W, b, labels, *, proposal=None, logq_correction=True, remove_accidental_hits=True, **_):
    ys = labels.tolist()
    B, K = len(ys), W.shape[0]
    out = []
    for i, y in enumerate(ys):
        s = _row(hidden, W, b, i)

        def corr(k):
            if not logq_correction:
                return 0.0
            if proposal is None:
                return math.log(ys.count(k) / B)
            return math.log(_q(k, K, proposal))

        terms = [s[ys[j]] - corr(ys[j]) for j in range(B) if j == i or not (remove_accidental_hits and ys[j] == y)]
        out.append(_lse(terms) - (s[y] - corr(y)))
    return torch.tensor(out, dtype=torch.float64)


REFERENCES = {
    "sampled_softmax_loss": sampled_softmax_loss,
    "importance_sampling_loss": importance_sampling_loss,
    "negative_sampling_loss": negative_sampling_loss,
    "sampled_nce_loss": sampled_nce_loss,
    "in_batch_negatives_loss": in_batch_negatives_loss,
}
