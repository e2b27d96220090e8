"""Fused linear + loss (losslab.linear): equal to the materialised computation, and bounded memory.

References: ``F.linear`` followed by PyTorch's ``F.cross_entropy`` (reduced here by the written
semantics of losslab's reduction), and plain autograd through eq. (29) of seed 000 for the
composite Softmax. The memory test counts the largest tensor any ATen op allocates during
forward + backward.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import losslab as ll
from losslab import links

D64 = torch.float64
N, d, K = 10, 5, 7
CHUNKS = [1, 3, 4, 10, 64, None]  # 3 and 4 do not divide N; 10 and 64 are >= N


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _params(bias=True, seed=0, batch=(N,)):
    g = _gen(seed)
    x = torch.randn(*batch, d, dtype=D64, generator=g)
    W = torch.randn(K, d, dtype=D64, generator=g)
    b = torch.randn(K, dtype=D64, generator=g) if bias else None
    return [t.requires_grad_() if t is not None else None for t in (x, W, b)]


def _labels(batch=(N,), ignore=(), seed=1):
    y = torch.randint(0, K, batch, generator=_gen(seed))
    for i in ignore:
        y.view(-1)[i] = -100
    return y


def _ref_ce(logits, target, *, reduction, weight=None, label_smoothing=0.0, sample_weight=None, ignore_index=-100):
    """PyTorch's per-row cross-entropy, reduced as losslab documents: a weighted mean divides by
    Σ s_i·w_{y_i} over non-ignored rows (Σ s_i for probability targets)."""
    rows = F.cross_entropy(logits.reshape(-1, K), target.reshape(-1) if not target.is_floating_point() else target.reshape(-1, K),
                           weight=weight, reduction="none", label_smoothing=label_smoothing, ignore_index=ignore_index)
    s = torch.ones_like(rows) if sample_weight is None else sample_weight.reshape(-1)
    if reduction == "none":
        return (rows * s).reshape(logits.shape[:-1])
    total = (rows * s).sum()
    if reduction == "sum":
        return total
    if target.is_floating_point():
        denom = s
    else:
        y = target.reshape(-1)
        valid = (y != ignore_index).to(D64)
        wy = torch.ones_like(valid) if weight is None else weight[torch.where(y != ignore_index, y, 0)]
        denom = s * valid * wy
    return total / denom.sum()


def _compare(ours_fn, ref_fn, inputs):
    """Equal values and equal gradients of every input that requires grad, for a random cotangent."""
    ours, ref = ours_fn(), ref_fn()
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    cot = torch.rand(ref.shape, dtype=D64, generator=_gen(7)) + 0.5
    diff = [t for t in inputs if t is not None and t.requires_grad]
    g_ours = torch.autograd.grad(ours, diff, cot)
    g_ref = torch.autograd.grad(ref, diff, cot)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


CE_CASES = {
    "plain": dict(),
    "class_weight": dict(weight=torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5),
    "smoothing": dict(label_smoothing=0.2),
    "all": dict(weight=torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5, label_smoothing=0.3,
                sample_weight=torch.rand(N, dtype=D64, generator=_gen(4))),
    "sample_weight": dict(sample_weight=torch.rand(N, dtype=D64, generator=_gen(4))),
}


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", list(CE_CASES))
def test_cross_entropy_equals_materialised(case, reduction, chunk_size):
    kw = CE_CASES[case]
    x, W, b = _params()
    y = _labels(ignore=(2, 7))
    _compare(lambda: ll.linear_cross_entropy(x, W, y, linear_bias=b, reduction=reduction, chunk_size=chunk_size, **kw),
             lambda: _ref_ce(F.linear(x, W, b), y, reduction=reduction, **kw), [x, W, b])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_probability_target_and_no_bias(reduction):
    x, W, _ = _params(bias=False)
    t = torch.rand(N, K, dtype=D64, generator=_gen(5)).softmax(-1)
    kw = dict(weight=torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5, label_smoothing=0.1)
    _compare(lambda: ll.linear_cross_entropy(x, W, t, reduction=reduction, chunk_size=3, **kw),
             lambda: _ref_ce(F.linear(x, W), t, reduction=reduction, **kw), [x, W])


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_leading_batch_dims(reduction):
    x, W, b = _params(batch=(2, 3, 4))
    y = _labels(batch=(2, 3, 4), ignore=(5,))
    out = ll.linear_cross_entropy(x, W, y, linear_bias=b, reduction=reduction, chunk_size=5)
    assert out.shape == ((2, 3, 4) if reduction == "none" else ())
    _compare(lambda: ll.linear_cross_entropy(x, W, y, linear_bias=b, reduction=reduction, chunk_size=5),
             lambda: _ref_ce(F.linear(x, W, b), y, reduction=reduction), [x, W, b])
    s = torch.randn(2, 3, 4, K, dtype=D64, generator=_gen(6))
    q = links.sinh(alpha=0.7)
    _compare(lambda: ll.linear_composite_softmax_loss(x, W, s, q, linear_bias=b, reduction=reduction, chunk_size=5),
             lambda: _naive_composite(F.linear(x, W, b), s, q, 1.0, reduction), [x, W, b])


def _naive_composite(z, s, q, gamma, reduction, sample_weight=None):
    """Eq. (29) with γ (C.4-C.5) by plain autograd: H(z) = γ logsumexp(Q(z)/γ)."""
    H = lambda v: gamma * torch.logsumexp(q.primitive(v) / gamma, -1)  # noqa: E731
    p_s = torch.softmax(q.primitive(s) / gamma, -1)
    rows = H(z) - H(s) - ((z - s) * q(s) * p_s).sum(-1)
    w = torch.ones_like(rows) if sample_weight is None else sample_weight
    if reduction == "none":
        return rows * w
    total = (rows * w).sum()
    return total if reduction == "sum" else total / w.sum()


SCALINGS = {"identity": links.identity(), "exp": links.exp(alpha=0.5), "sinh": links.sinh(alpha=1.0)}


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("scaling", list(SCALINGS))
def test_composite_softmax_equals_materialised(scaling, reduction, chunk_size):
    q = SCALINGS[scaling]
    x, W, b = _params()
    s = torch.randn(N, K, dtype=D64, generator=_gen(6))
    sw = torch.rand(N, dtype=D64, generator=_gen(4))
    _compare(lambda: ll.linear_composite_softmax_loss(x, W, s, q, linear_bias=b, gamma=0.7, reduction=reduction,
                                                      sample_weight=sw, chunk_size=chunk_size),
             lambda: _naive_composite(F.linear(x, W, b), s, q, 0.7, reduction, sw), [x, W, b])
    # and the library's own materialised loss
    _compare(lambda: ll.linear_composite_softmax_loss(x, W, s, q, linear_bias=b, reduction=reduction, chunk_size=chunk_size),
             lambda: ll.composite_softmax_loss(F.linear(x, W, b), s, q, reduction=reduction), [x, W, b])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sample_weight_gradient(reduction):
    x, W, b = _params()
    y = _labels(ignore=(1,))
    cw = torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5
    sw = (torch.rand(N, dtype=D64, generator=_gen(4)) + 0.1).requires_grad_()
    _compare(lambda: ll.linear_cross_entropy(x, W, y, linear_bias=b, weight=cw, sample_weight=sw, reduction=reduction,
                                             chunk_size=3),
             lambda: _ref_ce(F.linear(x, W, b), y, weight=cw, sample_weight=sw, reduction=reduction), [x, W, b, sw])


def test_only_some_inputs_require_grad_and_retain_graph():
    x, W, b = _params()
    x.requires_grad_(False)
    y = _labels()
    out = ll.linear_cross_entropy(x, W, y, linear_bias=b, chunk_size=3)
    g1 = torch.autograd.grad(out, (W, b), retain_graph=True)
    g2 = torch.autograd.grad(out, (W, b))  # a second backward sees unchanged saved gradients
    ref = torch.autograd.grad(F.cross_entropy(F.linear(x, W, b), y), (W, b))
    for a, c, r in zip(g1, g2, ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(c, r, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(ll.linear_cross_entropy(x, W, y, linear_bias=b), F.cross_entropy(F.linear(x, W, b), y))


def test_empty_batch_and_all_ignored():
    x, W, b = _params(batch=(0,))
    out = ll.linear_cross_entropy(x, W, torch.zeros(0, dtype=torch.long), linear_bias=b)
    out.backward()
    assert out.item() == 0.0 and W.grad.abs().sum() == 0
    x, W, b = _params(batch=(4,))
    out = ll.linear_cross_entropy(x, W, torch.full((4,), -100), linear_bias=b, chunk_size=3)
    out.backward()
    assert out.item() == 0.0 and x.grad.abs().sum() == 0 and W.grad.abs().sum() == 0


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_gradcheck(reduction):
    g = _gen(9)
    x = torch.randn(5, 3, dtype=D64, generator=g, requires_grad=True)
    W = torch.randn(4, 3, dtype=D64, generator=g, requires_grad=True)
    b = torch.randn(4, dtype=D64, generator=g, requires_grad=True)
    y = torch.tensor([0, 3, -100, 2, 1])
    s = torch.randn(5, 4, dtype=D64, generator=g)
    assert torch.autograd.gradcheck(
        lambda x, W, b: ll.linear_cross_entropy(x, W, y, linear_bias=b, label_smoothing=0.1, reduction=reduction,
                                                chunk_size=2), (x, W, b))
    assert torch.autograd.gradcheck(
        lambda x, W, b: ll.linear_composite_softmax_loss(x, W, s, links.exp(alpha=0.5), linear_bias=b, gamma=0.8,
                                                         reduction=reduction, chunk_size=2), (x, W, b))


def test_modules_take_the_output_layers_parameters():
    torch.manual_seed(0)
    head = torch.nn.Linear(d, K, dtype=D64)
    x = torch.randn(N, d, dtype=D64)
    y = _labels()
    loss = ll.nn.LinearCrossEntropyLoss(label_smoothing=0.1, chunk_size=3)(x, head.weight, y, linear_bias=head.bias)
    ours = torch.autograd.grad(loss, (head.weight, head.bias))
    ref_loss = F.cross_entropy(head(x), y, label_smoothing=0.1)
    ref = torch.autograd.grad(ref_loss, (head.weight, head.bias))
    torch.testing.assert_close(loss, ref_loss)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    s = torch.randn(N, K, dtype=D64)
    q = links.exp()
    m = ll.nn.LinearCompositeSoftmaxLoss(q, gamma=0.5, reduction="sum", chunk_size=4)
    torch.testing.assert_close(m(x, head.weight, s, head.bias), ll.composite_softmax_loss(head(x), s, q, gamma=0.5,
                                                                                           reduction="sum"))


# ---------------------------------------------------------------------------------
# Memory: no op allocates an [N, K] tensor


class _LargestAllocation(TorchDispatchMode):
    """The element count of the largest new tensor any op returns (views and in-place results,
    which share an input's storage, are not allocations)."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        seen = {a.untyped_storage().data_ptr() for a in torch.utils._pytree.tree_leaves((args, kwargs))
                if isinstance(a, torch.Tensor)}
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
                self.largest = max(self.largest, t.untyped_storage().nbytes() // t.element_size())
        return out


def _largest(fn):
    with _LargestAllocation() as meter:
        fn().backward()
    return meter.largest


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_memory_never_holds_the_logits(reduction):
    n, k, dd, chunk = 256, 96, 4, 8
    g = _gen(2)
    x = torch.randn(n, dd, generator=g, requires_grad=True)
    W = torch.randn(k, dd, generator=g, requires_grad=True)
    b = torch.randn(k, generator=g, requires_grad=True)
    y = torch.randint(0, k, (n,), generator=g)
    s = torch.randn(n, k, generator=g)
    bound = max(chunk * k, n * dd, k * dd)  # one chunk of logits, or a parameter-sized gradient
    assert bound * 8 <= n * k

    def reduce(v):
        return v.sum() if reduction == "none" else v

    fused_ce = _largest(lambda: reduce(ll.linear_cross_entropy(x, W, y, linear_bias=b, chunk_size=chunk,
                                                               label_smoothing=0.1, reduction=reduction)))
    fused_cs = _largest(lambda: reduce(ll.linear_composite_softmax_loss(x, W, s, links.exp(), linear_bias=b,
                                                                        chunk_size=chunk, reduction=reduction)))
    # the meter sees the [N, K] logits of the materialised computation
    materialised = _largest(lambda: reduce(F.cross_entropy(F.linear(x, W, b), y, reduction=reduction)))
    assert materialised >= n * k
    assert fused_ce <= bound, (fused_ce, bound)
    assert fused_cs <= bound, (fused_cs, bound)


# ---------------------------------------------------------------------------------
# Bad input


def _raises(exc, name, fn):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        fn()


def test_bad_input_names_the_argument():
    x, W, b = _params()
    y = _labels()
    s = torch.randn(N, K, dtype=D64)
    q = links.exp()
    ce = ll.linear_cross_entropy
    cs = ll.linear_composite_softmax_loss
    _raises(ValueError, "linear_weight", lambda: ce(x, torch.randn(K, d + 1, dtype=D64), y))
    _raises(ValueError, "linear_weight", lambda: ce(x, torch.randn(K, d, 1, dtype=D64), y))
    _raises(ValueError, "linear_weight", lambda: cs(x[:, :-1], W, s, q))
    _raises(ValueError, "target", lambda: ce(x, W, torch.full((N,), K)))
    _raises(ValueError, "target", lambda: ce(x, W, torch.full((N,), -1)))
    _raises(ValueError, "target", lambda: ce(x, W, y[:-1]))
    _raises(ValueError, "target", lambda: cs(x, W, s[:, :-1], q))
    _raises(ValueError, "target", lambda: cs(x, W, s.clone().requires_grad_(), q))
    for bad in (0, -3):
        _raises(ValueError, "chunk_size", lambda: ce(x, W, y, chunk_size=bad))
        _raises(ValueError, "chunk_size", lambda: cs(x, W, s, q, chunk_size=bad))
    for bad in (2.5, "4", True):
        _raises(TypeError, "chunk_size", lambda: ce(x, W, y, chunk_size=bad))
    _raises(ValueError, "linear_bias", lambda: ce(x, W, y, linear_bias=torch.randn(K + 1, dtype=D64)))
    _raises(ValueError, "linear_bias", lambda: cs(x, W, s, q, linear_bias=torch.randn(1, K, dtype=D64)))
    _raises(TypeError, "target", lambda: ce(x, W, y.tolist()))
    _raises(ValueError, "weight", lambda: ce(x, W, y, weight=torch.ones(K + 1, dtype=D64)))
    _raises(ValueError, "label_smoothing", lambda: ce(x, W, y, label_smoothing=1.5))
    _raises(ValueError, "sample_weight", lambda: ce(x, W, y, sample_weight=torch.ones(N + 1, dtype=D64)))
    _raises(ValueError, "gamma", lambda: cs(x, W, s, q, gamma=0.0))
    _raises(ValueError, "reduction", lambda: ce(x, W, y, reduction="avg"))


# ---------------------------------------------------------------------------------
# impl: each chunk through the fused operator (losslab.kernels) against the closed form

_KERNELS = ll.kernels.available().cpu
needs_kernels = pytest.mark.skipif(not _KERNELS, reason="the fused CPU kernels are not built")
_TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}


class _OpCalls(TorchDispatchMode):
    """Counts the calls of each losslab operator that reach the dispatcher."""

    def __init__(self):
        super().__init__()
        self.calls = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name.startswith("losslab."):
            self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def _cast(ts, dtype):
    return [None if t is None else t.detach().to(dtype).requires_grad_(t.requires_grad) for t in ts]


def _same_both_ways(fn, inputs, dtype, reduction):
    """``fn(impl)`` under 'fused' equals 'reference': values and the gradients of every input."""
    out_f, out_r = fn("fused"), fn("reference")
    torch.testing.assert_close(out_f, out_r, **_TOL[dtype])
    cot = (torch.rand(out_r.shape, dtype=D64, generator=_gen(7)) + 0.5).to(dtype)
    diff = [t for t in inputs if t is not None and t.requires_grad]
    for a, b in zip(torch.autograd.grad(out_f, diff, cot), torch.autograd.grad(out_r, diff, cot)):
        # A gradient entry is a sum of products at the scale of the largest entries, so in
        # float32 both paths carry an absolute error of a few ULPs of that scale (both are
        # within ~1e-7 of it from the float64 result).
        tol = dict(_TOL[dtype], atol=_TOL[dtype]["atol"] * max(1.0, float(b.abs().max())))
        torch.testing.assert_close(a, b, **tol)


_MASK = torch.zeros(K, dtype=D64).index_fill_(0, torch.tensor([K - 1]), -torch.inf)  # class K-1 masked by the bias
FUSED_CE_CASES = {
    "plain": dict(),
    "ignore_index": dict(ignore=(2, 7)),
    "smoothing": dict(ignore=(3,), label_smoothing=0.2),
    "masked_smoothing": dict(mask=True, label_smoothing=0.3),
    "class_weight_labels": dict(ignore=(1,), weight=True),
    "probabilities": dict(probs=True),
    "probabilities_smoothing": dict(probs=True, label_smoothing=0.25),
    "probabilities_class_weight": dict(probs=True, weight=True),
}


@needs_kernels
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(FUSED_CE_CASES))
def test_cross_entropy_fused_equals_reference(case, dtype, reduction):
    kw = dict(FUSED_CE_CASES[case])
    x, W, b = _cast(_params(), dtype)
    if kw.pop("mask", False):
        b = (b.detach() + _MASK.to(dtype)).requires_grad_()
    if kw.pop("probs", False):
        y = torch.rand(N, K, dtype=D64, generator=_gen(5)).softmax(-1).to(dtype)
    else:
        y = _labels() % (K - 1)  # never the masked class
        for i in kw.pop("ignore", ()):
            y[i] = -100
    if kw.pop("weight", False):
        kw["weight"] = (torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5).to(dtype)
    _same_both_ways(lambda impl: ll.linear_cross_entropy(x, W, y, linear_bias=b, reduction=reduction, chunk_size=3,
                                                         impl=impl, **kw), [x, W, b], dtype, reduction)


@needs_kernels
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scaling", list(SCALINGS))
def test_composite_softmax_fused_equals_reference(scaling, dtype, reduction):
    q = SCALINGS[scaling]
    x, W, b = _cast(_params(), dtype)
    s = torch.randn(N, K, generator=_gen(6), dtype=D64).to(dtype)
    sw = torch.rand(N, dtype=D64, generator=_gen(4)).to(dtype)
    _same_both_ways(lambda impl: ll.linear_composite_softmax_loss(x, W, s, q, linear_bias=b, gamma=0.7, chunk_size=4,
                                                                  reduction=reduction, sample_weight=sw, impl=impl),
                    [x, W, b], dtype, reduction)


@needs_kernels
def test_fused_gradcheck():
    x, W, b = _params()
    y = _labels(ignore=(4,))
    s = torch.randn(N, K, dtype=D64, generator=_gen(6))
    q = links.sinh(alpha=0.5)
    assert torch.autograd.gradcheck(lambda x, W, b: ll.linear_cross_entropy(
        x, W, y, linear_bias=b, label_smoothing=0.1, chunk_size=3, impl="fused", reduction="none"), (x, W, b))
    assert torch.autograd.gradcheck(lambda x, W, b: ll.linear_composite_softmax_loss(
        x, W, s, q, linear_bias=b, chunk_size=3, impl="fused"), (x, W, b))


@needs_kernels
def test_auto_calls_the_operator_once_per_chunk():
    x, W, b = _params()
    y = _labels(ignore=(2,))
    s = torch.randn(N, K, dtype=D64, generator=_gen(6))
    q = links.exp(alpha=0.5)
    cw = torch.rand(K, dtype=D64, generator=_gen(3)) + 0.5
    chunks = -(-N // 3)
    runs = {
        ("ce", "auto"): lambda impl: ll.linear_cross_entropy(x, W, y, linear_bias=b, chunk_size=3, impl=impl),
        ("ce_weight", "auto"): lambda impl: ll.linear_cross_entropy(x, W, y, weight=cw, chunk_size=3, impl=impl),
        ("cs", "auto"): lambda impl: ll.linear_composite_softmax_loss(x, W, s, q, chunk_size=3, impl=impl),
    }
    for (what, _), fn in runs.items():
        # the composite Softmax and unsmoothed cross-entropy write each chunk's gradient over
        # that chunk's logits
        op = {"cs": "losslab.composite_softmax_fwd_inplace_", "ce": "losslab.cross_entropy_fwd_inplace_",
              "ce_weight": "losslab.cross_entropy_weighted_fwd"}[what]
        for impl, expected in (("auto", chunks), ("fused", chunks), ("reference", 0)):
            with _OpCalls() as rec:
                fn(impl).backward()
            assert rec.calls.get(op, 0) == expected, (what, impl, rec.calls)
    # class weights with smoothing: the weighted operator, once per chunk
    with _OpCalls() as rec:
        ll.linear_cross_entropy(x, W, y, weight=cw, label_smoothing=0.1, chunk_size=3).backward()
    assert rec.calls == {"losslab.cross_entropy_weighted_fwd": chunks}, rec.calls
    # the module forms pass impl through
    for impl, expected in (("auto", chunks), ("reference", 0)):
        with _OpCalls() as rec:
            ll.nn.LinearCrossEntropyLoss(chunk_size=3, impl=impl)(x, W, y).backward()
            ll.nn.LinearCompositeSoftmaxLoss(q, chunk_size=3, impl=impl)(x, W, s).backward()
        assert sum(rec.calls.values()) == 2 * expected, (impl, rec.calls)
    # without gradients the out-of-place operator computes the loss alone
    with _OpCalls() as rec, torch.no_grad():
        ll.linear_composite_softmax_loss(x, W, s, q, chunk_size=3)
    assert rec.calls == {"losslab.composite_softmax_fwd": chunks}, rec.calls


def test_impl_fused_where_it_cannot_run():
    x, W, b = _params()
    y = _labels()
    s = torch.randn(N, K, dtype=D64)
    cw = torch.rand(K, dtype=D64) + 0.5
    with pytest.raises(ValueError, match=r"impl='fused'.*float16.*cpu"):
        ll.linear_cross_entropy(x.detach().half(), W.detach().half(), y, impl="fused")
    with pytest.raises(ValueError, match=r"impl='fused'.*(scaling|not available)"):
        # a link built from its own functions (not one of the kernel's shapes)
        ll.linear_composite_softmax_loss(x, W, s, links.Link("custom", lambda z: z.exp(), lambda z: z.exp(),
                                                             lambda z: z.exp()), impl="fused")
    for fn in (lambda: ll.linear_cross_entropy(x, W, y, impl="fast"),
               lambda: ll.linear_composite_softmax_loss(x, W, s, links.exp(), impl=None)):
        _raises(ValueError, "impl", fn)
    # 'auto' falls back to the closed form where the kernel cannot run
    torch.testing.assert_close(ll.linear_cross_entropy(x, W, y, weight=cw, label_smoothing=0.1),
                               _ref_ce(F.linear(x, W), y, reduction="mean", weight=cw, label_smoothing=0.1))


@needs_kernels
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("probs", [False, True])
def test_class_weight_smoothing_ignore_index_equal_materialised(probs, reduction, impl):
    # weights + label smoothing + ignore_index together, against PyTorch's own loss on the
    # materialised logits: values and the gradients of input, linear_weight and linear_bias
    x, W, b = _params()
    cw = torch.rand(K, dtype=D64, generator=_gen(3)) + 0.25
    cw[1] = 0.0  # a zero class weight too
    if probs:
        y = torch.rand(N, K, dtype=D64, generator=_gen(5)).softmax(-1)
    else:
        y = _labels() % K
        y[2], y[5] = -100, 1
    kw = dict(weight=cw, label_smoothing=0.3, reduction=reduction)
    ours = ll.linear_cross_entropy(x, W, y, linear_bias=b, chunk_size=3, impl=impl, **kw)
    ref = F.cross_entropy(F.linear(x, W, b), y, ignore_index=-100, **kw)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    cot = torch.rand(ref.shape, dtype=D64, generator=_gen(7)) + 0.5
    for a, r in zip(torch.autograd.grad(ours, (x, W, b), cot), torch.autograd.grad(ref, (x, W, b), cot)):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
