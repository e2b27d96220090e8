"""Naive references for the standard catalogue (classification, contrastive, rl):
python-float loops over examples with ``math``, written from the papers' formulas,
never calling losslab. Each returns the ``reduction='none'`` output."""
import math

import torch


def _rows(x, k_last=True):
    return x.detach().double().reshape(-1, x.shape[-1]).tolist()


def _softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _cos(u, v):
    nu, nv = math.sqrt(sum(a * a for a in u)), math.sqrt(sum(b * b for b in v))
    return sum(a * b for a, b in zip(u, v)) / (nu * nv)


def _out(values, like, shape):
    return torch.tensor(values, dtype=like.dtype).reshape(shape)


# -- classification -----------------------------------------------------------------


def focal_loss(logits, target, gamma=2.0, alpha=None, **_):
    if target.is_floating_point():  # binary: BCE * (1 - p_t)^gamma * alpha_t
        out = []
        for x, y in zip(logits.detach().double().flatten().tolist(), target.double().flatten().tolist()):
            p = _sigmoid(x)
            ce = -(y * math.log(p) + (1 - y) * math.log(1 - p))
            pt = p * y + (1 - p) * (1 - y)
            v = ce * (1 - pt) ** gamma
            if alpha is not None:
                v *= alpha * y + (1 - alpha) * (1 - y)
            out.append(v)
        return _out(out, logits, logits.shape)
    out = []
    for row, y in zip(_rows(logits), target.flatten().tolist()):
        p = _softmax(row)
        v = -((1 - p[y]) ** gamma) * math.log(p[y])
        if alpha is not None:
            v *= float(alpha[y])
        out.append(v)
    return _out(out, logits, target.shape)


def poly_loss(logits, target, epsilon=1.0, **_):
    eps = [epsilon] if isinstance(epsilon, (int, float)) else list(epsilon)
    out = []
    for row, y in zip(_rows(logits), target.flatten().tolist()):
        p = _softmax(row)[y]
        out.append(-math.log(p) + sum(e * (1 - p) ** (j + 1) for j, e in enumerate(eps)))
    return _out(out, logits, target.shape)


def multiclass_hinge_crammer_singer(scores, target, margin=1.0, p=1, **_):
    out = []
    for row, y in zip(_rows(scores), target.flatten().tolist()):
        worst = max(row[k] for k in range(len(row)) if k != y)
        out.append(max(0.0, margin - row[y] + worst) ** p)
    return _out(out, scores, target.shape)


def soft_dice(logits, target, ignore_index=None, smooth=1.0, **_):
    N, K = logits.shape[-2], logits.shape[-1]
    xs = logits.detach().double().reshape(-1, N, K).tolist()
    is_prob = target.is_floating_point()
    ts = target.double().reshape(-1, N, K).tolist() if is_prob else target.reshape(-1, N).tolist()
    out = []
    for x_img, t_img in zip(xs, ts):
        dices = []
        for k in range(K):
            inter = sp = st = 0.0
            for n in range(N):
                if not is_prob and ignore_index is not None and t_img[n] == ignore_index:
                    continue
                pk = _softmax(x_img[n])[k]
                tk = t_img[n][k] if is_prob else float(t_img[n] == k)
                inter += pk * tk
                sp += pk
                st += tk
            den = sp + st + smooth
            dices.append(1.0 if den == 0 else (2 * inter + smooth) / den)
        out.append(1 - sum(dices) / K)
    return _out(out, logits, logits.shape[:-2])


def arcface(cosine, target, scale=64.0, margin=0.5, easy_margin=False, **_):
    out = []
    for row, y in zip(_rows(cosine), target.flatten().tolist()):
        c = max(-1.0, min(1.0, row[y]))
        theta = math.acos(c)
        if easy_margin:
            phi = math.cos(theta + margin) if c > 0 else c
        else:
            phi = math.cos(theta + margin) if theta + margin < math.pi else c - margin * math.sin(margin)
        z = [scale * (phi if k == y else v) for k, v in enumerate(row)]
        m = max(z)
        out.append(m + math.log(sum(math.exp(v - m) for v in z)) - z[y])
    return _out(out, cosine, target.shape)


def ge2e(embeddings, variant="softmax", w=10.0, b=-5.0, **_):
    e = embeddings.detach().double().tolist()
    w, b = float(w), float(b)
    N, M = len(e), len(e[0])
    D = len(e[0][0])
    cent = [[sum(e[k][i][d] for i in range(M)) / M for d in range(D)] for k in range(N)]
    out = []
    for j in range(N):
        row = []
        for i in range(M):
            excl = [sum(e[j][t][d] for t in range(M) if t != i) / (M - 1) for d in range(D)]
            S = [w * _cos(e[j][i], excl if k == j else cent[k]) + b for k in range(N)]
            if variant == "softmax":
                m = max(S)
                row.append(-S[j] + m + math.log(sum(math.exp(s - m) for s in S)))
            else:
                row.append(1 - _sigmoid(S[j]) + max(_sigmoid(S[k]) for k in range(N) if k != j))
        out.append(row)
    return _out(out, embeddings, (N, M))


# -- contrastive ----------------------------------------------------------------------


def _lse_minus(logits, idx):
    m = max(logits)
    return m + math.log(sum(math.exp(v - m) for v in logits)) - logits[idx]


def info_nce(query, positive_key, negative_keys=None, temperature=0.1, **_):
    q, k = query.detach().double().tolist(), positive_key.detach().double().tolist()
    out = []
    for i in range(len(q)):
        if negative_keys is None:
            logits = [_cos(q[i], k[j]) / temperature for j in range(len(k))]
            out.append(_lse_minus(logits, i))
        else:
            negs = negative_keys.detach().double()
            negs = (negs if negs.dim() == 2 else negs[i]).tolist()
            logits = [_cos(q[i], k[i]) / temperature] + [_cos(q[i], n) / temperature for n in negs]
            out.append(_lse_minus(logits, 0))
    return _out(out, query, (len(q),))


def nt_xent(z1, z2, temperature=0.5, **_):
    z = z1.detach().double().tolist() + z2.detach().double().tolist()
    N = len(z1)
    per = []
    for i in range(2 * N):
        partner = (i + N) % (2 * N)
        others = [k for k in range(2 * N) if k != i]
        logits = [_cos(z[i], z[k]) / temperature for k in others]
        per.append(_lse_minus(logits, others.index(partner)))
    return _out([(per[n] + per[n + N]) / 2 for n in range(N)], z1, (N,))


def multiple_negatives_ranking(anchors, positives, negatives=None, scale=20.0, **_):
    a, p = anchors.detach().double().tolist(), positives.detach().double().tolist()
    cands = p + (negatives.detach().double().tolist() if negatives is not None else [])
    out = [_lse_minus([scale * _cos(a[i], c) for c in cands], i) for i in range(len(a))]
    return _out(out, anchors, (len(a),))


# -- rl ------------------------------------------------------------------------------------


def td_loss(q_values, actions, rewards, next_values, dones, gamma=0.99, loss="squared", delta=1.0, **_):
    qs = _rows(q_values)
    nv = next_values.detach().double()
    boots = nv.reshape(-1, nv.shape[-1]).tolist() if nv.dim() == q_values.dim() else nv.flatten().tolist()
    out = []
    for q, a, r, nb, d in zip(qs, actions.flatten().tolist(), rewards.double().flatten().tolist(), boots, dones.flatten().tolist()):
        boot = max(nb) if isinstance(nb, list) else nb
        u = q[a] - (r + gamma * (1 - float(d)) * boot)
        if loss == "squared":
            out.append(u * u)
        else:
            out.append(0.5 * u * u if abs(u) <= delta else delta * (abs(u) - 0.5 * delta))
    return _out(out, q_values, actions.shape)


def policy_gradient_loss(logits, actions, advantages, entropy_coef=0.0, **_):
    out = []
    for row, a, adv in zip(_rows(logits), actions.flatten().tolist(), advantages.double().flatten().tolist()):
        p = _softmax(row)
        ent = -sum(v * math.log(v) for v in p if v > 0)
        out.append(-adv * math.log(p[a]) - entropy_coef * ent)
    return _out(out, logits, actions.shape)


REFERENCES = {
    "focal_loss": focal_loss,
    "poly_loss": poly_loss,
    "soft_dice": soft_dice,
    "arcface": arcface,
    "ge2e": ge2e,
    "info_nce": info_nce,
    "nt_xent": nt_xent,
    "multiple_negatives_ranking": multiple_negatives_ranking,
    "td_loss": td_loss,
    "policy_gradient_loss": policy_gradient_loss,
}
