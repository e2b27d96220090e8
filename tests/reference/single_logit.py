"""Naive references for the single-logit classification objectives (seed 001).

Loops over examples and classes in float64 with the ``math`` module, written from
the seed's formulas as printed (eq. 2, 4, 5, 7, 8, 9, Sect. 4.1, 4.3, Definitions 2-3),
never calling the losses under test. Inputs are kept moderate by the samples
(|z| of a few units), so no log-space tricks are needed here.
"""
import math

import torch


def _rows(logits, labels):
    z = logits.detach().double().reshape(-1, logits.shape[-1]).tolist()
    y = labels.reshape(-1).tolist()
    return z, y


def _out(values, logits, labels):
    return torch.tensor(values, dtype=torch.float64).reshape(labels.shape)


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _softmax(row):
    e = [math.exp(v) for v in row]
    s = sum(e)
    return [v / s for v in e]


def max_margin(logits, labels, margin=1.0, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        worst = max(v for j, v in enumerate(row) if j != c)
        out.append(max(0.0, margin - row[c] + worst))
    return _out(out, logits, labels)


def softmax_cauchy_schwarz(logits, labels, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        p = _softmax(row)
        norm = math.sqrt(sum(v * v for v in p))
        out.append(-math.log(p[c] / norm))  # eq. (4)
    return _out(out, logits, labels)


def sigmoid_cauchy_schwarz(logits, labels, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        s = [_sig(v) for v in row]
        norm = math.sqrt(sum(v * v for v in s))
        out.append(-math.log(s[c] / norm))  # eq. (5)
    return _out(out, logits, labels)


def _tanimoto(f, g):
    # eq. (6) as printed: −f·g / (‖f‖ + ‖g‖ − f·g), plain L2 norms.
    dot = sum(a * b for a, b in zip(f, g))
    nf = math.sqrt(sum(a * a for a in f))
    ng = math.sqrt(sum(b * b for b in g))
    return -dot / (nf + ng - dot)


def softmax_tanimoto(logits, labels, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        f = [1.0 if j == c else 0.0 for j in range(len(row))]
        out.append(_tanimoto(f, _softmax(row)))
    return _out(out, logits, labels)


def sigmoid_tanimoto(logits, labels, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        f = [1.0 if j == c else 0.0 for j in range(len(row))]
        out.append(_tanimoto(f, [_sig(v) for v in row]))
    return _out(out, logits, labels)


def self_normalization(logits, labels, alpha=0.1, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        total = sum(math.exp(v) for v in row)
        out.append(-math.log(math.exp(row[c]) / total) + alpha * math.log(total) ** 2)
    return _out(out, logits, labels)


def nce(logits, labels, num_noise=10, noise=None, mode="expectation", noise_samples=None, **_):
    # eq. (8) with g_j = 1 / (1 + t q(j) e^{-z_j}); the expectation as a sum over classes,
    # or the t given samples.
    z, y = _rows(logits, labels)
    K = len(z[0])
    q = [1.0 / K] * K if noise is None else [float(v) for v in noise.double()]
    t = num_noise

    def g(j, v):
        return 1.0 / (1.0 + t * q[j] * math.exp(-v))

    samples = None if noise_samples is None else noise_samples.reshape(-1, t).tolist()
    out = []
    for i, (row, c) in enumerate(zip(z, y)):
        value = -math.log(g(c, row[c]))
        if samples is None:
            value -= t * sum(q[j] * math.log(1.0 - g(j, row[j])) for j in range(K) if q[j] > 0)
        else:
            value -= sum(math.log(1.0 - g(j, row[j])) for j in samples[i])
        out.append(value)
    return _out(out, logits, labels)


def binary_cross_entropy(logits, labels, **_):
    z, y = _rows(logits, labels)
    out = []
    for row, c in zip(z, y):
        r = [1.0 if j == c else 0.0 for j in range(len(row))]
        out.append(-sum(rj * math.log(_sig(v)) + (1 - rj) * math.log(1 - _sig(v)) for rj, v in zip(r, row)))
    return _out(out, logits, labels)


def batch_cross_entropy(logits, labels, **_):
    # Definition 2: per-example terms of KL(P_B || Q_B), m·P_B(i, y_i)·log(P_B/Q_B) = log(1/m / Q_B(i, y_i)).
    z, y = _rows(logits, labels)
    m = len(z)
    total = sum(math.exp(v) for row in z for v in row)
    out = [math.log((1.0 / m) / (math.exp(row[c]) / total)) for row, c in zip(z, y)]
    return _out(out, logits, labels)


def batch_max_margin(logits, labels, margin=1.0, **_):
    # Definition 3 (the 'sum' form m·L_m, since there is no 'none' output).
    z, y = _rows(logits, labels)
    z_plus = min(row[c] for row, c in zip(z, y))
    z_minus = max(v for row, c in zip(z, y) for j, v in enumerate(row) if j != c)
    per = [max(0.0, margin - row[c] + max(v for j, v in enumerate(row) if j != c)) for row, c in zip(z, y)]
    return torch.tensor(max(0.0, margin - z_plus + z_minus) + sum(per), dtype=torch.float64)


REFERENCES = {
    "max_margin": max_margin,
    "softmax_cauchy_schwarz": softmax_cauchy_schwarz,
    "sigmoid_cauchy_schwarz": sigmoid_cauchy_schwarz,
    "softmax_tanimoto": softmax_tanimoto,
    "sigmoid_tanimoto": sigmoid_tanimoto,
    "self_normalization": self_normalization,
    "nce": nce,
    "binary_cross_entropy": binary_cross_entropy,
    "batch_cross_entropy": batch_cross_entropy,
    "batch_max_margin": batch_max_margin,
}
