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
