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
