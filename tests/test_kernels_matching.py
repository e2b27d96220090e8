"""Fused matching_loss (every link with a closed-form primitive) and composite_sigmoid_loss
(losslab::matching_link_fwd, losslab::composite_sigmoid_fwd) against the reference.

Every test that needs the compiled library skips with the reason from
``losslab.kernels.available()`` when it could not be built (no compiler).
"""
import math

import pytest
import torch

import losslab as ll
import losslab.kernels as K
from losslab import links
from reference import matching as naive


def _real(n, g, dtype, scale=3.0):
    return torch.randn(n, generator=g, dtype=dtype) * scale


def _unit(lo, hi):
    # inputs with x = alpha (z - beta) inside (lo, hi), away from its ends
    def make(n, g, dtype):
        return lo + (hi - lo) * (0.05 + 0.9 * torch.rand(n, generator=g, dtype=dtype))

    return make


# name -> (link factory, input generator). Every constructor of losslab.links whose primitive is
# closed form, with shape parameters, shifts, caps and scale factors where they have them.
LINKS = {
    "identity": (lambda: links.identity(alpha=1.5, beta=0.5), _real),
    "exp": (lambda: links.exp(alpha=0.5), _real),
    "exp-capped": (lambda: links.exp(alpha=0.5, beta=-1.0, cap=2.0), _real),
    "exp-uncapped": (lambda: links.exp(alpha=0.4, cap=None), _real),
    "anti_exp": (lambda: links.anti_exp(alpha=0.8, beta=0.3, cap=3.0), _real),
    "sinh": (lambda: links.sinh(alpha=1.0), _real),
    "sinh-scaled": (lambda: links.sinh(alpha=0.5, cap=None).scaled(2.0), _real),
    "cosh": (lambda: links.cosh(alpha=0.3, beta=0.2, cap=1.0), _real),
    "sigmoid": (lambda: links.sigmoid(alpha=1.5, beta=0.5), _real),
    "sigmoid-capped": (lambda: links.sigmoid(alpha=1.2).capped(2.0), _real),
    "tanh": (lambda: links.tanh(alpha=0.7, beta=-0.2), _real),
    "arcsinh": (lambda: links.arcsinh(alpha=2.0), _real),
    "smelu": (lambda: links.smelu(c=1.5, beta=0.5), _real),
    "huber": (lambda: links.huber(delta=0.7), _real),
    "step": (lambda: links.step(beta=0.3), _real),
    "sign": (lambda: links.sign(), _real),
    "staircase": (lambda: links.staircase([-1.0, 0.5, 2.0], [0.5, 1.0, 2.0]), _real),
    "piecewise_linear": (lambda: links.piecewise_linear([-1.0, 0.0, 2.0, 3.0], [0.0, 1.0, 1.5, 3.0]), _real),
    "power": (lambda: links.power(d=1.5, alpha=0.8), _real),
    "power-sub1": (lambda: links.power(d=0.5), _real),
    "sin": (lambda: links.sin(alpha=0.5), _real),
    "sin-uncapped": (lambda: links.sin(cap=None), _real),
    "arctan": (lambda: links.arctan(alpha=1.3), _real),
    "sign_log1p": (lambda: links.sign_log1p(alpha=2.0), _real),
    "logit": (lambda: links.logit(), _unit(0.0, 1.0)),
    "arcsin": (lambda: links.arcsin(), _unit(-1.0, 1.0)),
    "arctanh": (lambda: links.arctanh(), _unit(-1.0, 1.0)),
    "tan": (lambda: links.tan(alpha=0.5), _unit(-math.pi, math.pi)),
    "neg_log1m": (lambda: links.neg_log1m(), _unit(-3.0, 1.0)),
    "log": (lambda: links.log(alpha=2.0), _unit(0.0, 3.0)),
}

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-9), torch.float32: dict(rtol=2e-4, atol=2e-5)}


def _close(a, b, dtype, atol_scale=None):
    tol = dict(TOL[dtype])
    finite = b[torch.isfinite(b)]
    big = float(finite.abs().max()) if finite.numel() else 0.0
    tol["atol"] = tol["atol"] * max(1.0, big if atol_scale is None else atol_scale)
    torch.testing.assert_close(a, b, equal_nan=True, **tol)


def _run(fn, pred, target, impl, reduction="none", upstream=None, **kw):
    """The loss and the gradients of <loss, upstream> (or of the scalar loss) wrt pred and target."""
    p = pred.detach().clone().requires_grad_(True)
    t = target.detach().clone().requires_grad_(True)
    loss = fn(p, t, impl=impl, reduction=reduction, **kw)
    (loss if upstream is None else loss * upstream).sum().backward()
    return loss.detach(), p.grad, t.grad


def _matching(link):
    return lambda p, t, **kw: ll.matching_loss(p, t, link, **kw)


def test_every_closed_form_constructor_is_covered(built):
    # A constructor of losslab.links with a closed-form primitive that the kernel lacks fails here.
    ctors = set(links.__all__) - {"Link", "QUADRATURE_NODES", "custom"}
    assert ctors == set(K.MATCHING_SHAPES)
    covered = {K.link_spec(make())[0] for make, _ in LINKS.values()}
    assert covered == set(K.MATCHING_SHAPES)
    assert K.link_spec(links.custom(torch.sin, torch.cos, lambda x: -torch.cos(x))) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(LINKS))
def test_matching_fused_matches_reference(built, name, dtype):
    make, inputs = LINKS[name]
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    pred, target = inputs(67, g, dtype), inputs(67, g, dtype)
    up = torch.rand(67, generator=g, dtype=dtype) + 0.5
    link = make()
    got = _run(_matching(link), pred, target, "fused", upstream=up)
    ref = _run(_matching(link), pred, target, "reference", upstream=up)
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.dtype == b.dtype
        _close(a, b, dtype)


_JUMPS = {"staircase": (-1.0, 0.5, 2.0), "step": (0.3,), "sign": (0.0,)}


@pytest.mark.parametrize("name", list(LINKS))
def test_matching_value_is_the_integral_of_the_link(built, name):
    # An independent reference: D_H(ŝ, s) = ∫_s^ŝ [h(z) − h(s)] dz by scipy's adaptive quadrature.
    integrate = pytest.importorskip("scipy.integrate")
    make, inputs = LINKS[name]
    g = torch.Generator().manual_seed(3)
    pred, target = inputs(4, g, torch.float64), inputs(4, g, torch.float64)
    link = make()
    got = ll.matching_loss(pred, target, link, impl="fused", reduction="none")
    h = lambda z: float(link(torch.tensor([z], dtype=torch.float64)))  # noqa: E731
    for i in range(4):
        a, b = float(pred[i]), float(target[i])
        hb = h(b)
        # the jumps of the discontinuous links, for the quadrature to split at
        jumps = [z for z in _JUMPS.get(name, ()) if min(a, b) < z < max(a, b)] or None
        value, _ = integrate.quad(lambda z: h(z) - hb, b, a, points=jumps, limit=200, epsabs=1e-12, epsrel=1e-10)
        assert math.isclose(float(got[i]), value, rel_tol=1e-6, abs_tol=1e-9), (i, a, b)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matching_reductions_and_weights(built, reduction, weighted, dtype):
    g = torch.Generator().manual_seed(4)
    shape = (3, 6001)  # two threads' chunks and a vector tail
    pred, target = _real(shape, g, dtype), _real(shape, g, dtype)
    w = torch.rand(shape, generator=g, dtype=dtype) if weighted else None
    for link in (links.sinh(alpha=0.5, cap=10.0), links.huber(delta=0.5), links.piecewise_linear([-1, 1], [0, 2])):
        got = _run(_matching(link), pred, target, "fused", reduction, sample_weight=w)
        ref = _run(_matching(link), pred, target, "reference", reduction, sample_weight=w)
        assert got[0].shape == ()
        for a, b in zip(got, ref):
            _close(a, b, dtype)


@pytest.mark.parametrize("name", [n for n, (_, make) in LINKS.items() if make is _real])
def test_matching_extremes_float32(built, name):
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0, 1e4])
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4, 1e4 - 1])
    link = LINKS[name][0]()
    if name in ("exp-uncapped", "sinh-scaled"):  # no cap: e^(0.5e4) overflows on both paths
        link = link.capped(40.0)
    got = _run(_matching(link), pred, target, "fused")
    ref = _run(_matching(link), pred, target, "reference")
    for a, b in zip(got, ref):
        assert torch.isfinite(a).all(), (name, a)
        # values of size 1e8-1e25 rounded in float32 on two different paths
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", list(LINKS))
def test_matching_gradcheck_float64(built, name):
    make, inputs = LINKS[name]
    g = torch.Generator().manual_seed(5)
    pred = inputs(6, g, torch.float64).reshape(2, 3).requires_grad_(True)
    target = inputs(6, g, torch.float64).reshape(2, 3).requires_grad_(True)
    link = make()
    assert torch.autograd.gradcheck(lambda p, t: ll.matching_loss(p, t, link, impl="fused", reduction="none"), (pred, target))


def test_matching_opcheck(built):
    g = torch.Generator().manual_seed(6)
    for shape, params in (("huber", [0.5]), ("staircase", [-1.0, 1.0, 0.5, 2.0])):
        for need_p, need_t, sum_only in [(True, True, False), (True, False, True)]:
            pred = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=need_p)
            target = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=need_t)
            args = (pred, target, shape, 0.7, 0.1, 3.0, 1.5, params, need_p, need_t, sum_only)
            torch.library.opcheck(torch.ops.losslab.matching_link_fwd.default, args)


def test_matching_domain_errors_same_message(built):
    for link, pred in ((links.logit(), torch.tensor([0.5, 1.5])), (links.log(), torch.tensor([1.0, -1.0]))):
        msgs = []
        for impl in ("reference", "fused"):
            with pytest.raises(ValueError) as info:
                ll.matching_loss(pred, torch.full_like(pred, 0.5), link, impl=impl)
            msgs.append(str(info.value))
        assert msgs[0] == msgs[1] and "pred" in msgs[0]


def test_matching_fused_errors(built):
    pred, target = torch.randn(4), torch.randn(4)
    with pytest.raises(ValueError, match=r"impl='fused'.*bfloat16.*cpu"):
        ll.matching_loss(pred.bfloat16(), target.bfloat16(), links.tanh(), impl="fused")
    with pytest.raises(ValueError, match=r"impl='fused'.*float32.*cpu.*link"):
        ll.matching_loss(pred, target, links.custom(torch.atan), impl="fused")
    with pytest.raises(ValueError, match="impl must be one of"):
        ll.matching_loss(pred, target, links.tanh(), impl="triton")
    # "auto" on bfloat16 and on a custom link is the reference, not an error.
    assert torch.isfinite(ll.matching_loss(pred.bfloat16(), target.bfloat16(), links.tanh()))
    assert torch.isfinite(ll.matching_loss(pred, target, links.custom(torch.atan)))


def test_auto_uses_the_kernel(built, monkeypatch):
    calls = []
    real = K.matching_link
    monkeypatch.setattr(K, "matching_link", lambda *a, **k: calls.append(a[2][0]) or real(*a, **k))
    pred, target = torch.randn(4), torch.randn(4)
    ll.matching_loss(pred, target, links.tanh())
    ll.matching_loss(pred, target, links.tanh(), impl="reference")
    ll.matching_loss(pred, target, links.custom(torch.atan))
    assert calls == ["tanh"]


# ---------------------------------------------------------------------------------
# composite_sigmoid_loss

SCALINGS = {
    "identity": lambda: links.identity(alpha=1.5, beta=0.5),
    "exp": lambda: links.exp(alpha=0.5, beta=-1.0),
    "exp-capped-scaled": lambda: links.exp(alpha=0.5, cap=2.0).scaled(0.5),
    "anti_exp": lambda: links.anti_exp(alpha=0.8, cap=3.0),
    "sinh": lambda: links.sinh(alpha=0.5),
    "cosh": lambda: links.cosh(alpha=0.3, beta=0.2, cap=1.0),
    # other shapes as scalings (seed 000, Figure H.2)
    "tanh": lambda: links.tanh(),
    "sigmoid": lambda: links.sigmoid(alpha=1.5, beta=0.5),
    "arcsinh": lambda: links.arcsinh(alpha=2.0),
    "smelu": lambda: links.smelu(c=1.0, beta=0.3),
    "huber": lambda: links.huber(delta=0.7),
    "step": lambda: links.step(),
    "power": lambda: links.power(d=1.5).scaled(0.5),
    "sin": lambda: links.sin(alpha=0.5),
    "arctan": lambda: links.arctan(),
    "sign_log1p": lambda: links.sign_log1p(),
    "staircase": lambda: links.staircase([-1.0, 0.5], [1.0, 2.0]),
    "piecewise_linear": lambda: links.piecewise_linear([-1.0, 0.0, 2.0], [-1.0, 1.0, 1.5]),
}


def _csl(q, gamma):
    return lambda p, t, **kw: ll.composite_sigmoid_loss(p, t, q, gamma=gamma, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(SCALINGS))
@pytest.mark.parametrize("gamma", [1.0, 0.6])
def test_composite_sigmoid_matches_reference(built, name, dtype, gamma):
    g = torch.Generator().manual_seed(7)
    pred, target = _real((5, 13), g, dtype, 2.0), _real((5, 13), g, dtype, 2.0)
    up = torch.rand(5, 13, generator=g, dtype=dtype) + 0.5
    q = SCALINGS[name]()
    got = _run(_csl(q, gamma), pred, target, "fused", upstream=up)
    ref = _run(_csl(q, gamma), pred, target, "reference", upstream=up)
    for a, b in zip(got, ref):
        # float64: the reference subtracts two softplus values of size Q, the kernel does not
        _close(a, b, dtype) if dtype == torch.float32 else torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


def test_composite_sigmoid_matches_naive_loop(built):
    g = torch.Generator().manual_seed(8)
    pred, target = _real(9, g, torch.float64, 1.5), _real(9, g, torch.float64, 1.5)
    for q in (links.exp(alpha=0.5), links.sinh(alpha=1.0), links.identity(), links.cosh(alpha=0.5, cap=2.0)):
        got = ll.composite_sigmoid_loss(pred, target, q, gamma=0.8, impl="fused", reduction="none")
        torch.testing.assert_close(got, naive.composite_sigmoid_loss(pred, target, q, gamma=0.8), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_composite_sigmoid_reductions_and_weights(built, reduction, weighted, dtype):
    g = torch.Generator().manual_seed(9)
    shape = (3, 6001)
    pred, target = _real(shape, g, dtype, 2.0), _real(shape, g, dtype, 2.0)
    w = torch.rand(shape, generator=g, dtype=dtype) if weighted else None
    q = links.sinh(alpha=0.5, cap=10.0)
    got = _run(_csl(q, 0.7), pred, target, "fused", reduction, sample_weight=w)
    ref = _run(_csl(q, 0.7), pred, target, "reference", reduction, sample_weight=w)
    assert got[0].shape == ()
    for a, b in zip(got, ref):
        _close(a, b, dtype) if dtype == torch.float32 else torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("make", [lambda: links.exp(alpha=0.5, cap=20.0), lambda: links.sinh(cap=20.0),
                                  lambda: links.cosh(cap=5.0), lambda: links.anti_exp(cap=10.0), links.identity,
                                  links.tanh, lambda: links.huber(delta=2.0)])
def test_composite_sigmoid_extremes_float32(built, make):
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0])
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4])
    q = make()
    got = _run(_csl(q, 1.0), pred, target, "fused")
    ref = _run(_csl(q, 1.0), pred, target, "reference")
    for a, b in zip(got, ref):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", list(SCALINGS))
def test_composite_sigmoid_gradcheck_float64(built, name):
    g = torch.Generator().manual_seed(10)
    pred = _real((2, 3), g, torch.float64, 1.5).requires_grad_(True)
    target = _real((2, 3), g, torch.float64, 1.5).requires_grad_(True)
    q = SCALINGS[name]()
    f = lambda p, t: ll.composite_sigmoid_loss(p, t, q, gamma=0.7, impl="fused", reduction="none")  # noqa: E731
    assert torch.autograd.gradcheck(f, (pred, target))


def test_composite_sigmoid_opcheck(built):
    g = torch.Generator().manual_seed(11)
    for need_p, need_t, sum_only in [(True, True, False), (True, False, True)]:
        pred = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=need_p)
        target = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=need_t)
        args = (pred, target, "sinh", 0.7, 0.1, 3.0, 1.5, [], 0.8, need_p, need_t, sum_only)
        torch.library.opcheck(torch.ops.losslab.composite_sigmoid_fwd.default, args)


def test_composite_sigmoid_fused_errors(built):
    pred, target = torch.randn(4), torch.randn(4)
    with pytest.raises(ValueError, match=r"impl='fused'.*float16.*cpu"):
        ll.composite_sigmoid_loss(pred.half(), target.half(), links.exp(), impl="fused")
    for q in (links.custom(torch.tanh), links.log()):
        with pytest.raises(ValueError, match=r"impl='fused'.*scaling"):
            ll.composite_sigmoid_loss(pred.abs() + 1, target.abs() + 1, q, impl="fused")
    with pytest.raises(ValueError, match="impl must be one of"):
        ll.composite_sigmoid_loss(pred, target, links.exp(), impl="cuda")
    for bad in ({"gamma": 0.0}, {"reduction": "avg"}):  # one validation: same error on both paths
        msgs = []
        for impl in ("reference", "fused"):
            with pytest.raises(ValueError) as info:
                ll.composite_sigmoid_loss(pred, target, links.exp(), impl=impl, **bad)
            msgs.append(str(info.value))
        assert msgs[0] == msgs[1]
    assert "composite_sigmoid_loss" in K.available().losses


# ---------------------------------------------------------------------------------
# torch.compile: one graph across batch sizes, no graph break


@pytest.mark.parametrize("which", ["matching-huber-mean", "matching-tanh-none", "composite-sinh-mean", "composite-exp-none"])
def test_compile_fullgraph_no_recompile(built, which):
    from torch._dynamo.utils import counters

    kind, scaling, reduction = which.split("-")
    if kind == "matching":
        link = links.huber(delta=0.5) if scaling == "huber" else links.tanh(alpha=0.7)
        fn = lambda p, t: ll.matching_loss(p, t, link, impl="fused", reduction=reduction)  # noqa: E731
        ref = lambda p, t: ll.matching_loss(p, t, link, impl="reference", reduction=reduction)  # noqa: E731
    else:
        q = links.sinh(alpha=0.5) if scaling == "sinh" else links.exp(alpha=0.5)
        fn = lambda p, t: ll.composite_sigmoid_loss(p, t, q, gamma=0.8, impl="fused", reduction=reduction)  # noqa: E731
        ref = lambda p, t: ll.composite_sigmoid_loss(p, t, q, gamma=0.8, impl="reference", reduction=reduction)  # noqa: E731
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, fullgraph=True, dynamic=True, backend="aot_eager")
    g = torch.Generator().manual_seed(12)
    for B in (5, 9):
        pred = torch.randn(B, 3, generator=g, requires_grad=True)
        target = torch.randn(B, 3, generator=g, requires_grad=True)
        loss = compiled(pred, target)
        loss.sum().backward()
        p2, t2 = pred.detach().clone().requires_grad_(True), target.detach().clone().requires_grad_(True)
        expected = ref(p2, t2)
        expected.sum().backward()
        torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(pred.grad, p2.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(target.grad, t2.grad, rtol=1e-5, atol=1e-6)
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
    torch._dynamo.reset()
