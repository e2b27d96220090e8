"""Elementwise losses on PyTorch's fused kernels: values and gradients equal to the
formulas they replace (copied here as the reference), and the number of full-size
allocations of one forward+backward pinned with a dispatch counter, so that a return
to a many-temporary formula fails on any machine without timing anything."""
from __future__ import annotations

import pytest
import torch

import losslab as ll
from _dispatch_count import OpCounter

N = 4096


# ---------------------------------------------------------------- the replaced formulas


def _old_mse(p, t):
    d = p - t
    return d * d


def _old_huber(p, t, delta):
    a = (p - t).abs()
    q = a.clamp_max(delta)
    return 0.5 * q * q + delta * (a - q)


def _old_smooth_l1(p, t, beta):
    a = (p - t).abs()
    q = a.clamp_max(beta)
    return 0.5 * q * q / beta + (a - q)


REGRESSION = [
    ("mse", {}, lambda p, t: _old_mse(p, t)),
    ("huber", {"delta": 1.5}, lambda p, t: _old_huber(p, t, 1.5)),
    ("smooth_l1", {"beta": 0.5}, lambda p, t: _old_smooth_l1(p, t, 0.5)),
]


def _edge_pair(dtype, k):
    # |a| exactly at the kink (k), zero, either side of it, and far out
    p = torch.tensor([k, -k, 0.0, 0.3 * k, 2.0 * k, 1e4, -1e4, 3.0, 0.0], dtype=dtype)
    t = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, -1e4, 0.0, 3.0, 1e4], dtype=dtype)
    return p, t


@pytest.mark.parametrize("name,kw,old", REGRESSION, ids=[r[0] for r in REGRESSION])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_regression_values_and_grads_equal_old_formula(name, kw, old, dtype):
    g = torch.Generator().manual_seed(0)
    k = next(iter(kw.values()), 1.0)
    ep, et = _edge_pair(dtype, k)
    p = torch.cat([torch.randn(64, dtype=dtype, generator=g) * 2, ep])
    t = torch.cat([torch.randn(64, dtype=dtype, generator=g) * 2, et])
    w = torch.rand(p.shape, dtype=dtype, generator=g)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for reduction in ("none", "sum", "mean"):
        for sw in (None, w):
            a = p.clone().requires_grad_(True)
            b = t.clone().requires_grad_(True)
            new = getattr(ll, name)(a, b, **kw, sample_weight=sw, reduction=reduction)
            a2 = p.clone().requires_grad_(True)
            b2 = t.clone().requires_grad_(True)
            ref = old(a2, b2) * (1 if sw is None else sw)
            ref = {"none": ref, "sum": ref.sum(), "mean": ref.sum() / (p.numel() if sw is None else sw.sum())}[reduction]
            torch.testing.assert_close(new, ref, **tol)
            gout = torch.rand(new.shape, dtype=dtype, generator=g)
            ga = torch.autograd.grad(new, (a, b), gout)
            gb = torch.autograd.grad(ref, (a2, b2), gout)
            torch.testing.assert_close(ga, gb, **tol)


@pytest.mark.parametrize("name,kw,old", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_nonfinite_and_mixed_dtypes(name, kw, old):
    p = torch.tensor([float("nan"), float("inf"), float("inf"), 1.0])
    t = torch.tensor([0.0, 0.0, float("inf"), float("-inf")])
    torch.testing.assert_close(getattr(ll, name)(p, t, **kw, reduction="none"), old(p, t), equal_nan=True)
    # mixed dtypes promote (F.huber_loss alone would return float32 here)
    t64 = torch.randn(5, dtype=torch.float64)
    p32 = torch.randn(5)
    out = getattr(ll, name)(p32, t64, **kw, reduction="none")
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, old(p32.double(), t64))


def test_regression_gradcheck_float64():
    g = torch.Generator().manual_seed(1)
    p = (torch.randn(12, dtype=torch.float64, generator=g) * 2).requires_grad_(True)
    t = (torch.randn(12, dtype=torch.float64, generator=g) * 2).requires_grad_(True)
    for name, kw, _ in REGRESSION:
        assert torch.autograd.gradcheck(lambda a, b: getattr(ll, name)(a, b, **kw, reduction="none"), (p, t))


@pytest.mark.parametrize("name,kw,old", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_one_fused_op_each_way(name, kw, old):
    # fused: the loss and its gradient are the only full-size tensors (the formula made 5-19)
    p, t = torch.randn(N, requires_grad=True), torch.randn(N)
    with OpCounter() as c:
        getattr(ll, name)(p, t, **kw).backward()
    big = c.big(N * 4)
    assert len(big) == 2, big
    assert len(c.ops) <= 10, c.ops


# ---------------------------------------------------------------- binary cross-entropy on logits


def _old_bce(x, t, pos_weight=None):
    pos = torch.nn.functional.softplus(-x)
    if pos_weight is not None:
        pos = pos * pos_weight
    return t * pos + (1 - t) * torch.nn.functional.softplus(x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_with_logits_values_and_grads_equal_old_formula(dtype):
    g = torch.Generator().manual_seed(2)
    x = torch.cat([torch.randn(6, 8, dtype=dtype, generator=g) * 3,
                   torch.tensor([[1e4, -1e4, 0.0, 30.0, -30.0, 1e4, -1e4, 5.0]], dtype=dtype)])
    t = torch.rand(x.shape, dtype=dtype, generator=g)
    t[-1] = torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0, 1.0, 0.0, 0.25], dtype=dtype)
    pw = torch.rand(8, dtype=dtype, generator=g) * 3
    w = torch.rand(1, 8, dtype=dtype, generator=g)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for pos_weight in (None, pw, pw[:1]):
        for weight in (None, w):
            a, b = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
            new = ll.binary_cross_entropy_with_logits(a, b, weight, pos_weight=pos_weight, reduction="none")
            a2, b2 = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
            ref = _old_bce(a2, b2, pos_weight) * (1 if weight is None else weight)
            torch.testing.assert_close(new, ref, **tol)
            gout = torch.rand(new.shape, dtype=dtype, generator=g)
            torch.testing.assert_close(torch.autograd.grad(new, (a, b), gout),
                                       torch.autograd.grad(ref, (a2, b2), gout), **tol)
            torch.testing.assert_close(ll.binary_cross_entropy_with_logits(x, t, weight, pos_weight=pos_weight),
                                       ref.detach().mean(), **tol)


def test_bce_with_logits_learnable_pos_weight_keeps_its_gradient():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.rand(5, 4, dtype=torch.float64, generator=g)
    pw = (torch.rand(4, dtype=torch.float64, generator=g) + 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, pw: ll.binary_cross_entropy_with_logits(x, t, pos_weight=pw), (x, pw))
    assert torch.autograd.gradcheck(
        lambda x, t: ll.binary_cross_entropy_with_logits(x, t, pos_weight=pw.detach(), reduction="none"),
        (x, t.clone().requires_grad_(True)))


def test_bce_with_logits_target_check_still_names_bad_values():
    x = torch.zeros(4)
    for bad in (float("nan"), 1.5, -0.5, float("inf")):
        t = torch.tensor([0.0, 1.0, bad, 0.5])
        with pytest.raises(ValueError, match="target must lie in"):
            ll.binary_cross_entropy_with_logits(x, t)


def test_bce_with_logits_one_fused_op():
    # forward: one full-size output; backward: PyTorch's own sigmoid - t, times grad
    # (the formula made 12 full-size float tensors and 3 masks of the target check)
    x, t = torch.randn(N, requires_grad=True), torch.rand(N)
    with OpCounter() as c:
        ll.binary_cross_entropy_with_logits(x, t).backward()
    assert len(c.big(N)) <= 4, c.big(N)
    assert c.count("binary_cross_entropy_with_logits") == 1


# ---------------------------------------------------------------- pointwise ranking losses without a mask
# The masked path is the previous implementation; an all-True mask must give the same
# values and gradients as no mask (which now takes the dense path).

POINTWISE = [("pointwise_mse", {}), ("pointwise_sigmoid_ce", {"max_grade": 4.0}), ("pointwise_sigmoid_ce", {})]


def _grades(shape, dtype, g, binary):
    hi = 2 if binary else 5
    return torch.randint(0, hi, shape, generator=g).to(dtype)


@pytest.mark.parametrize("name,kw", POINTWISE, ids=["mse", "sigmoid_ce_graded", "sigmoid_ce_binary"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pointwise_dense_equals_masked_path(name, kw, dtype):
    g = torch.Generator().manual_seed(4)
    s = torch.randn(3, 4, 7, dtype=dtype, generator=g) * 3
    s[0, 0, :2] = torch.tensor([1e4, -1e4], dtype=dtype)
    y = _grades(s.shape, dtype, g, binary="max_grade" not in kw)
    w = torch.rand(3, 4, dtype=dtype, generator=g)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    fn = getattr(ll, name)
    for normalize in (False, True):
        for sw in (None, w):
            for reduction in ("none", "mean", "sum"):
                a, b = s.clone().requires_grad_(True), s.clone().requires_grad_(True)
                new = fn(a, y, **kw, normalize=normalize, sample_weight=sw, reduction=reduction)
                old = fn(b, y, torch.ones(s.shape, dtype=torch.bool), **kw, normalize=normalize,
                         sample_weight=sw, reduction=reduction)
                torch.testing.assert_close(new, old, **tol)
                gout = torch.rand(new.shape, dtype=dtype, generator=g)
                torch.testing.assert_close(torch.autograd.grad(new, a, gout), torch.autograd.grad(old, b, gout), **tol)


def test_pointwise_dense_integer_labels_and_gradcheck():
    g = torch.Generator().manual_seed(5)
    s = torch.randn(4, 6, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (4, 6), generator=g)
    torch.testing.assert_close(ll.pointwise_mse(s, y), ll.pointwise_mse(s, y, torch.ones(4, 6, dtype=torch.bool)))
    assert torch.autograd.gradcheck(lambda s: ll.pointwise_mse(s, y, reduction="none"), (s,))
    assert torch.autograd.gradcheck(lambda s: ll.pointwise_sigmoid_ce(s, y, max_grade=4.0, reduction="none"), (s,))


@pytest.mark.parametrize("bad,kw,match", [
    (float("nan"), {}, "finite"), (float("inf"), {}, "finite"), (float("-inf"), {}, "finite"),
    (5.0, {"max_grade": 4.0}, r"\[0, max_grade=4.0\]"), (-1.0, {"max_grade": 4.0}, r"\[0, max_grade"),
    (2.0, {}, r"\[0, 1\] when max_grade is None"),
])
def test_pointwise_dense_checks_labels_as_before(bad, kw, match):
    s = torch.zeros(2, 3)
    y = torch.tensor([[0.0, 1.0, 0.0], [1.0, bad, 0.0]])
    with pytest.raises(ValueError, match=match):
        ll.pointwise_sigmoid_ce(s, y, **kw)
    if match == "finite":
        with pytest.raises(ValueError, match="finite"):
            ll.pointwise_mse(s, y)
    with pytest.raises(ValueError, match="max_grade"):
        ll.pointwise_sigmoid_ce(s, torch.zeros(2, 3), max_grade=0.0)


@pytest.mark.parametrize("name,kw,most", [("pointwise_mse", {}, 2), ("pointwise_sigmoid_ce", {"max_grade": 4.0}, 5)])
def test_pointwise_dense_allocations(name, kw, most):
    # no mask: no all-True mask, no masked copies of scores and labels (the masked path made 11-14)
    s = torch.randn(32, N // 32, requires_grad=True)
    y = torch.randint(0, 5, s.shape).float()
    with OpCounter() as c:
        getattr(ll, name)(s, y, **kw).backward()
    assert len(c.big(N)) <= most, c.big(N)
    assert c.count("where") == 0


# ---------------------------------------------------------------- KL divergence (probability targets)


def _old_kl_rows(x, t):
    pos = t > 0
    xlogx = t * torch.log(torch.where(pos, t, torch.ones_like(t)))
    mul_where_zero = t * torch.where((t == 0) & torch.isinf(x), torch.zeros_like(x), x)
    return (xlogx - mul_where_zero).sum(-1)


def _kl_inputs(dtype, g):
    x = torch.log_softmax(torch.randn(5, 6, dtype=dtype, generator=g) * 2, -1)
    t = torch.softmax(torch.randn(5, 6, dtype=dtype, generator=g), -1)
    t[0, :2] = 0.0  # zero targets, one against a -inf (masked) log-probability
    x[0, 0] = float("-inf")
    t[1] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], dtype=dtype)
    return x, t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_divergence_values_and_grads_equal_old_formula(dtype):
    g = torch.Generator().manual_seed(6)
    x, t = _kl_inputs(dtype, g)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    w = torch.rand(5, dtype=dtype, generator=g)
    for reduction in ("none", "mean", "sum"):
        for sw in (None, w):
            a, b = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
            new = ll.kl_divergence(a, b, sample_weight=sw, reduction=reduction)
            a2, b2 = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
            ref = _old_kl_rows(a2, b2) * (1 if sw is None else sw)
            ref = {"none": ref, "sum": ref.sum(), "mean": ref.sum() / (5 if sw is None else sw.sum())}[reduction]
            torch.testing.assert_close(new, ref, **tol)
            gout = torch.rand(new.shape, dtype=dtype, generator=g)
            got, want = torch.autograd.grad(new, (a, b), gout), torch.autograd.grad(ref, (a2, b2), gout)
            assert all(bool(torch.isfinite(v).all()) for v in got)
            torch.testing.assert_close(got, want, **tol)
    # class dim first, PyTorch's layout
    torch.testing.assert_close(ll.kl_divergence(x.T, t.T, dim=0, reduction="none"), _old_kl_rows(x, t), **tol)


def test_kl_divergence_nan_propagates_and_gradchecks():
    x = torch.log_softmax(torch.randn(2, 4, dtype=torch.float64), -1)
    t = torch.softmax(torch.randn(2, 4, dtype=torch.float64), -1)
    t[0, 1] = 0.0
    xn = x.clone()
    xn[0, 1] = float("nan")  # a NaN input against a zero target still poisons its row
    out = ll.kl_divergence(xn, t, reduction="none")
    assert torch.isnan(out[0]) and torch.isfinite(out[1])
    # targets kept away from 0, where gradcheck's step would make them negative
    a = x.clone().requires_grad_(True)
    b = torch.softmax(torch.randn(2, 4, dtype=torch.float64), -1).requires_grad_(True)
    f = lambda a, b: ll.kl_divergence(a, b, reduction="none")  # noqa: E731
    assert torch.autograd.gradcheck(f, (a, b))
    assert torch.autograd.gradgradcheck(f, (a, b))


def test_kl_divergence_target_check_still_names_bad_values():
    x = torch.log_softmax(torch.zeros(2, 3), -1)
    for bad in (-0.1, float("nan")):
        t = torch.tensor([[0.5, 0.5, 0.0], [bad, 0.5, 0.5]])
        with pytest.raises(ValueError, match="target must be >= 0"):
            ll.kl_divergence(x, t)


def test_kl_divergence_allocations():
    # one full-size float buffer forward and one gradient (the formula made 13 and 3 masks)
    x = torch.log_softmax(torch.randn(32, N // 32), 1).requires_grad_(True)
    t = torch.softmax(torch.randn(32, N // 32), 1)
    with OpCounter() as c:
        ll.kl_divergence(x, t).backward()
    assert len(c.big(N * 4)) <= 2, c.big(N * 4)
    assert len(c.big(N)) <= 4, c.big(N)


def test_kl_divergence_masks_only_rows_that_need_them():
    # finite inputs on the CPU: no full-size mask at all; a -inf log-probability: the masks
    # are formed (and the value is the convention's, checked above)
    x = torch.log_softmax(torch.randn(32, N // 32), 1).requires_grad_(True)
    t = torch.softmax(torch.randn(32, N // 32), 1)
    with OpCounter() as c:
        ll.kl_divergence(x, t)
    assert c.count("isinf") == 0 and c.count("masked_fill_") == 0
    x2, t2 = x.detach().clone(), t.clone()
    x2[3, 5], t2[3, 5] = float("-inf"), 0.0
    with OpCounter() as c:
        out = ll.kl_divergence(x2, t2, reduction="none")
    assert c.count("masked_fill_") == 1
    torch.testing.assert_close(out, _old_kl_rows(x2, t2))


# ---------------------------------------------------------------- soft Dice with integer labels, nothing ignored
# ignore_index set to a label that never occurs takes the masked one-hot path (the previous
# implementation, still used when positions may be ignored): the same values and gradients.


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_dice_labels_equal_one_hot_path(dtype):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 10, 5, dtype=dtype, generator=g) * 2
    x[0, 0] = torch.tensor([1e4, -1e4, 0.0, 0.0, 0.0], dtype=dtype)
    y = torch.randint(0, 4, (3, 10), generator=g)  # class 4 absent: an empty class
    w = torch.rand(3, dtype=dtype, generator=g)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for smooth in (1.0, 0.0):
        for sw in (None, w):
            for reduction in ("none", "mean", "sum"):
                a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
                new = ll.soft_dice(a, y, smooth=smooth, sample_weight=sw, reduction=reduction)
                old = ll.soft_dice(b, y, ignore_index=-100, smooth=smooth, sample_weight=sw, reduction=reduction)
                torch.testing.assert_close(new, old, **tol)
                gout = torch.rand(new.shape, dtype=dtype, generator=g)
                torch.testing.assert_close(torch.autograd.grad(new, a, gout), torch.autograd.grad(old, b, gout), **tol)
    # a single image [N, K] and the float (one-hot) target spelling agree too
    t = torch.nn.functional.one_hot(y[0], 5).to(dtype)
    torch.testing.assert_close(ll.soft_dice(x[0], y[0]), ll.soft_dice(x[0], t), **tol)
    xx = x[:1, :4].clone().requires_grad_(True)
    assert dtype != torch.float64 or torch.autograd.gradcheck(lambda a: ll.soft_dice(a, y[:1, :4], reduction="none"), (xx,))


def test_soft_dice_labels_allocations():
    # no int64 one-hot [.., N, K] (8 bytes a class), no masked copies: softmax forward and
    # backward, and the gather's gradient (zeros, scatter-add, sum with p.sum's); the
    # one-hot path made 13 full-size tensors
    x = torch.randn(4, N // 4 // 16, 16, requires_grad=True)
    y = torch.randint(0, 16, (4, N // 4 // 16))
    with OpCounter() as c:
        ll.soft_dice(x, y).backward()
    assert c.count("one_hot") == 0
    assert len(c.big(N * 4)) <= 5, c.big(N * 4)


# ---------------------------------------------------------------- focal and poly (multi-class): log(1 - p_y)


def _old_log_p_and_log_rest(x, y):
    log_z = torch.logsumexp(x, -1)
    idx = y.unsqueeze(-1)
    x_y = x.gather(-1, idx).squeeze(-1)
    rest = torch.logsumexp(x.scatter(-1, idx, float("-inf")), -1)
    return x_y - log_z, rest - log_z


MULTICLASS = [
    ("focal_loss", {"gamma": 2.0}, lambda lp, lr: -torch.exp(2.0 * lr) * lp),
    ("poly_loss", {"epsilon": 1.0}, lambda lp, lr: -lp + torch.exp(lr)),
    ("poly_loss", {"epsilon": (1.0, 0.5)}, lambda lp, lr: -lp + torch.exp(lr) + 0.5 * torch.exp(2 * lr)),
]


@pytest.mark.parametrize("name,kw,old", MULTICLASS, ids=["focal", "poly1", "poly2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_multiclass_log_rest_equals_old_formula(name, kw, old, dtype):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(40, 7, dtype=dtype, generator=g) * 3
    y = torch.randint(0, 7, (40,), generator=g)
    # rows with p_y near 1 (the exact path), far from 1, at ±1e4, and with masked classes
    x[0] = torch.tensor([30.0, 0, 0, 0, 0, 0, 0], dtype=dtype); y[0] = 0
    x[1] = torch.tensor([1e4, -1e4, 0, 0, 0, 0, 0], dtype=dtype); y[1] = 1
    x[2] = torch.tensor([1e4, -1e4, 0, 0, 0, 0, 0], dtype=dtype); y[2] = 0
    x[3] = torch.tensor([2.0, float("-inf"), 0, 0, 0, 0, float("-inf")], dtype=dtype); y[3] = 0
    x[4, 2] = 5.0; y[4] = 2
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    # the reference in float64: at logits ±1e4 the old float32 formula's own rounding in
    # d log(1-p)/dx (~1e-8) is amplified by log p = -2e4 in the focal gradient
    for reduction in ("none", "mean"):
        a, b = x.clone().requires_grad_(True), x.double().requires_grad_(True)
        new = getattr(ll, name)(a, y, **kw, reduction=reduction)
        ref = old(*_old_log_p_and_log_rest(b, y))
        ref = ref if reduction == "none" else ref.mean()
        torch.testing.assert_close(new, ref.to(dtype), **tol)
        gout = torch.rand(new.shape, dtype=dtype, generator=g)
        got, want = torch.autograd.grad(new, a, gout), torch.autograd.grad(ref, b, gout.double())
        assert bool(torch.isfinite(got[0]).all())
        torch.testing.assert_close(got[0], want[0].to(dtype), **tol)


def test_multiclass_gradcheck_both_paths():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(6, 5, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    x[0, y[0]] += 6.0  # p_y > 1/2: the exact path
    x = x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: ll.focal_loss(a, y, gamma=2.0, reduction="none"), (x,))
    assert torch.autograd.gradcheck(lambda a: ll.poly_loss(a, y, epsilon=(1.0, 2.0), reduction="none"), (x,))


def test_multiclass_no_masked_copy_when_p_y_is_small():
    # rows with p_y <= 1/2 need no [B, K] copy with -inf at the label (the old code scattered
    # one for every row): a log_softmax forward, its backward and the gather's gradient
    x = torch.randn(32, N // 32, requires_grad=True)
    y = torch.randint(0, N // 32, (32,))
    for name, kw in (("focal_loss", {"gamma": 2.0}), ("poly_loss", {"epsilon": 1.0})):
        with OpCounter() as c:
            getattr(ll, name)(x, y, **kw).backward()
        assert c.count("scatter") == 0 and c.count("logsumexp") == 0, c.ops
        assert len(c.big(N * 4)) <= 5, c.big(N * 4)
