"""Naive references for the selective matching losses (seed 000)."""
import math

import torch


def _H_composite_sigmoid(scaling, gamma, z):
    return gamma * torch.log1p(torch.exp(scaling.primitive(z) / gamma))


def composite_sigmoid_loss(pred, target, scaling, gamma=1.0, **_):
    # eq. (24) with γ (G.1) written out elementwise in float64 with plain log1p/exp.
    out = torch.empty_like(pred)
    for i, (a, b) in enumerate(zip(pred.flatten().tolist(), target.flatten().tolist())):
        ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        p_b = 1 / (1 + math.exp(-float(scaling.primitive(tb)) / gamma))
        value = _H_composite_sigmoid(scaling, gamma, ta) - _H_composite_sigmoid(scaling, gamma, tb) - (a - b) * float(scaling(tb)) * p_b
        out.view(-1)[i] = value
    return out


def composite_softmax_loss(pred, target, scaling, gamma=1.0, dim=-1, **_):
    # eq. (29) with γ: a loop over rows, sums over classes written out.
    p_m, t_m = pred.movedim(dim, -1), target.movedim(dim, -1)
    rows_p, rows_t = p_m.reshape(-1, p_m.shape[-1]), t_m.reshape(-1, t_m.shape[-1])
    out = []
    for zh, zs in zip(rows_p.double(), rows_t.double()):
        Qh = [float(scaling.primitive(v)) / gamma for v in zh]
        Qs = [float(scaling.primitive(v)) / gamma for v in zs]
        mh, ms = max(Qh), max(Qs)
        Hh = gamma * (mh + math.log(sum(math.exp(v - mh) for v in Qh)))
        Zs = sum(math.exp(v - ms) for v in Qs)
        Hs = gamma * (ms + math.log(Zs))
        lin = sum((float(a) - float(b)) * float(scaling(b)) * math.exp(v - ms) / Zs for a, b, v in zip(zh, zs, Qs))
        out.append(Hh - Hs - lin)
    return torch.tensor(out, dtype=pred.dtype).reshape(p_m.shape[:-1])


def decomposed_matching_loss(pred, target, link, dim=-1, **_):
    # eq. (28): Σ_k ∫_{s_k}^{ŝ_k} (h(z) - h(s_k)) dz, each integral by scipy quadrature.
    from scipy.integrate import quad

    p_m, t_m = pred.movedim(dim, -1), target.movedim(dim, -1)
    rows_p, rows_t = p_m.reshape(-1, p_m.shape[-1]), t_m.reshape(-1, t_m.shape[-1])
    out = []
    for zh, zs in zip(rows_p.double(), rows_t.double()):
        total = 0.0
        for a, b in zip(zh.tolist(), zs.tolist()):
            hb = float(link(torch.tensor(b, dtype=torch.float64)))
            total += quad(lambda t: float(link(torch.tensor(t, dtype=torch.float64))) - hb, b, a)[0]
        out.append(total)
    return torch.tensor(out, dtype=pred.dtype).reshape(p_m.shape[:-1])


REFERENCES = {
    "composite_sigmoid_loss": composite_sigmoid_loss,
    "composite_softmax_loss": composite_softmax_loss,
    "decomposed_matching_loss": decomposed_matching_loss,
}
