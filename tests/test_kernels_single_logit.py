"""Fused operators of self_normalization, batch_cross_entropy (seed 001) and class-weighted
cross_entropy (csrc/single_logit.cpp, and their Triton kernels under the interpreter) against
the reference implementations, PyTorch's F.cross_entropy and closed forms.

C++ tests skip with the reason from ``losslab.kernels.available()`` when the library could
not be built; Triton tests skip when ``triton`` is not installed.
"""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
import losslab.kernels as K

_ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
DEVICE = "cuda" if _ON_GPU else "cpu"
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=2e-5, atol=2e-5)}
NINF = float("-inf")


def _close(a, b, dtype, **override):
    tol = dict(TOL[dtype], **override)
    finite = b[torch.isfinite(b)]
    tol["atol"] = tol["atol"] * max(1.0, float(finite.abs().max()) if finite.numel() else 0.0)
    torch.testing.assert_close(a, b, equal_nan=True, **tol)


def _rand(shape, seed, dtype=torch.float64, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype) * scale


def _labels(shape, K, seed):
    return torch.randint(0, K, shape, generator=torch.Generator().manual_seed(seed))


def _value_and_grad(fn, x, upstream=None, *extra):
    """fn(x, *extra) ('none') and the gradients of <fn, upstream> wrt x (and extra tensors that require grad)."""
    x = x.detach().clone().requires_grad_(True)
    extra = [e.detach().clone().requires_grad_(True) if isinstance(e, torch.Tensor) and e.is_floating_point() else e
             for e in extra]
    loss = fn(x, *extra)
    up = torch.ones_like(loss) if upstream is None else upstream
    wrt = [x] + [e for e in extra if isinstance(e, torch.Tensor) and e.requires_grad]
    grads = torch.autograd.grad((loss * up).sum(), wrt)
    return (loss.detach(), *grads)


def _both(fn, x, upstream=None, *extra):
    return [_value_and_grad(lambda a, *e: fn(a, *e, impl=impl), x, upstream, *extra) for impl in ("reference", "fused")]


# ---------------------------------------------------------------------------------
# self_normalization


def _sn(alpha, labels, reduction="none"):
    return lambda x, impl: ll.self_normalization(x, labels, alpha=alpha, reduction=reduction, impl=impl)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5, 33), (2, 3, 17)], ids=["rows", "leading-dims"])
def test_self_normalization_matches_reference(built, dtype, shape):
    x, y = _rand(shape, 1, dtype), _labels(shape[:-1], shape[-1], 2)
    up = _rand(shape[:-1], 3, dtype, 1.0)
    ref, got = _both(_sn(0.3, y), x, up)
    for a, b in zip(got, ref):
        _close(a, b, dtype)


def test_self_normalization_equals_ce_plus_squared_log_partition(built):
    # An independent form: PyTorch's cross-entropy plus alpha * logsumexp^2 (Sect. 4.1).
    x, y = _rand((6, 11), 4), _labels((6,), 11, 5)
    loss, g = _value_and_grad(lambda a: ll.self_normalization(a, y, alpha=0.7, reduction="none", impl="fused"), x)
    ref, g_ref = _value_and_grad(lambda a: F.cross_entropy(a, y, reduction="none") + 0.7 * torch.logsumexp(a, -1) ** 2, x)
    _close(loss, ref, torch.float64)
    _close(g, g_ref, torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_self_normalization_reductions_with_sample_weight(built, reduction):
    x, y, w = _rand((7, 9), 6, torch.float32), _labels((7,), 9, 7), torch.rand(7, generator=torch.Generator().manual_seed(8))
    ref, got = _both(lambda a, impl: ll.self_normalization(a, y, sample_weight=w, reduction=reduction, impl=impl), x)
    for a, b in zip(got, ref):
        _close(a, b, torch.float32)


def test_self_normalization_extremes_float32(built):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4], [1e4, 1e4, -1e4]])
    y = torch.tensor([1, 0, 2, 1])
    got = _value_and_grad(lambda a: _sn(0.1, y)(a, "fused"), x)
    # Against the reference in float64: float32 autograd of logsumexp loses ~1e-3 of p at
    # |x| ~ 1e4 (x - lse rounds at the ulp of 1e4); the kernel shifts by the exact max.
    ref = _value_and_grad(lambda a: _sn(0.1, y)(a, "reference"), x.double())
    for a, b in zip(got, ref):
        assert torch.isfinite(a).all()
        _close(a.double(), b, torch.float32)


def test_self_normalization_minus_inf_masks_a_class(built):
    # A -inf logit removes its class: the loss equals the one on the other classes, its gradient there is 0.
    full, y = _rand((4, 6), 9), torch.tensor([0, 3, 5, 1])
    masked = full.clone()
    masked[:, 2] = NINF
    loss, g = _value_and_grad(lambda a: ll.self_normalization(a, y, alpha=0.2, reduction="none", impl="fused"), masked)
    keep = [0, 1, 3, 4, 5]
    ref, g_ref = _value_and_grad(lambda a: ll.self_normalization(a, torch.tensor([0, 2, 4, 1]), alpha=0.2, reduction="none",
                                                                 impl="reference"), full[:, keep])
    _close(loss, ref, torch.float64)
    _close(g[:, keep], g_ref, torch.float64)
    assert (g[:, 2] == 0).all()


def test_self_normalization_gradcheck_and_opcheck(built):
    x = _rand((3, 5), 10, scale=1.0).requires_grad_(True)
    y = torch.tensor([1, 0, 4])
    assert torch.autograd.gradcheck(lambda a: ll.self_normalization(a, y, alpha=0.4, reduction="none", impl="fused"), (x,))
    for args in [(x, y, 0.4, True), (x.detach(), y, 0.1, False), (x.float().detach().requires_grad_(True), y, 0.1, True)]:
        torch.library.opcheck(torch.ops.losslab.self_normalization_fwd.default, args)


# ---------------------------------------------------------------------------------
# batch_cross_entropy


def _bce(labels, reduction="none"):
    return lambda x, impl: ll.batch_cross_entropy(x, labels, reduction=reduction, impl=impl)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_batch_cross_entropy_matches_reference(built, dtype, reduction):
    # A random upstream gradient per row exercises the coupling of the rows in backward.
    x, y = _rand((6, 33), 11, dtype), _labels((6,), 33, 12)
    up = _rand((6,), 13, dtype, 1.0) if reduction == "none" else None
    ref, got = _both(_bce(y, reduction), x, up)
    for a, b in zip(got, ref):
        _close(a, b, dtype)


def test_batch_cross_entropy_is_the_kl_of_definition_2(built):
    # An independent form: KL(P_B || Q_B) with the two B x K distributions written out.
    x, y = _rand((5, 7), 14), _labels((5,), 7, 15)
    B = x.shape[0]
    P = F.one_hot(y, 7).double() / B
    Q = torch.softmax(x.reshape(-1), 0).reshape(5, 7)
    kl = (P[P > 0] * torch.log(P[P > 0] / Q[P > 0])).sum()
    loss, g = _value_and_grad(lambda a: ll.batch_cross_entropy(a, y, impl="fused"), x)
    _close(loss, kl, torch.float64)
    _close(g, Q - P, torch.float64)  # d KL / dx = Q_B - P_B


def test_batch_cross_entropy_extremes_float32(built):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4], [1e4, 1e4, -1e4]])
    y = torch.tensor([0, 0, 2, 1])
    up = torch.tensor([1.0, 0.5, -1.0, 2.0])
    got = _value_and_grad(lambda a: _bce(y)(a, "fused"), x, up)
    ref = _value_and_grad(lambda a: _bce(y)(a, "reference"), x.double(), up.double())  # as for self_normalization
    for a, b in zip(got, ref):
        assert torch.isfinite(a).all()
        _close(a.double(), b, torch.float32)


def test_batch_cross_entropy_minus_inf_entries(built):
    # -inf false logits (a whole row but its true class, too) get Q_B = 0 and gradient 0.
    x, y = _rand((4, 5), 16), torch.tensor([0, 1, 2, 3])
    x[0, 1:] = NINF
    x[2, 4] = NINF
    ref, got = _both(_bce(y), x, _rand((4,), 17, scale=1.0))
    for a, b in zip(got, ref):
        _close(a, b, torch.float64)
    assert (got[1][x == NINF] == 0).all()


def test_batch_cross_entropy_gradcheck_and_opcheck(built):
    x = _rand((4, 5), 18, scale=1.0).requires_grad_(True)
    y = torch.tensor([1, 0, 4, 4])
    assert torch.autograd.gradcheck(lambda a: ll.batch_cross_entropy(a, y, reduction="none", impl="fused"), (x,))
    op = torch.ops.losslab.batch_cross_entropy_fwd.default
    torch.library.opcheck(op, (x.detach(), y, False))
    # With need_grad the op's second output is the buffer its eager backward scales in place into the
    # gradient (the losses never hand it out), so opcheck's eager-vs-AOT comparison of that output after
    # a backward does not apply; AOT tracing of the loss is tested by the torch.compile test below.
    for args in [(x, y, True), (x.float().detach().requires_grad_(True), y, True)]:
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


# ---------------------------------------------------------------------------------
# cross_entropy with class weights


def _ce(target, weight, reduction="none", **kw):
    return lambda x, *t, impl: ll.cross_entropy(x, t[0] if t else target, weight=weight, reduction=reduction,
                                                impl=impl, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(6, 9), (3, 9, 4)], ids=["NC", "NCd"])
def test_weighted_cross_entropy_matches_torch(built, dtype, eps, reduction, shape):
    # PyTorch's own F.cross_entropy(weight=...), ignore_index and label smoothing: values and gradients.
    x = _rand(shape, 19, dtype)
    y = _labels((shape[0],) + shape[2:], 9, 20)
    y.view(-1)[::4] = 7 if shape == (6, 9) else -100  # ignored entries (a real class index for one layout)
    ignore = 7 if shape == (6, 9) else -100
    w = torch.rand(9, generator=torch.Generator().manual_seed(21), dtype=dtype)
    w[3] = 0.0
    got = _value_and_grad(lambda a: ll.cross_entropy(a, y, weight=w, ignore_index=ignore, label_smoothing=eps,
                                                     reduction=reduction, impl="fused"), x)
    ref = _value_and_grad(lambda a: F.cross_entropy(a, y, weight=w, ignore_index=ignore, label_smoothing=eps,
                                                    reduction=reduction), x)
    for a, b in zip(got, ref):
        _close(a, b, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_weighted_cross_entropy_probability_targets(built, dtype, eps):
    x = _rand((5, 8), 22, dtype)
    t = torch.softmax(_rand((5, 8), 23, dtype), -1)
    t[1, 2] = 0.0
    w = torch.rand(8, generator=torch.Generator().manual_seed(24), dtype=dtype)
    up = _rand((5,), 25, dtype, 1.0)
    # values and the logits' gradient against PyTorch, the target's gradient against the reference
    x_got = _value_and_grad(lambda a: ll.cross_entropy(a, t, weight=w, label_smoothing=eps, reduction="none", impl="fused"), x, up)
    x_ref = _value_and_grad(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=eps, reduction="none"), x, up)
    for a, b in zip(x_got, x_ref):
        _close(a, b, dtype)
    ref, got = _both(_ce(t, w, label_smoothing=eps), x, up, t)
    for a, b in zip(got, ref):
        _close(a, b, dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weighted_cross_entropy_with_sample_weight(built, reduction):
    # losslab's per-example weights on top of class weights: the same weighted mean on both paths.
    x, y = _rand((8, 5), 41, torch.float32), torch.tensor([0, 4, -100, 2, 2, 1, 3, -100])
    w, s = torch.tensor([0.5, 1.0, 2.0, 0.0, 1.5]), torch.rand(8, generator=torch.Generator().manual_seed(42))
    ref, got = _both(lambda a, impl: ll.cross_entropy(a, y, weight=w, label_smoothing=0.1, sample_weight=s,
                                                      reduction=reduction, impl=impl), x)
    for a, b in zip(got, ref):
        _close(a, b, torch.float32)


def test_weighted_cross_entropy_minus_inf_masks_and_zero_weights(built):
    # -inf logits (one with a zero class weight), the reference's 0 * inf := 0 conventions.
    x = _rand((4, 6), 26)
    x[:, 2] = NINF
    x[1, 5] = NINF
    w = torch.tensor([0.5, 2.0, 0.0, 1.0, 0.0, 3.0], dtype=torch.float64)
    y = torch.tensor([0, 3, 4, -100])
    t = torch.softmax(_rand((4, 6), 27), -1)
    t[:, 2] = 0.0
    t[1, 5] = 0.0
    for eps in (0.0, 0.3):
        ref, got = _both(_ce(y, w, label_smoothing=eps), x, _rand((4,), 28, scale=1.0))
        for a, b in zip(got, ref):
            _close(a, b, torch.float64)
        ref, got = _both(_ce(t, w, label_smoothing=eps), x, None, t)
        for a, b in zip(got, ref):
            _close(a, b, torch.float64)
        assert torch.isfinite(got[0]).all() and (got[1][x == NINF] == 0).all()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_probability_target_gradient_at_a_masked_class(built, weighted):
    # A -inf logit with a zero target: its term is 0 (0 * inf := 0), and so is the target's gradient
    # there, on both paths (the unweighted kernel gave +inf).
    x = _rand((2, 4), 44)
    x[:, 1] = NINF
    t = torch.softmax(_rand((2, 4), 45), -1)
    t[:, 1] = 0.0
    w = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64) if weighted else None
    ref, got = _both(_ce(t, w, label_smoothing=0.1), x, None, t)
    for a, b in zip(got, ref):
        _close(a, b, torch.float64)
    assert (got[2][:, 1] == 0).all()


def test_weighted_cross_entropy_extremes_float32(built):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4], [1e4, 1e4, -1e4]])
    y = torch.tensor([1, 0, 2, 1])
    w = torch.tensor([0.5, 2.0, 1.5])
    for eps in (0.0, 0.1):
        got = _value_and_grad(lambda a: ll.cross_entropy(a, y, weight=w, label_smoothing=eps, impl="fused"), x)
        ref = _value_and_grad(lambda a: F.cross_entropy(a, y, weight=w.double(), label_smoothing=eps), x.double())
        for a, b in zip(got, ref):
            assert torch.isfinite(a).all()
            _close(a.double(), b, torch.float32)


def test_weighted_cross_entropy_gradcheck_and_opcheck(built):
    g = torch.Generator().manual_seed(29)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.softmax(torch.randn(3, 5, generator=g, dtype=torch.float64), -1).requires_grad_(True)
    y = torch.tensor([1, -100, 4])
    w = torch.tensor([0.5, 1.0, 2.0, 0.0, 1.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a: ll.cross_entropy(a, y, weight=w, label_smoothing=0.2, reduction="none", impl="fused"), (x,))
    assert torch.autograd.gradcheck(
        lambda a, b: ll.cross_entropy(a, b, weight=w, label_smoothing=0.2, reduction="none", impl="fused"), (x, t))
    for args in [
        (x, y, w, -100, 0.2, True, False),
        (x.detach(), y, w, -100, 0.0, False, False),
        (x, t, w, -100, 0.1, True, True),
        (x.float().detach().requires_grad_(True), t.float().detach(), w.float(), -100, 0.0, True, False),
    ]:
        torch.library.opcheck(torch.ops.losslab.cross_entropy_weighted_fwd.default, args)


# ---------------------------------------------------------------------------------
# Dispatch, errors, torch.compile


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y: ll.self_normalization(x, y, reduction="sum", impl="fused"),
        lambda x, y: ll.batch_cross_entropy(x, y, reduction="sum", impl="fused"),
        lambda x, y: ll.cross_entropy(x, y, weight=torch.linspace(0.5, 2.0, 6, dtype=torch.float64), impl="fused"),
    ],
    ids=["self_normalization", "batch_cross_entropy", "cross_entropy-weighted"],
)
def test_retain_graph_backward_twice(built, fn):
    # The saved gradient is scaled in place only when autograd frees it: a retained graph keeps it intact.
    x = _rand((4, 6), 43).requires_grad_(True)
    y = torch.tensor([0, 5, 2, 2])
    loss = fn(x, y)
    (g1,) = torch.autograd.grad(loss * 3.0, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss * 3.0, x)
    ref = _value_and_grad(lambda a: fn(a, y), x)[1] * 3.0
    torch.testing.assert_close(g1, ref)
    torch.testing.assert_close(g2, ref)


def test_available_lists_the_losses(built):
    assert {"batch_cross_entropy", "self_normalization", "cross_entropy"} <= set(built.losses)


def test_auto_uses_the_kernels(built, monkeypatch):
    calls = []
    for name in ("self_normalization", "batch_cross_entropy", "cross_entropy_weighted"):
        real = getattr(K, name)
        monkeypatch.setattr(K, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    ll.self_normalization(x, y)
    ll.batch_cross_entropy(x, y)
    ll.cross_entropy(x, y, weight=torch.rand(3))
    assert calls == ["self_normalization", "batch_cross_entropy", "cross_entropy_weighted"]
    ll.self_normalization(x, y, impl="reference")
    ll.batch_cross_entropy(x, y, impl="reference")
    ll.cross_entropy(x, y, weight=torch.rand(3), impl="reference")
    ll.self_normalization(x.bfloat16(), y)  # no CPU kernel for bfloat16: the reference
    assert len(calls) == 3


def test_weights_that_require_grad_take_the_reference(built):
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    ll.cross_entropy(x, y, weight=w).backward()  # 'auto': the reference gives weight's gradient
    w2 = w.detach().clone().requires_grad_(True)
    nll = -torch.log_softmax(x, -1).gather(-1, y[:, None])[:, 0]
    ((w2[y] * nll).sum() / w2[y].sum()).backward()  # the weighted mean written out (F.cross_entropy has no weight gradient)
    torch.testing.assert_close(w.grad, w2.grad)
    with pytest.raises(ValueError, match=r"impl='fused'.*class weights that require grad"):
        ll.cross_entropy(x, y, weight=w, impl="fused")
    with torch.no_grad():  # no gradient taken: the kernel may run
        ll.cross_entropy(x, y, weight=w, impl="fused")


@pytest.mark.parametrize("loss", ["self_normalization", "batch_cross_entropy"])
def test_impl_errors(built, loss):
    fn = getattr(ll, loss)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(ValueError, match="impl must be one of"):
        fn(x, y, impl="triton")
    with pytest.raises(ValueError, match=rf"impl='fused' cannot run {loss} for dtype torch.bfloat16 on device cpu"):
        fn(x.bfloat16(), y, impl="fused")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"impl='fused'.*meta"):
            fn(x.to("meta"), y.to("meta"), impl="fused")


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y, impl: ll.self_normalization(x, y, impl=impl),
        lambda x, y, impl: ll.batch_cross_entropy(x, y, impl=impl),
        lambda x, y, impl: ll.cross_entropy(x, y, weight=torch.ones(3), impl=impl),
    ],
    ids=["self_normalization", "batch_cross_entropy", "cross_entropy"],
)
@pytest.mark.parametrize("bad", ["label-range", "label-shape", "float-labels"])
def test_bad_input_same_message(built, call, bad):
    x = torch.randn(4, 3)
    y = {"label-range": torch.tensor([0, 1, 3, 1]), "label-shape": torch.tensor([0, 1, 2]),
         "float-labels": torch.rand(4, 2)}[bad]
    msgs = []
    for impl in ("reference", "fused"):
        with pytest.raises((ValueError, TypeError)) as info:
            call(x, y, impl)
        msgs.append((type(info.value), str(info.value)))
    assert msgs[0] == msgs[1]


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y: ll.self_normalization(x, y, alpha=0.2, impl="fused"),
        lambda x, y: ll.batch_cross_entropy(x, y, impl="fused"),
        lambda x, y: ll.cross_entropy(x, y, weight=torch.linspace(0.5, 2.0, 7), label_smoothing=0.1, impl="fused"),
    ],
    ids=["self_normalization", "batch_cross_entropy", "cross_entropy-weighted"],
)
def test_compile_fullgraph_no_recompile(built, fn):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    g = torch.Generator().manual_seed(30)
    for n in (4, 6):
        x = torch.randn(n, 7, generator=g, requires_grad=True)
        torch._dynamo.mark_dynamic(x, 0)
        y = torch.randint(0, 7, (n,), generator=g)
        torch._dynamo.mark_dynamic(y, 0)
        loss = compiled(x, y)
        loss.backward()
        ref, g_ref = _value_and_grad(lambda a: fn(a, y), x)
        torch.testing.assert_close(loss.detach(), ref)
        torch.testing.assert_close(x.grad, g_ref)
    # one graph for both batch sizes: no recompilation, no graph break
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
    torch._dynamo.reset()


# ---------------------------------------------------------------------------------
# Triton kernels (the interpreter on CPU without a GPU): against the C++ operators
# and the reference, small shapes, column blocks smaller than a row.


@pytest.fixture(scope="module")
def T():
    pytest.importorskip("triton", reason="triton is not installed (pip install 'losslab[test]')")
    if not _ON_GPU and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("TRITON_INTERPRET=1 was not set before triton was imported (see the root conftest.py)")
    from losslab.kernels import triton_kernels

    src = sys.modules.get("losslab.kernels._triton_src")
    if src is not None and not _ON_GPU:
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(src._param, InterpretedFunction):
            pytest.skip("the Triton kernels were compiled for a GPU earlier in this process; no interpreter")
    return triton_kernels


def _cpu(ts):
    return [t.cpu() for t in ts]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_triton_self_normalization(T, dtype):
    x, y = _rand((5, 33), 31, dtype), _labels((5,), 33, 32)
    x[1, 4] = NINF
    loss, g = _cpu(T.self_normalization_fwd_triton(x.to(DEVICE), y.to(DEVICE), 0.3, True, block_k=8))
    ref_loss, ref_g = _value_and_grad(lambda a: ll.self_normalization(a, y, alpha=0.3, reduction="none", impl="reference"), x)
    _close(loss, ref_loss, dtype)
    _close(g, ref_g, dtype)
    loss2, g2 = T.self_normalization_fwd_triton(x.to(DEVICE), y.to(DEVICE), 0.3, False, block_k=16)
    _close(loss2.cpu(), ref_loss, dtype)
    assert g2.shape == (0,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_triton_batch_cross_entropy(T, dtype):
    x, y = _rand((6, 33), 33, dtype), _labels((6,), 33, 34)
    x[2, 5:] = NINF
    loss, q = _cpu(T.batch_cross_entropy_fwd_triton(x.to(DEVICE), y.to(DEVICE), True, block_k=8))
    ref_loss = ll.batch_cross_entropy(x, y, reduction="none", impl="reference")
    _close(loss, ref_loss, dtype)
    _close(q, torch.softmax(x.reshape(-1), 0).reshape(x.shape), dtype)  # Q_B of Definition 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
def test_triton_weighted_cross_entropy(T, dtype, probs):
    x = _rand((5, 33), 35, dtype)
    x[3, 7] = NINF
    w = torch.rand(33, generator=torch.Generator().manual_seed(36), dtype=dtype)
    w[0] = 0.0
    target = torch.softmax(_rand((5, 33), 37, dtype), -1) if probs else torch.tensor([0, 32, -100, 7, 16])
    if probs:
        target[3, 7] = 0.0
    got = _cpu(T.cross_entropy_weighted_fwd_triton(x.to(DEVICE), target.to(DEVICE), w.to(DEVICE), -100, 0.1, True, probs,
                                                   block_k=8))
    ref = _value_and_grad(lambda a, *t: ll.cross_entropy(a, t[0] if t else target, weight=w, label_smoothing=0.1,
                                                         reduction="none", impl="reference"),
                          x, None, *([target] if probs else []))
    for a, b in zip(got, ref):
        _close(a, b, dtype)
    if not probs:
        assert got[2].shape == (0,) and got[0][2] == 0 and (got[1][2] == 0).all()


def test_triton_probability_target_gradient_at_a_masked_class(T):
    # As test_probability_target_gradient_at_a_masked_class, for the unweighted Triton kernel.
    x, t = _rand((2, 9), 46), torch.softmax(_rand((2, 9), 47), -1)
    x[:, 1] = NINF
    t[:, 1] = 0.0
    got = _cpu(T.cross_entropy_fwd_triton(x.to(DEVICE), t.to(DEVICE), -100, 0.1, True, True, block_k=4))
    ref = _value_and_grad(lambda a, b: ll.cross_entropy(a, b, label_smoothing=0.1, reduction="none", impl="reference"),
                          x, None, t)
    for a, b in zip(got, ref):
        _close(a, b, torch.float64)
    assert (got[2][:, 1] == 0).all()


def test_triton_same_outputs_as_the_cpp_operators(T, built):
    x, y = _rand((5, 33), 38, torch.float32), _labels((5,), 33, 39)
    w = torch.rand(33, generator=torch.Generator().manual_seed(40))
    ops = torch.ops.losslab
    pairs = [
        (T.self_normalization_fwd_triton(x.to(DEVICE), y.to(DEVICE), 0.2, True, block_k=16), ops.self_normalization_fwd(x, y, 0.2, True)),
        (T.batch_cross_entropy_fwd_triton(x.to(DEVICE), y.to(DEVICE), True, block_k=16), ops.batch_cross_entropy_fwd(x, y, True)),
        (T.cross_entropy_weighted_fwd_triton(x.to(DEVICE), y.to(DEVICE), w.to(DEVICE), -100, 0.1, True, False, block_k=16),
         ops.cross_entropy_weighted_fwd(x, y, w, -100, 0.1, True, False)),
    ]
    for got, ref in pairs:
        for a, b in zip(got, ref):
            _close(a.cpu(), b, torch.float32)


def test_triton_rejects_bad_arguments(T):
    x = torch.zeros(2, 3, device=DEVICE)
    with pytest.raises(ValueError, match="label 3 outside"):
        T.self_normalization_fwd_triton(x, torch.tensor([0, 3], device=DEVICE), 0.1, True)
    with pytest.raises(ValueError, match="label -1 outside"):
        T.batch_cross_entropy_fwd_triton(x, torch.tensor([0, -1], device=DEVICE), True)
    with pytest.raises(ValueError, match=r"weight must be \[K\]"):
        T.cross_entropy_weighted_fwd_triton(x, torch.tensor([0, 1], device=DEVICE), torch.ones(2, device=DEVICE), -100, 0.0, True, False)


def test_triton_launchers_register_as_cuda_kernels(T, built):
    # Registration needs no GPU: the CUDA dispatch key of each operator gets a kernel.
    assert T.register_single_logit_cuda_kernels()
    for name in ("self_normalization_fwd", "batch_cross_entropy_fwd", "cross_entropy_weighted_fwd"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"losslab::{name}", "CUDA")
