"""Naive references for the ranking losses: Python loops over lists, items and pairs in float64."""
import math

import torch


def _rows(scores, labels, mask):
    L = scores.shape[-1]
    s = scores.detach().double().reshape(-1, L).tolist()
    y = labels.detach().double().reshape(-1, L).tolist()
    m = [[True] * L for _ in s] if mask is None else mask.reshape(-1, L).tolist()
    out = []
    for si, yi, mi in zip(s, y, m):
        out.append([(a, b) for a, b, v in zip(si, yi, mi) if v])
    return out


def _out(values, scores):
    return torch.tensor(values, dtype=torch.float64).reshape(scores.shape[:-1])


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _lse(xs):
    mx = max(xs)
    return mx + math.log(sum(math.exp(x - mx) for x in xs))


def pointwise_sigmoid_ce(scores, labels, mask=None, max_grade=None, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        t = [(s, y / (max_grade or 1.0)) for s, y in items]
        # -[t log σ(s) + (1-t) log(1-σ(s))]
        total = sum(-(tt * -_softplus(-s) + (1 - tt) * -_softplus(s)) for s, tt in t)
        vals.append(total / max(len(items), 1) if normalize else total)
    return _out(vals, scores)


def pointwise_mse(scores, labels, mask=None, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        total = sum((s - y) ** 2 for s, y in items)
        vals.append(total / max(len(items), 1) if normalize else total)
    return _out(vals, scores)


def _pairs(items):
    return [(a, b) for a in items for b in items if a[1] > b[1]]


def ranknet(scores, labels, mask=None, sigma=1.0, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        pairs = _pairs(items)
        # cross-entropy of P = 1/(1+exp(-σΔ)) against target 1
        total = sum(-math.log(1 / (1 + math.exp(-sigma * (a[0] - b[0])))) for a, b in pairs)
        vals.append(total / max(len(pairs), 1) if normalize else total)
    return _out(vals, scores)


def soft_pairwise(scores, labels, mask=None, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        total, count = 0.0, 0
        for si, yi in items:  # the seed's double sum over ordered pairs with different labels
            for sj, yj in items:
                if yi != yj:
                    y = 1.0 if yi > yj else -1.0
                    total += math.log1p(math.exp(-y * (si - sj)))
                    count += 1
        vals.append(total / max(count, 1) if normalize else total)
    return _out(vals, scores)


def pairwise_hinge(scores, labels, mask=None, margin=1.0, normalize=False, **_):
    import torch.nn.functional as F

    vals = []
    for items in _rows(scores, labels, mask):
        pairs = _pairs(items)
        total = sum(
            float(F.margin_ranking_loss(torch.tensor([a[0]]), torch.tensor([b[0]]), torch.tensor([1.0]), margin=margin))
            for a, b in pairs
        )
        vals.append(total / max(len(pairs), 1) if normalize else total)
    return _out(vals, scores)


def listnet(scores, labels, mask=None, target="softmax", **_):
    vals = []
    for items in _rows(scores, labels, mask):
        if not items:
            vals.append(0.0)
            continue
        ss, ys = [a for a, _ in items], [b for _, b in items]
        if target == "softmax":
            z = sum(math.exp(y - max(ys)) for y in ys)
            P = [math.exp(y - max(ys)) / z for y in ys]
        else:
            tot = sum(ys)
            P = [y / tot if tot > 0 else 0.0 for y in ys]
        lse = _lse(ss)
        vals.append(-sum(p * (s - lse) for p, s in zip(P, ss)))
    return _out(vals, scores)


def listmle(scores, labels, mask=None, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        # Python's sort is stable: ties keep list order, as documented.
        order = sorted(range(len(items)), key=lambda i: -items[i][1])
        ss = [items[i][0] for i in order]
        vals.append(sum(_lse(ss[r:]) - ss[r] for r in range(len(ss))))
    return _out(vals, scores)


def lambda_loss(scores, labels, mask=None, weighting="ndcg_loss2", sigma=1.0, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        n = len(items)
        order = sorted(range(n), key=lambda i: -items[i][0])
        rank = [0] * n
        for pos, i in enumerate(order):
            rank[i] = pos + 1
        gains = [2 ** y - 1 for _, y in items]
        max_dcg = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(gains, reverse=True)))
        D = lambda r: math.log2(1 + r)  # noqa: E731
        total = 0.0
        for i in range(n):
            for j in range(n):
                if items[i][1] > items[j][1]:
                    if weighting == "ndcg_loss2":
                        gap = abs(rank[i] - rank[j])
                        delta = abs(1 / D(gap) - 1 / D(gap + 1))
                    else:
                        delta = abs(1 / D(rank[i]) - 1 / D(rank[j]))
                    w = delta * abs(gains[i] - gains[j]) / max_dcg
                    p = 1 / (1 + math.exp(-sigma * (items[i][0] - items[j][0])))
                    total += -w * math.log2(p)
        vals.append(total)
    return _out(vals, scores)


def _matching(link, a, b):
    # ∫_b^a (h(z) - h(b)) dz by scipy quadrature: independent of the closed-form primitive.
    from scipy.integrate import quad

    hb = float(link(torch.tensor(b, dtype=torch.float64)))
    return quad(lambda t: float(link(torch.tensor(t, dtype=torch.float64))) - hb, b, a, limit=200)[0]


def selective_pointwise(scores, labels, mask=None, link=None, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        total = sum(_matching(link, s, y) for s, y in items)
        vals.append(total / max(len(items), 1) if normalize else total)
    return _out(vals, scores)


def selective_pairwise(scores, labels, mask=None, link=None, normalize=False, **_):
    vals = []
    for items in _rows(scores, labels, mask):
        pairs = _pairs(items)
        total = sum(_matching(link, a[0] - b[0], a[1] - b[1]) for a, b in pairs)
        vals.append(total / max(len(pairs), 1) if normalize else total)
    return _out(vals, scores)


def selective_listwise(scores, labels, mask=None, scaling=None, gamma=1.0, **_):
    # eq. (29) over the valid items, sums written out.
    vals = []
    for items in _rows(scores, labels, mask):
        if not items:
            vals.append(0.0)
            continue
        T = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        Qh = [float(scaling.primitive(T(a))) / gamma for a, _ in items]
        Qs = [float(scaling.primitive(T(b))) / gamma for _, b in items]
        Hh, Hs = gamma * _lse(Qh), gamma * _lse(Qs)
        ps = [math.exp(q - Hs / gamma) for q in Qs]
        lin = sum((a - b) * float(scaling(T(b))) * p for (a, b), p in zip(items, ps))
        vals.append(Hh - Hs - lin)
    return _out(vals, scores)


REFERENCES = {
    "pointwise_sigmoid_ce": pointwise_sigmoid_ce,
    "pointwise_mse": pointwise_mse,
    "ranknet": ranknet,
    "soft_pairwise": soft_pairwise,
    "pairwise_hinge": pairwise_hinge,
    "listnet": listnet,
    "listmle": listmle,
    "lambda_loss": lambda_loss,
    "selective_pointwise": selective_pointwise,
    "selective_pairwise": selective_pairwise,
    "selective_listwise": selective_listwise,
}
