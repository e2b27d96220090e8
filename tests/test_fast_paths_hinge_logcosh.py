"""hinge, squared_hinge and log_cosh on their fused kernel (csrc/elementwise.cpp): values and
gradients equal to independent formulas (float64, gradcheck) and to the pure-PyTorch reference
(float32 and float64, every reduction, sample weights, integer and floating labels), the
subgradient at the hinge's kink kept, bad labels still raising the reference's message, and
the number of full-size allocations of one forward+backward pinned with a dispatch counter
(the label check is folded into the loss's pass: no extra pass, no extra tensor)."""
from __future__ import annotations

import math

import pytest
import torch

import losslab as ll
from _dispatch_count import OpCounter

N = 4096
D64 = torch.float64
_KERNELS = ll.kernels.available().cpu
needs_kernels = pytest.mark.skipif(not _KERNELS, reason="the fused CPU kernels are not built")

HINGES = ["hinge", "squared_hinge"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- independent formulas (a loop over floats)


def _hinge_formula(s, y, m, squared):
    """Per-element value and d/ds, one Python float at a time: max(0, m - y s)(^2); the
    subgradient at the kink m = y s is -y (the reference's clamp_min passes the gradient there)."""
    vals, grads = [], []
    for si, yi in zip(s.tolist(), y.tolist()):
        z = m - yi * si
        c = max(z, 0.0)
        vals.append(c * c if squared else c)
        grads.append((-2.0 * c * yi if squared else -yi) if z >= 0 else 0.0)
    return torch.tensor(vals, dtype=s.dtype).view(s.shape), torch.tensor(grads, dtype=s.dtype).view(s.shape)


def _log_cosh_formula(p, t):
    d = (p - t).tolist()
    vals = [abs(x) - math.log(2.0) + math.log1p(math.exp(-2.0 * abs(x))) for x in d]
    return torch.tensor(vals, dtype=p.dtype).view(p.shape), torch.tensor([math.tanh(x) for x in d], dtype=p.dtype).view(p.shape)


def _reduced(per, w, reduction):
    per = per if w is None else per * w
    return {"none": per, "sum": per.sum(), "mean": per.sum() / (per.numel() if w is None else w.sum())}[reduction]


def _scores_and_labels(n, dtype, seed, m=1.0):
    g = _gen(seed)
    s = torch.randn(n, dtype=dtype, generator=g) * 2
    y = torch.randint(0, 2, (n,), generator=g) * 2 - 1
    # exactly at the kink (y s = m), either side of it, zero and far out
    s[:6] = torch.tensor([m, -m, m, 0.0, 1e4, -1e4], dtype=dtype)
    y[:6] = torch.tensor([1, -1, -1, 1, 1, 1])
    return s, y


@needs_kernels
@pytest.mark.parametrize("name", HINGES)
@pytest.mark.parametrize("label_dtype", [torch.int64, D64, torch.int32], ids=["int64", "float64", "int32"])
@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
def test_hinge_float64_equals_formula(name, label_dtype, margin):
    s, y = _scores_and_labels(40, D64, 0, margin)
    w = torch.rand(s.shape, dtype=D64, generator=_gen(1))
    val, grad = _hinge_formula(s, y.double(), margin, name == "squared_hinge")
    for reduction in ("none", "sum", "mean"):
        for sw in (None, w):
            x = s.clone().requires_grad_(True)
            out = getattr(ll, name)(x, y.to(label_dtype), margin=margin, sample_weight=sw, reduction=reduction,
                                    impl="fused")
            torch.testing.assert_close(out, _reduced(val, sw, reduction), rtol=1e-12, atol=1e-12)
            gout = torch.rand(out.shape, dtype=D64, generator=_gen(2))
            (gx,) = torch.autograd.grad(out, x, gout)
            expected = _reduced(grad, sw, "none") * (gout if reduction == "none" else
                                                     gout / (s.numel() if sw is None else w.sum()) if reduction == "mean"
                                                     else gout)
            torch.testing.assert_close(gx, expected, rtol=1e-12, atol=1e-12)


@needs_kernels
@pytest.mark.parametrize("name", HINGES)
def test_hinge_kink_subgradient_is_the_references(name):
    # y s = m exactly (the first two at m = 1, the last two at m = 0.5): d/ds = -y for the hinge
    # (not 0), 0 for the squared hinge; both impls agree bit for bit
    s = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=D64)
    y = torch.tensor([1, -1, 1, -1])
    for m, expected in ((1.0, [-1.0, 1.0, -1.0, 1.0]), (0.5, [0.0, 0.0, -1.0, 1.0])):
        grads = {}
        for impl in ("fused", "reference"):
            x = s.clone().requires_grad_(True)
            getattr(ll, name)(x, y, margin=m, reduction="sum", impl=impl).backward()
            grads[impl] = x.grad
        torch.testing.assert_close(grads["fused"], grads["reference"], rtol=0, atol=0)
        if name == "hinge":
            want = torch.tensor(expected, dtype=D64)
            torch.testing.assert_close(grads["fused"], want, rtol=0, atol=0)
        else:
            kink = [0, 1] if m == 1.0 else [2, 3]
            assert grads["fused"][kink].tolist() == [0.0, 0.0]


@needs_kernels
@pytest.mark.parametrize("name", HINGES)
@pytest.mark.parametrize("dtype", [torch.float32, D64])
def test_hinge_fused_equals_reference(name, dtype):
    s, y = _scores_and_labels(1000, dtype, 3)
    w = torch.rand(s.shape, dtype=dtype, generator=_gen(4))
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for target in (y, y.to(dtype), y.to(torch.int8)):
        for reduction in ("none", "sum", "mean"):
            for sw in (None, w):
                outs, grads = [], []
                for impl in ("fused", "reference"):
                    x = s.clone().requires_grad_(True)
                    out = getattr(ll, name)(x, target, margin=0.75, sample_weight=sw, reduction=reduction, impl=impl)
                    gout = torch.rand(out.shape, dtype=dtype, generator=_gen(5))
                    outs.append(out)
                    grads.append(torch.autograd.grad(out, x, gout)[0])
                torch.testing.assert_close(outs[0], outs[1], **tol)
                torch.testing.assert_close(grads[0], grads[1], **tol)


@needs_kernels
def test_hinge_gradcheck_and_nonfinite():
    g = _gen(6)
    s = (torch.rand(16, dtype=D64, generator=g) * 4 - 2).requires_grad_(True)  # |s| < 2, away from the kinks
    s.data[(s.data.abs() - 1).abs() < 1e-3] += 0.01
    y = torch.randint(0, 2, (16,), generator=g) * 2 - 1
    for name in HINGES:
        assert torch.autograd.gradcheck(lambda x: getattr(ll, name)(x, y, reduction="none", impl="fused"), (s,))
        assert torch.autograd.gradcheck(lambda x: getattr(ll, name)(x, y, impl="fused"), (s,))
        # NaN and inf scores: the reference's values and gradients (NaN kept, not masked)
        x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.3], dtype=D64)
        t = torch.tensor([1, 1, 1, -1])
        outs = []
        for impl in ("fused", "reference"):
            a = x.clone().requires_grad_(True)
            out = getattr(ll, name)(a, t, reduction="none", impl=impl)
            out.sum().backward()
            outs.append((out.detach(), a.grad))
        torch.testing.assert_close(outs[0], outs[1], equal_nan=True)


@needs_kernels
@pytest.mark.parametrize("name", HINGES)
@pytest.mark.parametrize("bad", [
    torch.tensor([1, -1, 0, 1]), torch.tensor([1, 2, -1, 1]), torch.tensor([1.0, -1.0, 0.5, 1.0]),
    torch.tensor([1.0, float("nan"), -1.0, 1.0]), torch.tensor([True, False, True, True]),
    torch.tensor([1, -1, 1, 3], dtype=torch.int32),
], ids=["zero", "two", "half", "nan", "bool", "int32"])
def test_bad_labels_raise_the_references_message(name, bad):
    s = torch.zeros(4, requires_grad=True)
    with pytest.raises(ValueError) as ref:
        getattr(ll, name)(s, bad, impl="reference")
    assert "target must contain only (-1, 1) (use 2*y - 1 for 0/1 labels)" in str(ref.value)
    for impl in ("auto", "fused"):
        for reduction in ("mean", "none"):
            with pytest.raises(ValueError) as new:
                getattr(ll, name)(s, bad, reduction=reduction, impl=impl)
            assert str(new.value) == str(ref.value)


@needs_kernels
def test_hinge_target_grad_and_impl_errors():
    # a floating target that requires grad takes the reference under 'auto' (the kernel gives
    # no gradient of the target); 'fused' says so, as it does for a dtype it has no kernel for
    s = torch.randn(8, dtype=D64, requires_grad=True)
    t = (torch.randint(0, 2, (8,), generator=_gen(7)) * 2 - 1).double().requires_grad_(True)
    out = ll.hinge(s, t)
    ref = torch.relu(1 - t * s).mean()
    torch.testing.assert_close(torch.autograd.grad(out, (s, t)), torch.autograd.grad(ref, (s, t)))
    with pytest.raises(ValueError, match="impl='fused'.*requires grad"):
        ll.hinge(s, t, impl="fused")
    with pytest.raises(ValueError, match="impl='fused'.*float16"):
        ll.squared_hinge(s.detach().half(), t.detach().half(), impl="fused")
    with pytest.raises(ValueError, match="impl must be one of"):
        ll.log_cosh(s, t, impl="fast")


# ---------------------------------------------------------------- log_cosh


def _pred_target(n, dtype, seed):
    g = _gen(seed)
    p = torch.randn(n, dtype=dtype, generator=g) * 3
    t = torch.randn(n, dtype=dtype, generator=g)
    p[:5] = torch.tensor([0.0, 1e4, -1e4, 30.0, 1e-8], dtype=dtype)
    t[:5] = torch.tensor([0.0, 0.0, 0.0, -30.0, 0.0], dtype=dtype)
    return p, t


@needs_kernels
def test_log_cosh_float64_equals_formula_and_gradcheck():
    p, t = _pred_target(40, D64, 8)
    w = torch.rand(p.shape, dtype=D64, generator=_gen(9))
    val, grad = _log_cosh_formula(p, t)
    for reduction in ("none", "sum", "mean"):
        for sw in (None, w):
            a, b = p.clone().requires_grad_(True), t.clone().requires_grad_(True)
            out = ll.log_cosh(a, b, sample_weight=sw, reduction=reduction, impl="fused")
            torch.testing.assert_close(out, _reduced(val, sw, reduction), rtol=1e-12, atol=1e-12)
            ga, gb = torch.autograd.grad(out, (a, b), torch.ones_like(out))
            scale = 1.0 if reduction != "mean" else 1.0 / (p.numel() if sw is None else w.sum())
            expected = _reduced(grad, sw, "none") * scale
            torch.testing.assert_close(ga, expected, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(gb, -expected, rtol=1e-12, atol=1e-14)
    a = (torch.randn(12, dtype=D64, generator=_gen(10)) * 2).requires_grad_(True)
    b = torch.randn(12, dtype=D64, generator=_gen(11)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: ll.log_cosh(a, b, reduction="none", impl="fused"), (a, b))
    assert torch.autograd.gradcheck(lambda a, b: ll.log_cosh(a, b, impl="fused"), (a, b))


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, D64])
def test_log_cosh_fused_equals_reference(dtype):
    p, t = _pred_target(1000, dtype, 12)
    w = torch.rand(p.shape, dtype=dtype, generator=_gen(13))
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for reduction in ("none", "sum", "mean"):
        for sw in (None, w):
            outs, grads = [], []
            for impl in ("fused", "reference"):
                a, b = p.clone().requires_grad_(True), t.clone().requires_grad_(True)
                out = ll.log_cosh(a, b, sample_weight=sw, reduction=reduction, impl=impl)
                outs.append(out)
                grads.append(torch.autograd.grad(out, (a, b), torch.rand(out.shape, dtype=dtype, generator=_gen(14))))
            torch.testing.assert_close(outs[0], outs[1], **tol)
            torch.testing.assert_close(grads[0], grads[1], **tol)
    # nonfinite inputs and mixed dtypes, as the reference
    x = torch.tensor([float("nan"), float("inf"), float("inf"), 0.0])
    y = torch.tensor([0.0, 0.0, float("inf"), 0.0], dtype=D64)
    res = []
    for impl in ("fused", "reference"):
        a = x.clone().requires_grad_(True)
        out = ll.log_cosh(a, y, reduction="none", impl=impl)
        out.sum().backward()
        res.append((out.detach(), a.grad))
    assert res[0][0].dtype == D64 and res[0][1].dtype == torch.float32
    torch.testing.assert_close(res[0], res[1], equal_nan=True)


# ---------------------------------------------------------------- allocations and passes


@needs_kernels
@pytest.mark.parametrize("name", HINGES)
@pytest.mark.parametrize("label_dtype", [torch.int64, torch.float32], ids=["int64", "float32"])
def test_hinge_one_pass_two_full_size_tensors(name, label_dtype):
    # the saved gradient and the input's gradient are the only full-size tensors; the labels are
    # checked in the loss's own pass (the old code made a floating copy of the labels, ran two
    # norms over it, and made 4-6 more full-size tensors)
    s = torch.randn(N, requires_grad=True)
    y = (torch.randint(0, 2, (N,)) * 2 - 1).to(label_dtype)
    with OpCounter() as c:
        getattr(ll, name)(s, y).backward()
    assert len(c.big(N * 4)) == 2, c.big(N * 4)
    assert c.count("hinge_fwd") == 1
    assert c.count("linalg_vector_norm") == 0 and c.count("_to_copy") == 0
    assert len(c.ops) <= 8, c.ops


@needs_kernels
def test_log_cosh_one_pass_two_full_size_tensors():
    p, t = torch.randn(N, requires_grad=True), torch.randn(N)
    with OpCounter() as c:
        ll.log_cosh(p, t).backward()
    assert len(c.big(N * 4)) == 2, c.big(N * 4)
    assert c.count("log_cosh_fwd") == 1
    assert len(c.ops) <= 8, c.ops


@needs_kernels
def test_kernels_trace_under_torch_compile():
    # fake-tensor and autograd rules: one graph (fullgraph), same value and gradient as eager
    s, y = _scores_and_labels(64, torch.float32, 15)
    p, t = _pred_target(64, torch.float32, 16)

    def f(s, y, p, t):
        return ll.hinge(s, y) + ll.squared_hinge(s, y, reduction="sum") + ll.log_cosh(p, t, impl="fused")

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    a, b = s.clone().requires_grad_(True), p.clone().requires_grad_(True)
    out = compiled(a, y, b, t)
    out.backward()
    a2, b2 = s.clone().requires_grad_(True), p.clone().requires_grad_(True)
    ref = f(a2, y, b2, t)
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close((a.grad, b.grad), (a2.grad, b2.grad))


@needs_kernels
def test_second_derivatives_equal_the_references():
    # create_graph=True recomputes the gradient with differentiable ops: Hessian-vector products
    # (2 [z >= 0] for the squared hinge, 0 for the hinge, 1 - tanh² for log_cosh) as the reference's
    s, y = _scores_and_labels(24, D64, 17)
    s = s[6:].clone().requires_grad_(True)  # away from the kink and the extremes
    y = y[6:]
    p, t = _pred_target(24, D64, 18)
    p, t = p[5:].clone().requires_grad_(True), t[5:].clone().requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda x: ll.squared_hinge(x, y, reduction="none", impl="fused"), (s,))
    assert torch.autograd.gradgradcheck(lambda a, b: ll.log_cosh(a, b, impl="fused"), (p, t))
    v = torch.rand(s.shape, dtype=D64, generator=_gen(19))
    for name in HINGES:
        grads, hvp = [], []
        for impl in ("fused", "reference"):
            (g,) = torch.autograd.grad(getattr(ll, name)(s, y, reduction="sum", impl=impl), s, create_graph=True)
            grads.append(g.detach())
            # the hinge's gradient is piecewise constant: no graph back to s on either path
            hvp.append(torch.autograd.grad((g * v).sum(), s)[0] if g.requires_grad else None)
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
        if name == "hinge":
            assert hvp == [None, None]
        else:
            torch.testing.assert_close(hvp[0], hvp[1])
            torch.testing.assert_close(hvp[0], 2 * v * (s.detach() * y < 1))
