"""Single-logit objectives from per-row statistics: same values and gradients, fewer [B, K] buffers.

``max_margin``, ``batch_max_margin``, the Cauchy–Schwarz and the Tanimoto objectives take
their scalars (true logit, largest false logit, ``lse(z)``, ``lse(2z)``, ``lse(2 log σ(z))``)
from custom autograd functions (``losslab._rowstats``) instead of masked copies and
``logsumexp``. The ``_before_*`` functions below are the former expressions, kept as the
plain-autograd reference: values and gradients must match them (ties included, where
``amax`` shares its gradient among the tied entries), the naive float64 loops of
``tests/reference/single_logit.py`` and float64 ``gradcheck``.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from _dispatch_count import OpCounter
from reference import single_logit as ref


def _false_mask(z, y):
    return torch.arange(z.shape[-1]) != y.unsqueeze(-1)


def _true(z, y):
    return z.gather(-1, y.unsqueeze(-1)).squeeze(-1)


def _before_max_margin(z, y, margin=1.0):
    worst = z.masked_fill(~_false_mask(z, y), float("-inf")).amax(-1)
    return torch.clamp_min(margin - _true(z, y) + worst, 0.0)


def _before_batch_max_margin(z, y, margin=1.0):
    true = _true(z, y)
    masked = z.masked_fill(~_false_mask(z, y), float("-inf"))
    batch = torch.clamp_min(margin - true.amin() + masked.amax(), 0.0)
    return batch + torch.clamp_min(margin - true + masked.amax(-1), 0.0).sum()


def _lsn(z):
    return 0.5 * torch.logsumexp(2.0 * F.logsigmoid(z), -1)


def _before_softmax_cs(z, y):
    return 0.5 * torch.logsumexp(2.0 * z, -1) - _true(z, y)


def _before_sigmoid_cs(z, y):
    return F.softplus(-_true(z, y)) + _lsn(z)


def _before_softmax_tanimoto(z, y):
    lse = torch.logsumexp(z, -1)
    p_y = torch.exp(_true(z, y) - lse)
    p_norm = torch.exp(0.5 * torch.logsumexp(2.0 * z, -1) - lse)
    return -p_y / (1.0 + p_norm - p_y)


def _before_sigmoid_tanimoto(z, y):
    s_y = torch.sigmoid(_true(z, y))
    s_norm = torch.exp(_lsn(z))
    return -s_y / (1.0 + s_norm - s_y)


PER_EXAMPLE = {
    "max_margin": (ll.max_margin, _before_max_margin),
    "softmax_cauchy_schwarz": (ll.softmax_cauchy_schwarz, _before_softmax_cs),
    "sigmoid_cauchy_schwarz": (ll.sigmoid_cauchy_schwarz, _before_sigmoid_cs),
    "softmax_tanimoto": (ll.softmax_tanimoto, _before_softmax_tanimoto),
    "sigmoid_tanimoto": (ll.sigmoid_tanimoto, _before_sigmoid_tanimoto),
}


def _inputs(dtype):
    g = torch.Generator().manual_seed(0)
    out = {
        "random": (torch.randn(16, 9, generator=g, dtype=dtype) * 3, torch.randint(9, (16,), generator=g)),
        # integer logits: ties among false classes, between the label and the worst false, whole rows
        "ties": (torch.randint(-2, 2, (32, 5), generator=g).to(dtype), torch.randint(5, (32,), generator=g)),
        "two_classes": (torch.randn(8, 2, generator=g, dtype=dtype), torch.randint(2, (8,), generator=g)),
    }
    ext = torch.tensor([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, 1e4, 1e4],
                        [-1e4, 1e4, 30.0, -30.0], [0.0, -1e4, -1e4, -1e4], [-1e4, -1e4 + 1, -1e4, -1e4 + 3]], dtype=dtype)
    out["extremes"] = (ext, torch.tensor([0, 2, 3, 0, 0, 1]))
    return out


def _value_and_grad(fn, z, y, **kw):
    z = z.detach().clone().requires_grad_()
    out = fn(z, y, **kw)
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=z.dtype).reshape(out.shape)
    (out * w).sum().backward()
    return out.detach(), z.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(PER_EXAMPLE))
def test_values_and_gradients_equal_the_former_expressions(name, dtype):
    # float32 is held to the former expressions evaluated in float64: at ±1e4 the former
    # float32 gradients are themselves off by ~1e-4 (lse(2z) ≈ 2e4 has an ulp of 2e-3).
    fn, before = PER_EXAMPLE[name]
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    for case, (z, y) in _inputs(dtype).items():
        v_new, g_new = _value_and_grad(lambda z, y: fn(z, y, reduction="none"), z, y)
        v_old, g_old = _value_and_grad(before, z.double(), y)
        v_tol = g_tol = tol
        if case == "extremes":
            # exp(z_y − lse) with lse ≈ 1e4 and a loss of ~1e4 − 1e4: rounding of the shared
            # [B] expressions at ulp(1e4), the same size before as now
            if dtype == torch.float32:
                v_tol, g_tol = dict(rtol=1e-5, atol=4e-3), dict(rtol=1e-5, atol=2e-4)
            else:
                v_tol = dict(rtol=1e-12, atol=1e-11)
        torch.testing.assert_close(v_new, v_old.to(dtype), **v_tol, msg=f"{case}: value")
        torch.testing.assert_close(g_new, g_old.to(dtype), **g_tol, msg=f"{case}: gradient")
        assert torch.isfinite(g_new).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batch_max_margin_equals_the_former_expression(dtype):
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    cases = dict(_inputs(dtype))
    # a batch maximum over false entries tied across rows with different tie counts:
    # amax shares the gradient equally among all four entries at 2.0
    cases["global_ties"] = (torch.tensor([[2.0, 2.0, 2.0, 0.0], [1.0, 2.0, -1.0, 0.5], [3.0, 0.0, 0.0, 0.0]], dtype=dtype),
                            torch.tensor([3, 0, 0]))
    for case, (z, y) in cases.items():
        for margin in (1.0, 0.25):
            v_new, g_new = _value_and_grad(lambda z, y: ll.batch_max_margin(z, y, margin=margin, reduction="sum"), z, y)
            v_old, g_old = _value_and_grad(lambda z, y: _before_batch_max_margin(z, y, margin), z, y)
            torch.testing.assert_close(v_new, v_old, **tol, msg=f"{case}: value")
            torch.testing.assert_close(g_new, g_old, **tol, msg=f"{case}: gradient")


@pytest.mark.parametrize("name", list(PER_EXAMPLE) + ["batch_max_margin"])
def test_against_the_naive_loops(name):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(12, 7, generator=g, dtype=torch.float64) * 2
    y = torch.randint(7, (12,), generator=g)
    if name == "batch_max_margin":
        torch.testing.assert_close(ll.batch_max_margin(z, y, reduction="sum"), ref.batch_max_margin(z, y))
    else:
        fn = getattr(ll, name)
        torch.testing.assert_close(fn(z, y, reduction="none"), getattr(ref, name)(z, y))


@pytest.mark.parametrize("name", list(PER_EXAMPLE) + ["batch_max_margin"])
def test_gradcheck_float64(name):
    g = torch.Generator().manual_seed(2)
    z = (torch.randn(6, 5, generator=g, dtype=torch.float64) * 2).requires_grad_()
    y = torch.randint(5, (6,), generator=g)
    fn = getattr(ll, name)
    red = "sum" if name == "batch_max_margin" else "none"
    # random logits keep every hinge and every max away from its kink
    assert torch.autograd.gradcheck(lambda t: fn(t, y, reduction=red), (z,))


def _full_buffers(fn, z, y):
    z = z.detach().clone().requires_grad_()
    with OpCounter() as c:
        fn(z, y).backward()
    full = z.numel() * z.element_size()
    return c, c.big(full)


@pytest.mark.parametrize(
    "name, most",
    [("max_margin", 1), ("batch_max_margin", 1), ("softmax_cauchy_schwarz", 3), ("softmax_tanimoto", 3),
     ("sigmoid_cauchy_schwarz", 2), ("sigmoid_tanimoto", 2)],
)
def test_full_size_buffers_at_most_cross_entropys(name, most):
    # Forward + backward at [64, 1000], transient buffers included: the margins allocate
    # only the gradient; the sigmoid objectives σ(z)²/σ(M)² and the gradient; the softmax
    # ones softmax(z), the transient p ⊙ p and the gradient. F.cross_entropy allocates
    # three ([B, K] log-probabilities, the NLL gradient, the log-softmax gradient); the
    # masked-copy and logsumexp forms allocated 5 to 12.
    g = torch.Generator().manual_seed(3)
    z = torch.randn(64, 1000, generator=g) * 2
    y = torch.randint(1000, (64,), generator=g)
    fn = getattr(ll, name)
    c, big = _full_buffers(lambda t, y: fn(t, y, reduction="sum"), z, y)
    assert len(big) <= most, big
    assert c.count("masked_fill") == 0 and c.count("logsumexp") == 0
    _, ce_big = _full_buffers(lambda t, y: F.cross_entropy(t, y, reduction="sum"), z, y)
    assert len(big) <= len(ce_big)


def test_sigmoid_objectives_stay_finite_where_every_sigmoid_underflows():
    # σ(z) underflows to 0 on the whole row: the row takes t = exp(2(z − max z)). Closed
    # forms of sigmoid Cauchy–Schwarz: ½ log 4 on a uniform row; ½ log(1 + 3e⁻²) when the
    # label holds the max and the three others sit 1 below.
    for dtype, atol in ((torch.float64, 1e-9), (torch.float32, 4e-3)):
        z = torch.full((2, 4), -1e4, dtype=dtype)
        z[1, 2] = -1e4 + 1
        y = torch.tensor([0, 2])
        expect = torch.tensor([0.5 * math.log(4), 0.5 * math.log1p(3 * math.exp(-2))], dtype=dtype)
        torch.testing.assert_close(ll.sigmoid_cauchy_schwarz(z, y, reduction="none"), expect, rtol=0, atol=atol)
        for fn in (ll.sigmoid_cauchy_schwarz, ll.sigmoid_tanimoto):
            v, gz = _value_and_grad(lambda z, y: fn(z, y, reduction="none"), z, y)
            assert torch.isfinite(v).all() and torch.isfinite(gz).all()
