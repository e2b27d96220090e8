"""Fast paths of ranking, margin, single-logit, contrastive, Fenchel–Young and matching losses.

Each fix keeps the former computation reachable (the masked path with an all-True mask, a
general ``noise``/``target`` path) or copies the former expression here as ``_before_*``:
values and gradients must equal it, and float64 ``gradcheck`` must pass. An op-count or
allocation test (``_dispatch_count.OpCounter``) per fix pins the work saved, so a regression
fails on any machine without timing anything.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from _dispatch_count import OpCounter


def _grads(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = fn(*inputs)
    diff = [t for t in inputs if t.requires_grad]
    grads = torch.autograd.grad(out.sum(), diff, allow_unused=True)
    return out.detach(), grads


def _assert_same(fn_new, fn_old, *inputs, rtol=1e-6, atol=1e-7):
    a, ga = _grads(fn_new, *inputs)
    b, gb = _grads(fn_old, *inputs)
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol, equal_nan=True)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, equal_nan=True)


def _count(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    with OpCounter() as c:
        fn(*inputs).backward()
    return c


# ---------------------------------------------------------------- ranking without a mask

def _lists(L=6, n=7, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(L, n, dtype=dtype, generator=g) * 1.5
    y = torch.randint(0, 5, (L, n), generator=g).to(dtype)
    return s, y


_RANKING = {
    "listmle": lambda s, y, **kw: ll.listmle(s, y, **kw),
    "selective_pointwise": lambda s, y, **kw: ll.selective_pointwise(s, y, link=ll.links.sigmoid(), **kw),
    "selective_pointwise_norm": lambda s, y, **kw: ll.selective_pointwise(
        s, y, link=ll.links.exp(alpha=1.0, cap=50.0), normalize=True, **kw),
    "selective_listwise": lambda s, y, **kw: ll.selective_listwise(
        s, y, scaling=ll.links.exp(alpha=0.5), gamma=1.5, **kw),
}


@pytest.mark.parametrize("name", sorted(_RANKING))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ranking_unmasked_equals_all_true_mask(name, reduction):
    # The masked path is the former implementation of a call without a mask.
    f = _RANKING[name]
    s, y = _lists()
    s[0, :3] = 0.0  # ties in scores and grades
    w = torch.rand(s.shape[0], dtype=s.dtype, generator=torch.Generator().manual_seed(3))
    for kw in ({}, {"sample_weight": w}):
        _assert_same(lambda s: f(s, y, reduction=reduction, **kw),
                     lambda s: f(s, y, mask=torch.ones(s.shape, dtype=torch.bool), reduction=reduction, **kw), s)
    # batch dimensions beyond one
    s3, y3 = s.reshape(2, 3, 7), y.reshape(2, 3, 7)
    _assert_same(lambda s: f(s, y3, reduction=reduction),
                 lambda s: f(s, y3, mask=torch.ones(s.shape, dtype=torch.bool), reduction=reduction), s3)


@pytest.mark.parametrize("name", sorted(_RANKING))
def test_ranking_unmasked_gradcheck_and_errors(name):
    f = _RANKING[name]
    s, y = _lists(3, 5)
    assert torch.autograd.gradcheck(lambda s: f(s, y, reduction="none"), (s.requires_grad_(),))
    y_bad = y.clone()
    y_bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="labels"):
        f(s.detach(), y_bad)
    with pytest.raises(TypeError, match="scores"):
        f(torch.zeros(2, 3, dtype=torch.long), y[:2, :3])
    with pytest.raises(ValueError, match="labels"):
        f(s.detach(), y[:, :2])
    # integer grades are promoted as before
    yi = y.long()
    torch.testing.assert_close(f(s.detach(), yi), f(s.detach(), yi, mask=torch.ones(s.shape, dtype=torch.bool)))


@pytest.mark.parametrize("name", sorted(_RANKING))
def test_ranking_unmasked_fewer_ops(name):
    # no all-True mask, no where copies, no -inf fills: clearly fewer ops, forward + backward
    f = _RANKING[name]
    s, y = _lists(64, 16, torch.float32)
    masked = _count(lambda s: f(s, y, mask=torch.ones(s.shape, dtype=torch.bool)), s)
    plain = _count(lambda s: f(s, y), s)
    assert len(plain.ops) <= 0.75 * len(masked.ops), (len(plain.ops), len(masked.ops))
    assert plain.count("where") < masked.count("where")
    big = s.numel() * s.element_size()
    assert len(plain.big(big)) < len(masked.big(big))


# ---------------------------------------------------------------- former expressions

def _before_hinge(s, t, m=1.0, p=1):
    y = t.to(s.dtype)
    v = (m - y * s).clamp_min(0)
    return v if p == 1 else v ** 2


def _before_multiclass_hinge(x, y, m=1.0, p=1):
    idx = y.unsqueeze(-1)
    viol = (m - x.gather(-1, idx) + x).clamp_min(0)
    viol = viol.scatter(-1, idx, 0.0)
    if p == 2:
        viol = viol * viol
    return viol.sum(-1)


def _before_arcface(x, y, sc=64.0, m=0.5):
    x = x.clamp(-1.0, 1.0)
    idx = y.unsqueeze(-1)
    c = x.gather(-1, idx).squeeze(-1)
    sin = torch.sqrt((1 - c * c).clamp_min(torch.finfo(x.dtype).tiny))
    phi = c * math.cos(m) - sin * math.sin(m)
    phi = torch.where(c > math.cos(math.pi - m), phi, c - math.sin(m) * m)
    logits = sc * x.scatter(-1, idx, phi.unsqueeze(-1))
    return torch.logsumexp(logits, -1) - sc * phi


def _before_nce(z, y, t=10):
    K = z.shape[-1]
    q = torch.full((K,), 1.0 / K, dtype=z.dtype)
    log_tq = torch.log(t * q)
    true = z.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return F.softplus(-(true - log_tq[y])) + t * (q * F.softplus(z - log_tq)).sum(-1)


def _before_contrastive(x1, x2, y, m=2.0):
    y = y.to(x1.dtype)
    diff = x1 - x2
    sq = (diff * diff).sum(-1)
    d = torch.sqrt((diff * diff).sum(-1).clamp_min(torch.finfo(diff.dtype).tiny))
    far = (m - d).clamp_min(0)
    return 0.5 * (y * sq + (1 - y) * far * far)


def _before_fy_shannon(x, t):
    u = torch.log_softmax(x, -1)
    u0 = torch.where((t == 0) & torch.isinf(u), torch.zeros_like(u), u)
    return (torch.special.xlogy(t, t).sum(-1) - (t * u0).sum(-1)).clamp_min(0)


def _before_decomposed(p, t, link):
    return (link.primitive(p) - link.primitive(t) - (p - t) * link(t)).sum(-1)


def _mat(B=6, K=9, dtype=torch.float64, seed=1, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, K, dtype=dtype, generator=g) * scale, torch.randint(0, K, (B,), generator=g)


@pytest.mark.parametrize("p", [1, 2])
def test_hinge_and_multiclass_hinge_equal_before(p):
    x, y = _mat()
    x[0, :] = 0.0  # kinks: m − y s = 0 exactly where s = ±1 ... and ties at zero
    x[1, 2] = x[1, y[1]] - 1.0  # a violation exactly at 0
    pm = torch.where(torch.arange(x.numel()) % 3 == 0, 1, -1)
    s = x.reshape(-1).clone()
    s[:4] = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=s.dtype)  # exactly on the margin
    new = ll.hinge if p == 1 else ll.squared_hinge
    _assert_same(lambda s: new(s, pm, reduction="none"), lambda s: _before_hinge(s, pm, p=p), s, rtol=0, atol=0)
    _assert_same(lambda x: ll.multiclass_hinge(x, y, p=p, reduction="none"),
                 lambda x: _before_multiclass_hinge(x, y, p=p), x, rtol=0, atol=0)
    _assert_same(lambda x: ll.multiclass_hinge(x.T, y, p=p, dim=0, reduction="none"),
                 lambda x: _before_multiclass_hinge(x.T.movedim(0, -1), y, p=p), x.T.contiguous().T, rtol=0, atol=0)
    torch.testing.assert_close(ll.multiclass_hinge(x, y, p=p, margin=2.0) / x.shape[1],
                               F.multi_margin_loss(x, y, p=p, margin=2.0))


def test_hinge_label_errors_unchanged():
    s = torch.zeros(5)
    for bad, shown in ((torch.tensor([1, -1, 0, 1, 1]), "0"), (torch.tensor([1.0, 2.0, 1, 1, 1]), "2.0"),
                       (torch.tensor([1.0, float("nan"), 1, 1, 1]), "nan")):
        for f in (ll.hinge, ll.squared_hinge):
            with pytest.raises(ValueError, match=r"target must contain only \(-1, 1\).*got a value " + shown):
                f(s, bad)
    assert torch.autograd.gradcheck(lambda s: ll.squared_hinge(s, torch.tensor([1, -1, 1])),
                                    (torch.tensor([0.3, 0.2, -2.0], dtype=torch.float64, requires_grad=True),))


def test_hinge_ops():
    s = torch.randn(4096)
    pm = torch.randint(0, 2, (4096,)) * 2 - 1
    # the pure-PyTorch path (the fused kernel's own count is in test_fast_paths_hinge_logcosh.py)
    c = _count(lambda s: ll.hinge(s, pm, impl="reference"), s)
    # forward: one conversion, the ±1 check (abs, aminmax), addcmul, clamp, mean: no full-size
    # boolean per allowed value (eq, or) and no separate product and subtraction
    full_bool = [a for a in c.allocs if a[0] in ("eq", "bitwise_or", "logical_or", "zeros_like") and a[1] >= 4096]
    assert not full_bool, full_bool
    assert c.count("addcmul") == 1 and c.count("rsub") == 0 and c.count("abs") == 0, c.ops
    old = _count(lambda s: _before_hinge(s, pm).mean(), s)
    assert len(c.big(4096 * 4)) <= len(old.big(4096 * 4)), (c.big(4096 * 4), old.big(4096 * 4))


@pytest.mark.parametrize("p", [1, 2])
def test_multiclass_hinge_fewer_buffers(p):
    x, y = _mat(256, 64, torch.float32)
    big = x.numel() * x.element_size()
    new = _count(lambda x: ll.multiclass_hinge(x, y, p=p), x)
    old = _count(lambda x: _before_multiclass_hinge(x, y, p=p).mean(), x)
    # forward: the violations (freed on return); backward: the gradient. Nothing else [B, K]
    # in float (p = 1 keeps a boolean of the active classes, a quarter of that).
    assert len(new.big(big)) <= (2 if p == 1 else 3), new.big(big)  # p = 2: v·v, summed and freed
    assert len(new.big(big)) <= len(old.big(big)) - 4, (new.big(big), old.big(big))


def test_arcface_equal_before_and_buffers():
    g = torch.Generator().manual_seed(2)
    cos = torch.rand(7, 11, dtype=torch.float64, generator=g) * 1.8 - 0.9
    y = torch.randint(0, 11, (7,), generator=g)
    cos[0, y[0]] = 1.0
    cos[1, y[1]] = -1.0
    cos[2, y[2]] = -0.95  # theta + m > pi: the monotone extension
    _assert_same(lambda c: ll.arcface(c, y, reduction="none"), lambda c: _before_arcface(c, y), cos, rtol=1e-12, atol=1e-12)
    # cosines just outside [-1, 1] (within the tolerance) are still clamped, gradient included
    cos2 = cos.clone()
    cos2[3, 4] = 1.0 + 5e-6
    cos2[4, 0] = -1.0 - 5e-6
    _assert_same(lambda c: ll.arcface(c, y, reduction="none"), lambda c: _before_arcface(c, y), cos2, rtol=1e-12, atol=1e-12)
    _assert_same(lambda c: ll.arcface(c.T, y, dim=0, reduction="none"), lambda c: _before_arcface(c, y),
                 cos.T.contiguous().T, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cosine must lie in"):
        ll.arcface(cos + 0.2, y)
    inner = (cos * 0.9).clone().requires_grad_()  # away from |cos| = 1, where sin θ has no derivative
    assert torch.autograd.gradcheck(lambda c: ll.arcface(c, y, scale=4.0), (inner,))
    x32, y32 = (cos[:, :].float() * 0.99).repeat(32, 8), y.repeat(32)
    big = x32.numel() * x32.element_size()
    new = _count(lambda c: ll.arcface(c, y32), x32)
    old = _count(lambda c: _before_arcface(c, y32).mean(), x32)
    assert len(new.big(big)) <= len(old.big(big)) - 3, (new.big(big), old.big(big))


def test_nce_uniform_equal_before_and_ops():
    z, y = _mat(8, 12)
    z[0, 0] = 80.0
    z[1, 3] = -80.0
    _assert_same(lambda z: ll.nce(z, y, num_noise=10, reduction="none"), lambda z: _before_nce(z, y), z,
                 rtol=1e-12, atol=1e-12)
    # the explicit uniform distribution takes the general path: the same loss
    q = torch.full((12,), 1 / 12, dtype=z.dtype)
    _assert_same(lambda z: ll.nce(z, y, num_noise=3), lambda z: ll.nce(z, y, num_noise=3, noise=q), z,
                 rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: ll.nce(z, y, num_noise=4), (z.clone().requires_grad_(),))
    with pytest.raises(ValueError, match="noise_samples"):
        ll.nce(z, y, noise_samples=torch.zeros(8, 10, dtype=torch.long))
    z32, y32 = _mat(256, 64, torch.float32)
    big = z32.numel() * z32.element_size()
    new = _count(lambda z: ll.nce(z, y32), z32)
    old = _count(lambda z: ll.nce(z, y32, noise=torch.full((64,), 1 / 64)), z32)
    assert new.count("where") == 0
    assert len(new.big(big)) <= len(old.big(big)) - 2, (new.big(big), old.big(big))


def test_contrastive_equal_before_and_ops():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(9, 5, dtype=torch.float64, generator=g), torch.randn(9, 5, dtype=torch.float64, generator=g)
    b[0] = a[0]  # distance 0: the clamped sqrt keeps the gradient finite
    y = torch.randint(0, 2, (9,), generator=g)
    y[0] = 0
    _assert_same(lambda a, b: ll.contrastive(a, b, y, margin=2.0, reduction="none"),
                 lambda a, b: _before_contrastive(a, b, y), a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a: ll.contrastive(a, b, y, margin=2.0), (a.clone().requires_grad_(),))
    a32, b32 = a.float().repeat(64, 16), b.float().repeat(64, 16)
    y32 = y.repeat(64)
    big = a32.numel() * a32.element_size()
    new = _count(lambda a, b: ll.contrastive(a, b, y32, margin=2.0), a32, b32)
    old = _count(lambda a, b: _before_contrastive(a, b, y32).mean(), a32, b32)
    assert len(new.big(big)) <= len(old.big(big)) - 2, (new.big(big), old.big(big))


def test_fenchel_young_shannon_soft_target_equal_before_and_ops():
    x, _ = _mat(6, 9)
    t = torch.softmax(torch.randn(6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5)), -1)
    t[0, :4] = 0.0
    t[0] /= t[0].sum()
    _assert_same(lambda x: ll.fenchel_young_loss(x, t, reduction="none"), lambda x: _before_fy_shannon(x, t), x,
                 rtol=1e-12, atol=1e-12)
    # a -inf-masked class with target 0: the guarded product, as before
    xm = x.clone()
    xm[0, 1] = float("-inf")
    torch.testing.assert_close(ll.fenchel_young_loss(xm, t, reduction="none"), _before_fy_shannon(xm, t))
    assert torch.isfinite(ll.fenchel_young_loss(xm, t, reduction="none")).all()
    # the same errors as the full check
    with pytest.raises(ValueError, match="finite and non-negative"):
        ll.fenchel_young_loss(x, t - 0.01)
    with pytest.raises(ValueError, match="must sum to 1"):
        ll.fenchel_young_loss(x, t * 1.01)
    tn = t.clone()
    tn[2, 2] = float("nan")
    with pytest.raises(ValueError, match="finite and non-negative"):
        ll.fenchel_young_loss(x, tn)
    t_pos = torch.softmax(x.flip(0), -1)  # no zero entry: gradcheck's steps keep it a distribution
    assert torch.autograd.gradcheck(lambda x, t: ll.fenchel_young_loss(x, t),
                                    (x.clone().requires_grad_(), t_pos.clone().requires_grad_()))
    x32, t32 = x.float().repeat(32, 8), t.float().repeat(32, 8) / 8
    big = x32.numel() * x32.element_size()
    new = _count(lambda x: ll.fenchel_young_loss(x, t32), x32)
    # log p, p (saved), y·log p, y log y; backward p − y, times the incoming gradient. The
    # former guarded product added a zeros_like and a where (and two [B, K] booleans), and the
    # full probability check four passes with [B, K] booleans.
    assert new.count("where") == 0 and new.count("isinf") == 0, new.ops
    assert len(new.big(big)) <= 6, new.big(big)
    assert not [a for a in new.allocs if a[0] in ("lt", "isfinite", "eq", "bitwise_and") and a[1] >= x32.numel()]


def test_fenchel_young_named_sparse_regularisers_take_the_prefix_path():
    x, y = _mat(16, 512, torch.float32)
    for reg, ref in (("sparsemax", ll.sparsemax_loss), ("entmax15", ll.entmax15_loss)):
        c = _count(lambda x: ll.fenchel_young_loss(x, y, regulariser=reg), x)
        assert c.count("topk") >= 1 and c.count("sort") == 0, c.ops
        torch.testing.assert_close(ll.fenchel_young_loss(x, y, regulariser=reg), ref(x, y))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_decomposed_matching_equal_before_and_no_per_element_tensor(reduction):
    p, t = _mat(5, 7)[0], _mat(5, 7, seed=9)[0]
    for link in (ll.links.sigmoid(), ll.links.exp(alpha=0.5, cap=20.0), ll.links.identity()):
        new = lambda p: ll.decomposed_matching_loss(p, t, link, reduction=reduction)
        old_rows = lambda p: _before_decomposed(p, t, link)
        old = {"none": old_rows, "sum": lambda p: old_rows(p).sum(), "mean": lambda p: old_rows(p).mean()}[reduction]
        _assert_same(new, old, p, rtol=1e-10, atol=1e-10)
        _assert_same(lambda p: ll.decomposed_matching_loss(p.T, t.T, link, dim=0, reduction=reduction), old, p,
                     rtol=1e-10, atol=1e-10)
    w = torch.rand(5, dtype=p.dtype)
    weighted = {"none": lambda r: r * w, "sum": lambda r: (r * w).sum(), "mean": lambda r: (r * w).sum() / w.sum()}[reduction]
    _assert_same(lambda p: ll.decomposed_matching_loss(p, t, ll.links.sigmoid(), sample_weight=w, reduction=reduction),
                 lambda p: weighted(_before_decomposed(p, t, ll.links.sigmoid())), p, rtol=1e-10, atol=1e-10)
    if reduction == "mean" and ll.kernels.available():
        p32, t32 = p.float().repeat(64, 8), t.float().repeat(64, 8)
        c = _count(lambda p: ll.decomposed_matching_loss(p, t32, ll.links.sigmoid()), p32)
        old = _count(lambda p: _before_decomposed(p, t32, ll.links.sigmoid()).mean(), p32)
        # the fused sum: no [B, K] loss tensor, only the kernel's saved gradient and the backward's
        assert len(c.big(p32.numel() * 4)) <= 2, c.big(p32.numel() * 4)
        assert len(c.big(p32.numel() * 4)) < len(old.big(p32.numel() * 4)) - 2
