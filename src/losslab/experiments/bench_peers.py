"""The benchmark cases of ``losslab bench``: for each registered loss, inputs of a
given size and the peers it is measured against.

A *peer* computes the same mean loss on the same tensors by other means: PyTorch's
own loss where one exists (``F.cross_entropy``, ``F.multi_margin_loss``, ...), the
``entmax`` package, pytorch-metric-learning, or otherwise a straightforward PyTorch
implementation written here from the loss's formula (``plain``). A peer that
computes something else would make a time ratio meaningless, so every pair is
checked for equal values (``tests/test_bench.py`` at a tiny size in float64; the
command itself at every size it runs).

``CASES[name](shape, dtype, generator) -> Case``. ``shape`` is ``(B, K)`` (rows by
classes, lists by items, batch by embedding width, batch by vocabulary) or ``(N,)``
for elementwise losses; an elementwise loss given ``(B, K)`` takes ``B*K`` elements
and a row loss given ``(N,)`` is skipped with a reason (:class:`NeedsMatrix`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

import losslab
from losslab import links


@dataclass
class Case:
    """``loss(*inputs)`` and each ``peers[name](*inputs)`` return the same mean loss.
    ``inputs`` that require grad are differentiated. A peer given as a string is
    not available, and the string says why (``"skipped: ..."``)."""

    inputs: tuple
    loss: Callable[..., torch.Tensor]
    peers: dict[str, Callable[..., torch.Tensor] | str]
    note: str = ""
    # peers that are PyTorch code (compiled by ``--compile``), not third-party packages
    compilable: tuple[str, ...] = field(default=())


class NeedsMatrix(ValueError):
    """A row loss was given a one-number size (``N``); it needs ``BxK``."""


def _rows_cols(shape) -> tuple[int, int]:
    if len(shape) != 2:
        raise NeedsMatrix(f"size {'x'.join(map(str, shape))} gives no BxK for a row loss")
    return int(shape[0]), int(shape[1])


def _numel(shape) -> int:
    return int(math.prod(shape))


def _x(shape, dtype, g, scale=1.0, grad=True):
    return (torch.randn(*shape, dtype=dtype, generator=g) * scale).requires_grad_(grad)


def _labels(high, shape, g):
    return torch.randint(0, high, tuple(shape), generator=g)


def _pick(x, y):
    """``x[i, y_i]`` for logits ``[B, K]`` and labels ``[B]``."""
    return x.gather(1, y[:, None])[:, 0]


def _other_max(x, y):
    """``max_{j != y_i} x[i, j]``: the label's entry masked to -inf in a copy."""
    return x.scatter(1, y[:, None], float("-inf")).amax(1)


def _package(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        return None


def _case(inputs, loss, peers, note="", compilable=None) -> Case:
    if compilable is None:
        compilable = tuple(k for k, v in peers.items() if callable(v))
    return Case(tuple(inputs), loss, peers, note, tuple(compilable))


# ---------------------------------------------------------------- classification


def _logits_case(shape, dtype, g):
    B, K = _rows_cols(shape)
    return B, K, _x((B, K), dtype, g, 2.0), _labels(K, (B,), g)


def cross_entropy(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.cross_entropy(x, y), {"F.cross_entropy": F.cross_entropy})


def binary_cross_entropy_with_logits(shape, dtype, g):
    n = _numel(shape)
    x = _x((n,), dtype, g, 2.0)
    t = torch.rand(n, dtype=dtype, generator=g)
    return _case((x, t), lambda x, t: losslab.binary_cross_entropy_with_logits(x, t),
                 {"F.binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits})


def focal_loss(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):
        logp = _pick(F.log_softmax(x, 1), y)
        return (-(1 - logp.exp()) ** 2 * logp).mean()

    return _case((x, y), lambda x, y: losslab.focal_loss(x, y, gamma=2.0), {"plain": plain})


def poly_loss(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):  # Poly-1: CE + eps (1 - p_t)
        ce = F.cross_entropy(x, y, reduction="none")
        return (ce + (1 - torch.exp(-ce))).mean()

    return _case((x, y), lambda x, y: losslab.poly_loss(x, y, epsilon=1.0), {"plain (F.cross_entropy + 1-p_t)": plain})


def kl_divergence(shape, dtype, g):
    B, K = _rows_cols(shape)
    x = F.log_softmax(torch.randn(B, K, dtype=dtype, generator=g), 1).requires_grad_(True)
    t = torch.softmax(torch.randn(B, K, dtype=dtype, generator=g), 1)
    return _case((x, t), lambda x, t: losslab.kl_divergence(x, t),
                 {"F.kl_div(batchmean)": lambda x, t: F.kl_div(x, t, reduction="batchmean")})


def _pm1(shape, dtype, g):
    n = _numel(shape)
    return _x((n,), dtype, g, 2.0), _labels(2, (n,), g) * 2 - 1


def hinge(shape, dtype, g):
    x, y = _pm1(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.hinge(x, y), {"plain": lambda x, y: torch.relu(1 - y * x).mean()})


def squared_hinge(shape, dtype, g):
    x, y = _pm1(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.squared_hinge(x, y),
                 {"plain": lambda x, y: torch.relu(1 - y * x).square().mean()})


def multiclass_hinge(shape, dtype, g):
    _, K, x, y = _logits_case(shape, dtype, g)
    # F.multi_margin_loss divides the per-example sum by K; losslab's is the sum
    return _case((x, y), lambda x, y: losslab.multiclass_hinge(x, y),
                 {"F.multi_margin_loss": lambda x, y: K * F.multi_margin_loss(x, y)})


def soft_dice(shape, dtype, g):
    B, K = _rows_cols(shape)
    images = 8 if B >= 64 and B % 8 == 0 else 2
    if B % images:
        raise NeedsMatrix(f"soft_dice needs B divisible by {images}; got B={B}")
    x = _x((images, B // images, K), dtype, g, 2.0)
    y = _labels(K, (images, B // images), g)

    def plain(x, y):
        p = torch.softmax(x, -1)
        t = F.one_hot(y, K).to(p.dtype)
        dice = (2 * (p * t).sum(-2) + 1) / (p.sum(-2) + t.sum(-2) + 1)
        return (1 - dice.mean(-1)).mean()

    return _case((x, y), lambda x, y: losslab.soft_dice(x, y), {"plain": plain},
                 note=f"{images} images of {B // images} pixels x {K} classes")


def arcface(shape, dtype, g):
    B, K = _rows_cols(shape)
    cos = (torch.rand(B, K, dtype=dtype, generator=g) * 1.8 - 0.9).requires_grad_(True)
    y = _labels(K, (B,), g)
    s, m = 64.0, 0.5

    def plain(cos, y):  # the InsightFace formulation: cos(theta + m) where theta + m < pi
        c = _pick(cos, y)
        phi = c * math.cos(m) - torch.sqrt((1 - c * c).clamp_min(0)) * math.sin(m)
        phi = torch.where(c > -math.cos(m), phi, c - m * math.sin(m))
        return F.cross_entropy(s * cos.scatter(1, y[:, None], phi[:, None]), y)

    return _case((cos, y), lambda c, y: losslab.arcface(c, y, scale=s, margin=m), {"plain": plain})


def ge2e(shape, dtype, g):
    B, K = _rows_cols(shape)
    M = 8 if B >= 64 else 2
    N, D = B // M, min(K, 256)
    e = _x((N, M, D), dtype, g)

    def plain(e, w=10.0, b=-5.0):
        cent = F.normalize(e.mean(1), dim=-1)                      # [N, D]
        excl = (e.sum(1, keepdim=True) - e) / (M - 1)              # own centroid without the utterance
        cos_all = F.normalize(e, dim=-1) @ cent.T                  # [N, M, N]
        cos_self = F.cosine_similarity(e, excl, dim=-1, eps=0.0)   # [N, M]
        own = torch.eye(N, dtype=torch.bool)[:, None, :]
        S = w * torch.where(own, cos_self[..., None], cos_all) + b
        return (torch.logsumexp(S, -1) - w * cos_self - b).mean()

    return _case((e,), lambda e: losslab.ge2e(e), {"plain": plain},
                 note=f"{N} speakers x {M} utterances x {D} dims")


# ---------------------------------------------------------------- single-logit (seed 001)


def batch_cross_entropy(shape, dtype, g):
    B, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.batch_cross_entropy(x, y),
                 {"plain": lambda x, y: torch.logsumexp(x.reshape(-1), 0) - _pick(x, y).mean() - math.log(B)})


def batch_max_margin(shape, dtype, g):
    B, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):
        zt, worst = _pick(x, y), _other_max(x, y)
        return (torch.relu(1 - zt.min() + worst.max()) + torch.relu(1 - zt + worst).sum()) / B

    return _case((x, y), lambda x, y: losslab.batch_max_margin(x, y), {"plain": plain})


def binary_cross_entropy(shape, dtype, g):
    B, K, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.binary_cross_entropy(x, y), {
        "F.binary_cross_entropy_with_logits": lambda x, y: F.binary_cross_entropy_with_logits(
            x, F.one_hot(y, K).to(x.dtype), reduction="sum") / B})


def max_margin(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.max_margin(x, y),
                 {"plain": lambda x, y: torch.relu(1 - _pick(x, y) + _other_max(x, y)).mean()})


def nce(shape, dtype, g):
    _, K, x, y = _logits_case(shape, dtype, g)
    t = 10

    def plain(x, y):  # eq. (8), uniform noise: g_j = sigmoid(z_j - log(t/K))
        a = x - math.log(t / K)
        return (F.softplus(-_pick(a, y)) + (t / K) * F.softplus(a).sum(1)).mean()

    return _case((x, y), lambda x, y: losslab.nce(x, y, num_noise=t), {"plain": plain})


def self_normalization(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):
        lse = torch.logsumexp(x, 1)
        return (lse - _pick(x, y) + 0.1 * lse.square()).mean()

    return _case((x, y), lambda x, y: losslab.self_normalization(x, y, alpha=0.1), {"plain": plain})


def softmax_cauchy_schwarz(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):  # -log p_y + log ||p|| with log ||p|| = logsumexp(2 log p) / 2
        lp = F.log_softmax(x, 1)
        return (0.5 * torch.logsumexp(2 * lp, 1) - _pick(lp, y)).mean()

    return _case((x, y), lambda x, y: losslab.softmax_cauchy_schwarz(x, y), {"plain": plain})


def sigmoid_cauchy_schwarz(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)

    def plain(x, y):
        return (0.5 * torch.sigmoid(x).square().sum(1).log() - F.logsigmoid(_pick(x, y))).mean()

    return _case((x, y), lambda x, y: losslab.sigmoid_cauchy_schwarz(x, y), {"plain": plain})


def _tanimoto_case(name, prob):
    def make(shape, dtype, g):
        _, _, x, y = _logits_case(shape, dtype, g)

        def plain(x, y):  # f one-hot: f.g = g_y, ||f|| = 1
            p = prob(x)
            gy = _pick(p, y)
            return (-gy / (1 + p.square().sum(1).sqrt() - gy)).mean()

        return _case((x, y), lambda x, y: getattr(losslab, name)(x, y), {"plain": plain})

    make.__name__ = name
    return make


softmax_tanimoto = _tanimoto_case("softmax_tanimoto", lambda x: torch.softmax(x, 1))
sigmoid_tanimoto = _tanimoto_case("sigmoid_tanimoto", torch.sigmoid)


# ---------------------------------------------------------------- Fenchel-Young


def _entmax_peer(cls_name: str, **kw):
    entmax = _package("entmax")
    if entmax is None:
        return "skipped: the entmax package is not installed (pip install entmax)"
    loss = getattr(entmax, cls_name)(**kw)
    return lambda x, y: loss(x, y).mean()


def sparsemax_loss(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.sparsemax_loss(x, y),
                 {"entmax.SparsemaxLoss(k=100)": _entmax_peer("SparsemaxLoss", k=100),
                  "entmax.SparsemaxLoss(k=None)": _entmax_peer("SparsemaxLoss", k=None)}, compilable=())


def entmax15_loss(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.entmax15_loss(x, y),
                 {"entmax.Entmax15Loss(k=100)": _entmax_peer("Entmax15Loss", k=100),
                  "entmax.Entmax15Loss(k=None)": _entmax_peer("Entmax15Loss", k=None)}, compilable=())


def entmax_bisect_loss(shape, dtype, g):
    _, _, x, y = _logits_case(shape, dtype, g)
    return _case((x, y), lambda x, y: losslab.entmax_bisect_loss(x, y, alpha=1.5, n_iter=50),
                 {"entmax.EntmaxBisectLoss": _entmax_peer("EntmaxBisectLoss", alpha=1.5, n_iter=50)}, compilable=())


def fenchel_young_loss(shape, dtype, g):
    B, K = _rows_cols(shape)
    x = _x((B, K), dtype, g, 2.0)
    t = torch.softmax(torch.randn(B, K, dtype=dtype, generator=g), 1)

    def plain(x, t):  # Shannon: soft-target cross-entropy minus the target's entropy
        return F.cross_entropy(x, t) + torch.special.xlogy(t, t).sum(1).mean()

    return _case((x, t), lambda x, t: losslab.fenchel_young_loss(x, t, regulariser="shannon"),
                 {"F.cross_entropy - H(t)": plain})


# ---------------------------------------------------------------- regression


def _reg(shape, dtype, g, nonneg=False):
    n = _numel(shape)
    p, t = _x((n,), dtype, g), torch.randn(n, dtype=dtype, generator=g)
    if nonneg:
        p = p.detach().abs().requires_grad_(True)
        t = t.abs()
    return p, t


def _reg_case(name, peers, nonneg=False, **kw):
    def make(shape, dtype, g):
        p, t = _reg(shape, dtype, g, nonneg)
        return _case((p, t), lambda p, t: getattr(losslab, name)(p, t, **kw), dict(peers))

    make.__name__ = name
    return make


mae = _reg_case("mae", {"F.l1_loss": F.l1_loss})
mse = _reg_case("mse", {"F.mse_loss": F.mse_loss})
huber = _reg_case("huber", {"F.huber_loss": lambda p, t: F.huber_loss(p, t, delta=1.5)}, delta=1.5)
smooth_l1 = _reg_case("smooth_l1", {"F.smooth_l1_loss": lambda p, t: F.smooth_l1_loss(p, t, beta=0.5)}, beta=0.5)
log_cosh = _reg_case("log_cosh", {"plain": lambda p, t: ((p - t) + F.softplus(-2 * (p - t)) - math.log(2)).mean()})
quantile = _reg_case("quantile", {"plain": lambda p, t: torch.maximum(0.8 * (t - p), -0.2 * (t - p)).mean()}, q=0.8)
mape = _reg_case("mape", {"plain": lambda p, t: ((t - p).abs() / t.abs().clamp_min(torch.finfo(torch.float64).eps)).mean()})
msle = _reg_case("msle", {"plain": lambda p, t: (torch.log1p(p) - torch.log1p(t)).square().mean()}, nonneg=True)
poisson_nll = _reg_case("poisson_nll", {"F.poisson_nll_loss": F.poisson_nll_loss}, nonneg=True)


# ---------------------------------------------------------------- rl


def policy_gradient_loss(shape, dtype, g):
    B, A, x, a = _logits_case(shape, dtype, g)
    adv = torch.randn(B, dtype=dtype, generator=g)

    def plain(x, a, adv):
        lp = F.log_softmax(x, 1)
        entropy = -(lp.exp() * lp).sum(1)
        return (-adv * _pick(lp, a) - 0.01 * entropy).mean()

    return _case((x, a, adv), lambda x, a, adv: losslab.policy_gradient_loss(x, a, adv, entropy_coef=0.01),
                 {"plain": plain})


def td_loss(shape, dtype, g):
    B, A, q, a = _logits_case(shape, dtype, g)
    r = torch.randn(B, dtype=dtype, generator=g)
    nv = torch.randn(B, A, dtype=dtype, generator=g)
    done = _labels(2, (B,), g)

    def plain(q, a, r, nv, done):
        target = r + 0.99 * (1 - done.to(q.dtype)) * nv.amax(1)
        return (_pick(q, a) - target).square().mean()

    return _case((q, a, r, nv, done), lambda *i: losslab.td_loss(*i, gamma=0.99), {"plain": plain})


# ---------------------------------------------------------------- contrastive


def contrastive(shape, dtype, g):
    B, D = _rows_cols(shape)
    x1, x2 = _x((B, D), dtype, g), _x((B, D), dtype, g)
    y = _labels(2, (B,), g)

    def plain(x1, x2, y):
        d = (x1 - x2).norm(dim=1)
        return (0.5 * y * d.square() + 0.5 * (1 - y) * torch.relu(2.0 - d).square()).mean()

    return _case((x1, x2, y), lambda *i: losslab.contrastive(*i, margin=2.0), {"plain": plain})


def triplet(shape, dtype, g):
    B, D = _rows_cols(shape)
    a, p, n = (_x((B, D), dtype, g) for _ in range(3))
    return _case((a, p, n), lambda *i: losslab.triplet(*i, margin=1.0),
                 {"F.triplet_margin_loss": lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=1.0, eps=0.0)})


def _in_batch_ce(q, k, scale):
    return F.cross_entropy(scale * (F.normalize(q, dim=1) @ F.normalize(k, dim=1).T),
                           torch.arange(q.shape[0]))


def info_nce(shape, dtype, g):
    B, D = _rows_cols(shape)
    q, k = _x((B, D), dtype, g), _x((B, D), dtype, g)
    return _case((q, k), lambda q, k: losslab.info_nce(q, k, temperature=0.1),
                 {"plain": lambda q, k: _in_batch_ce(q, k, 10.0)})


def multiple_negatives_ranking(shape, dtype, g):
    B, D = _rows_cols(shape)
    a, p = _x((B, D), dtype, g), _x((B, D), dtype, g)
    return _case((a, p), lambda a, p: losslab.multiple_negatives_ranking(a, p, scale=20.0),
                 {"plain": lambda a, p: _in_batch_ce(a, p, 20.0)})


def nt_xent(shape, dtype, g):
    B, D = _rows_cols(shape)
    z1, z2 = _x((B, D), dtype, g), _x((B, D), dtype, g)

    def plain(z1, z2):  # SimCLR: 2B x 2B cosine logits, own entry out, the other view is the label
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        s = (z @ z.T) / 0.5
        s.fill_diagonal_(float("-inf"))
        return F.cross_entropy(s, torch.arange(2 * B).roll(B))

    peers = {"plain": plain}
    pml = _package("pytorch_metric_learning.losses")
    if pml is None:
        peers["pytorch_metric_learning.NTXentLoss"] = ("skipped: pytorch-metric-learning is not installed "
                                                      "(pip install pytorch-metric-learning)")
    else:
        ntx = pml.NTXentLoss(temperature=0.5)
        labels = torch.arange(B).repeat(2)
        peers["pytorch_metric_learning.NTXentLoss"] = lambda z1, z2: ntx(torch.cat([z1, z2]), labels)
    return _case((z1, z2), lambda z1, z2: losslab.nt_xent(z1, z2, temperature=0.5), peers, compilable=("plain",))


# ---------------------------------------------------------------- ranking


def _lists(shape, dtype, g, grades=5):
    L, n = _rows_cols(shape)
    s = _x((L, n), dtype, g)
    y = _labels(grades, (L, n), g).to(dtype)
    return L, n, s, y


def _pairs(s, y):
    """Score differences ``s_i - s_j`` and the mask ``y_i > y_j``, ``[L, n, n]``."""
    return s[:, :, None] - s[:, None, :], y[:, :, None] > y[:, None, :]


def _rank_case(name, plain, **kw):
    def make(shape, dtype, g):
        _, _, s, y = _lists(shape, dtype, g)
        return _case((s, y), lambda s, y: getattr(losslab, name)(s, y, **kw), {"plain": plain})

    make.__name__ = name
    return make


def _sum_mean(v):
    return v.sum(tuple(range(1, v.dim()))).mean()


pointwise_mse = _rank_case("pointwise_mse", lambda s, y: _sum_mean((s - y).square()))
pointwise_sigmoid_ce = _rank_case(
    "pointwise_sigmoid_ce", lambda s, y: F.binary_cross_entropy_with_logits(s, y / 4.0, reduction="sum") / s.shape[0],
    max_grade=4.0)
ranknet = _rank_case("ranknet", lambda s, y: _sum_mean(F.softplus(-_pairs(s, y)[0]) * _pairs(s, y)[1]))
pairwise_hinge = _rank_case("pairwise_hinge", lambda s, y: _sum_mean(torch.relu(1 - _pairs(s, y)[0]) * _pairs(s, y)[1]))


def _soft_pairwise_plain(s, y):
    d = s[:, :, None] - s[:, None, :]
    sign = torch.sign(y[:, :, None] - y[:, None, :])
    return _sum_mean(F.softplus(-sign * d) * (sign != 0))


soft_pairwise = _rank_case("soft_pairwise", _soft_pairwise_plain)


def listnet(shape, dtype, g):
    _, _, s, y = _lists(shape, dtype, g)
    return _case((s, y), lambda s, y: losslab.listnet(s, y),
                 {"F.cross_entropy(soft target)": lambda s, y: F.cross_entropy(s, torch.softmax(y, 1))})


def listmle(shape, dtype, g):
    _, _, s, y = _lists(shape, dtype, g)

    def plain(s, y):  # items in label order (stable: ties keep list order), log-likelihood of that permutation
        ordered = s.gather(1, torch.argsort(y, dim=1, descending=True, stable=True))
        tail_lse = torch.logcumsumexp(ordered.flip(1), 1).flip(1)
        return (tail_lse - ordered).sum(1).mean()

    return _case((s, y), lambda s, y: losslab.listmle(s, y), {"plain": plain})


def lambda_loss(shape, dtype, g):
    _, n, s, y = _lists(shape, dtype, g)

    def plain(s, y):  # LambdaLoss, NDCG-Loss2 weights (Wang et al. 2018)
        rank = torch.empty_like(y, dtype=torch.long).scatter_(
            1, s.detach().argsort(1, descending=True), torch.arange(1, n + 1).expand(s.shape[0], n).contiguous())
        gain = torch.exp2(y) - 1
        disc = torch.log2(torch.arange(2, n + 2, dtype=s.dtype))
        max_dcg = (gain.sort(1, descending=True).values / disc).sum(1)
        # gap 0 is the diagonal, never a pair; clamped so that its inf weight cannot leak NaN into the gradient
        gap = (rank[:, :, None] - rank[:, None, :]).abs().clamp_min(1).to(s.dtype)
        delta = (1 / torch.log2(1 + gap) - 1 / torch.log2(2 + gap)).abs()
        w = delta * (gain[:, :, None] - gain[:, None, :]).abs() / max_dcg[:, None, None]
        d, pairs = _pairs(s, y)
        return _sum_mean(torch.where(pairs, w * F.softplus(-d) / math.log(2), 0.0))

    return _case((s, y), lambda s, y: losslab.lambda_loss(s, y), {"plain": plain})


def _matching_terms(link, a, b):
    """``H(a) - H(b) - (a - b) h(b)``, the matching loss in closed form (eq. 2)."""
    return link.primitive(a) - link.primitive(b) - (a - b) * link(b)


def selective_pointwise(shape, dtype, g):
    _, _, s, y = _lists(shape, dtype, g)
    h = links.sigmoid()
    return _case((s, y), lambda s, y: losslab.selective_pointwise(s, y, link=h),
                 {"plain": lambda s, y: _sum_mean(_matching_terms(h, s, y))})


def selective_pairwise(shape, dtype, g):
    _, _, s, y = _lists(shape, dtype, g)
    h = links.sigmoid()

    def plain(s, y):
        d, pairs = _pairs(s, y)
        dy = y[:, :, None] - y[:, None, :]
        return _sum_mean(torch.where(pairs, _matching_terms(h, d, dy), 0.0))

    return _case((s, y), lambda s, y: losslab.selective_pairwise(s, y, link=h), {"plain": plain})


def _naive_composite_softmax(pred, target, q, gamma=1.0):
    """Eq. (29) with gamma (C.4-C.5), term by term, per row; mean over rows."""
    Q_hat, Q_s = q.primitive(pred) / gamma, q.primitive(target) / gamma
    h_s = q(target) * torch.softmax(Q_s, -1)
    return (gamma * torch.logsumexp(Q_hat, -1) - gamma * torch.logsumexp(Q_s, -1)
            - ((pred - target) * h_s).sum(-1)).mean()


def selective_listwise(shape, dtype, g):
    _, _, s, y = _lists(shape, dtype, g)
    q = links.exp(alpha=0.5)
    return _case((s, y), lambda s, y: losslab.selective_listwise(s, y, scaling=q, gamma=1.5),
                 {"plain": lambda s, y: _naive_composite_softmax(s, y, q, 1.5)})


# ---------------------------------------------------------------- matching (seed 000)


def matching_loss(shape, dtype, g):
    n = _numel(shape)
    p, t = _x((n,), dtype, g, 2.0), torch.randn(n, dtype=dtype, generator=g) * 2
    h = links.sigmoid(alpha=1.5, beta=0.5)
    return _case((p, t), lambda p, t: losslab.matching_loss(p, t, h),
                 {"plain": lambda p, t: _matching_terms(h, p, t).mean()}, note="sigmoid link (closed form)")


def matching_loss_quadrature(shape, dtype, g):
    n = _numel(shape)
    p, t = _x((n,), dtype, g, 2.0), torch.randn(n, dtype=dtype, generator=g) * 2
    h = links.custom(torch.tanh, derivative=lambda z: 1 - torch.tanh(z) ** 2)
    closed = links.tanh()
    return _case((p, t), lambda p, t: losslab.matching_loss(p, t, h),
                 {"plain (closed form, H = log cosh)": lambda p, t: _matching_terms(closed, p, t).mean()},
                 note="links.custom(tanh) without a primitive: the loss value by quadrature")


def composite_sigmoid_loss(shape, dtype, g):
    n = _numel(shape)
    p, t = _x((n,), dtype, g), torch.randn(n, dtype=dtype, generator=g)
    q = links.exp(alpha=0.5, beta=-1.0)

    def plain(p, t):  # eq. (24): H(z) = softplus(Q(z)), h = q(z) sigmoid(Q(z))
        Qp, Qt = q.primitive(p), q.primitive(t)
        return (F.softplus(Qp) - F.softplus(Qt) - (p - t) * q(t) * torch.sigmoid(Qt)).mean()

    return _case((p, t), lambda p, t: losslab.composite_sigmoid_loss(p, t, q), {"plain": plain})


def composite_softmax_loss(shape, dtype, g):
    B, K = _rows_cols(shape)
    p, t = _x((B, K), dtype, g), torch.randn(B, K, dtype=dtype, generator=g)
    q = links.exp(alpha=0.5)
    return _case((p, t), lambda p, t: losslab.composite_softmax_loss(p, t, q),
                 {"plain (eq. 29)": lambda p, t: _naive_composite_softmax(p, t, q)}, note="scaling exp(0.5)")


def decomposed_matching_loss(shape, dtype, g):
    B, K = _rows_cols(shape)
    p, t = _x((B, K), dtype, g), torch.randn(B, K, dtype=dtype, generator=g)
    h = links.sigmoid()
    return _case((p, t), lambda p, t: losslab.decomposed_matching_loss(p, t, h),
                 {"plain": lambda p, t: _matching_terms(h, p, t).sum(1).mean()})


# ---------------------------------------------------------------- sampled (seed 003)


def _sampled_inputs(shape, dtype, g, d=128):
    B, V = _rows_cols(shape)
    d = min(d, V)
    S = max(1, min(1024, V // 2))
    h = _x((B, d), dtype, g, 1 / math.sqrt(d))
    W = _x((V, d), dtype, g, 1 / math.sqrt(d))
    b = _x((V,), dtype, g, 0.1)
    y = _labels(V, (B,), g)
    ids = _labels(V, (S,), g)
    return B, V, S, (h, W, b, y), ids


def _label_and_sampled_logits(h, W, b, y, ids):
    s_y = (h * W[y]).sum(1) + b[y]
    return s_y, h @ W[ids].T + b[ids]


def sampled_softmax_loss(shape, dtype, g):
    _, V, S, inputs, ids = _sampled_inputs(shape, dtype, g)

    def plain(h, W, b, y):  # uniform proposal: log(S q) = log(S / V); accidental hits masked
        s_y, s_n = _label_and_sampled_logits(h, W, b, y, ids)
        s_n = (s_n - math.log(S / V)).masked_fill(ids[None, :] == y[:, None], float("-inf"))
        return (torch.logsumexp(torch.cat([s_y[:, None], s_n], 1), 1) - s_y).mean()

    return _case(inputs, lambda *i: losslab.sampled_softmax_loss(*i, sampled=ids, proposal="uniform"), {"plain": plain},
                 note=f"d={inputs[0].shape[1]}, {S} shared uniform samples")


def importance_sampling_loss(shape, dtype, g):
    _, V, S, inputs, ids = _sampled_inputs(shape, dtype, g)

    def plain(h, W, b, y):  # log of the importance-sampled partition function, q = 1/V
        s_y, s_n = _label_and_sampled_logits(h, W, b, y, ids)
        return (torch.logsumexp(s_n + math.log(V), 1) - math.log(S) - s_y).mean()

    return _case(inputs, lambda *i: losslab.importance_sampling_loss(*i, sampled=ids, proposal="uniform"),
                 {"plain": plain}, note=f"d={inputs[0].shape[1]}, {S} shared uniform samples")


def negative_sampling_loss(shape, dtype, g):
    _, V, S, inputs, ids = _sampled_inputs(shape, dtype, g)

    def plain(h, W, b, y):
        s_y, s_n = _label_and_sampled_logits(h, W, b, y, ids)
        neg = F.softplus(s_n).masked_fill(ids[None, :] == y[:, None], 0.0)
        return (F.softplus(-s_y) + neg.sum(1)).mean()

    return _case(inputs, lambda *i: losslab.negative_sampling_loss(*i, sampled=ids), {"plain": plain},
                 note=f"d={inputs[0].shape[1]}, {S} shared uniform samples")


def sampled_nce_loss(shape, dtype, g):
    _, V, S, inputs, ids = _sampled_inputs(shape, dtype, g)

    def plain(h, W, b, y):
        s_y, s_n = _label_and_sampled_logits(h, W, b, y, ids)
        c = math.log(S / V)
        return (F.softplus(-(s_y - c)) + F.softplus(s_n - c).sum(1)).mean()

    return _case(inputs, lambda *i: losslab.sampled_nce_loss(*i, sampled=ids, proposal="uniform"), {"plain": plain},
                 note=f"d={inputs[0].shape[1]}, {S} shared uniform samples")


def in_batch_negatives_loss(shape, dtype, g):
    B, V, _, inputs, _ = _sampled_inputs(shape, dtype, g)

    def plain(h, W, b, y):  # the batch's labels are the candidates; logQ from their in-batch frequency
        logits = h @ W[y].T + b[y]
        logq = torch.log(torch.bincount(y, minlength=V)[y].to(h.dtype) / B)
        logits = logits - logq[None, :]
        same = (y[:, None] == y[None, :]) & ~torch.eye(B, dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, torch.arange(B))

    return _case(inputs, lambda *i: losslab.in_batch_negatives_loss(*i), {"plain": plain},
                 note=f"d={inputs[0].shape[1]}")


# ---------------------------------------------------------------- the table

_ALL = [
    arcface, binary_cross_entropy_with_logits, cross_entropy, focal_loss, ge2e, hinge, kl_divergence,
    multiclass_hinge, poly_loss, soft_dice, squared_hinge,
    contrastive, info_nce, multiple_negatives_ranking, nt_xent, triplet,
    entmax15_loss, entmax_bisect_loss, fenchel_young_loss, sparsemax_loss,
    composite_sigmoid_loss, composite_softmax_loss, decomposed_matching_loss, matching_loss,
    lambda_loss, listmle, listnet, pairwise_hinge, pointwise_mse, pointwise_sigmoid_ce, ranknet,
    selective_listwise, selective_pairwise, selective_pointwise, soft_pairwise,
    huber, log_cosh, mae, mape, mse, msle, poisson_nll, quantile, smooth_l1,
    policy_gradient_loss, td_loss,
    importance_sampling_loss, in_batch_negatives_loss, negative_sampling_loss, sampled_nce_loss, sampled_softmax_loss,
    batch_cross_entropy, batch_max_margin, binary_cross_entropy, max_margin, nce, self_normalization,
    sigmoid_cauchy_schwarz, sigmoid_tanimoto, softmax_cauchy_schwarz, softmax_tanimoto,
]
CASES: dict[str, Callable[..., Case]] = {f.__name__: f for f in _ALL}

# Extra rows beyond the registry: (row name, registered loss it measures, case).
VARIANTS: dict[str, tuple[str, Callable[..., Case]]] = {
    "matching_loss[quadrature]": ("matching_loss", matching_loss_quadrature),
}
