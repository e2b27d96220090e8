"""Link values (seed 000, Sections 2-4): primitives, derivatives, inverses, reparametrisation, caps.

Each test asserts a mathematical identity against an independent computation:
scipy quadrature of the link, autograd of the link, the inverse composed with the link.
"""
from __future__ import annotations

import math

import pytest
import torch
from scipy.integrate import quad

from losslab import links

F64 = torch.float64


def _t(v):
    return torch.as_tensor(v, dtype=F64)


# (name, link, interval of z to test on, breakpoints of h in z where it is not smooth)
def _cases():
    return [
        ("sigmoid", links.sigmoid(alpha=1.5, beta=0.5), (-4, 4), []),
        ("identity", links.identity(alpha=2.0, beta=-1.0), (-4, 4), []),
        ("exp", links.exp(alpha=0.7, beta=0.3, cap=None), (-4, 4), []),
        ("anti_exp", links.anti_exp(alpha=0.7, beta=-0.3, cap=None), (-4, 4), []),
        ("sinh", links.sinh(alpha=0.8, beta=0.5, cap=None), (-4, 4), []),
        ("tanh", links.tanh(alpha=1.3, beta=-0.2), (-4, 4), []),
        ("cosh", links.cosh(alpha=0.9, beta=0.4, cap=None), (-4, 4), []),
        ("arcsinh", links.arcsinh(alpha=2.0, beta=1.0), (-4, 4), []),
        ("smelu", links.smelu(c=1.5, alpha=2.0, beta=0.5), (-4, 4), [0.5 - 0.75, 0.5 + 0.75]),
        ("huber", links.huber(delta=0.8, alpha=1.0, beta=1.0), (-4, 4), [0.2, 1.8]),
        ("step", links.step(alpha=2.0, beta=0.5), (-4, 4), [0.5]),
        ("sign", links.sign(alpha=1.0, beta=-1.0), (-4, 4), [-1.0]),
        ("staircase", links.staircase([-1.0, 0.5, 2.0], [1.0, 0.5, 2.0]), (-4, 4), [-1.0, 0.5, 2.0]),
        ("piecewise_linear", links.piecewise_linear([-2.0, 0.0, 1.0, 3.0], [-1.0, 0.0, 2.0, 2.5]), (-4, 4), [-2.0, 0.0, 1.0, 3.0]),
        ("logit", links.logit(alpha=0.5, beta=-1.0), (-0.95, 0.95), []),  # x = (z+1)/2 in (0, 1)
        ("power3", links.power(d=3.0, alpha=0.7, beta=0.2), (-3, 3), []),
        ("power_half", links.power(d=0.5, alpha=1.0, beta=0.0), (0.05, 3), []),
        ("custom", links.custom(lambda x: x**3 + x, lambda x: 3 * x**2 + 1, lambda x: x**4 / 4 + x**2 / 2, alpha=1.5, beta=0.5), (-3, 3), []),
        ("exp_capped", links.exp(alpha=1.0, beta=0.0, cap=2.0), (-4, 4), [-2.0, 2.0]),
        ("sinh_capped", links.sinh(alpha=2.0, beta=0.5, cap=3.0), (-4, 4), [0.5 - 1.5, 0.5 + 1.5]),
        ("scaled_exp", links.exp(alpha=0.5, cap=None).scaled(0.5), (-4, 4), []),
    ]


CASES = _cases()
IDS = [c[0] for c in CASES]


def _h_float(link, z):
    return float(link(_t(z)))


def _quad(link, a, b, breaks):
    pts = sorted({a, b, *[p for p in breaks if min(a, b) < p < max(a, b)]})
    total = sum(quad(lambda t: _h_float(link, t), lo, hi, epsabs=1e-12, epsrel=1e-12, limit=200)[0] for lo, hi in zip(pts, pts[1:]))
    return total if b >= a else -total


@pytest.mark.parametrize("name,link,interval,breaks", CASES, ids=IDS)
def test_primitive_matches_quadrature_of_the_link(name, link, interval, breaks):
    # H(b) - H(a) = ∫_a^b h(z) dz: the closed-form primitive is the link's antiderivative.
    lo, hi = interval
    pairs = [(lo, hi), (lo + 0.3 * (hi - lo), lo + 0.8 * (hi - lo)), (hi - 0.1, lo + 0.05)]
    for a, b in pairs:
        expected = _quad(link, a, b, breaks)
        got = float(link.primitive(_t(b)) - link.primitive(_t(a)))
        assert got == pytest.approx(expected, rel=1e-8, abs=1e-9), (name, a, b)


@pytest.mark.parametrize("name,link,interval,breaks", CASES, ids=IDS)
def test_derivative_matches_autograd_of_the_link(name, link, interval, breaks):
    lo, hi = interval
    z = torch.linspace(lo, hi, 41, dtype=F64)
    # stay off the kinks/jumps, where neither side defines a derivative
    keep = torch.ones_like(z, dtype=torch.bool)
    for b in breaks:
        keep &= (z - b).abs() > 1e-3
    z = z[keep].clone().requires_grad_(True)
    out = link(z)
    if out.requires_grad:
        (auto,) = torch.autograd.grad(out.sum(), z)
    else:  # a piecewise-constant link (step, staircase): derivative 0 a.e.
        auto = torch.zeros_like(z)
    torch.testing.assert_close(link.derivative(z.detach()), auto, rtol=1e-10, atol=1e-12)


INVERTIBLE = {
    "sigmoid": (-4, 4),
    "identity": (-4, 4),
    "exp": (-4, 4),
    "anti_exp": (-4, 4),
    "sinh": (-4, 4),
    "tanh": (-3, 3),
    "arcsinh": (-4, 4),
    "smelu": (0.5 - 0.7, 0.5 + 0.7),  # inside the linear segment
    "huber": (0.3, 1.7),
    "logit": (-0.95, 0.95),
    "power3": (-3, 3),
    "power_half": (0.05, 3),
    "scaled_exp": (-4, 4),
}


@pytest.mark.parametrize("name", sorted(INVERTIBLE))
def test_inverse_round_trip(name):
    link = dict((c[0], c[1]) for c in CASES)[name]
    lo, hi = INVERTIBLE[name]
    z = torch.linspace(lo, hi, 33, dtype=F64)
    torch.testing.assert_close(link.inverse(link(z)), z, rtol=1e-9, atol=1e-9)
    y = link(z)
    torch.testing.assert_close(link(link.inverse(y)), y, rtol=1e-9, atol=1e-9)


def test_links_without_inverse_say_so():
    for link in (links.step(), links.cosh(), links.staircase([0.0])):
        with pytest.raises(NotImplementedError, match=link.name):
            link.inverse(torch.zeros(1, dtype=F64))


@pytest.mark.parametrize(
    "factory",
    [links.sigmoid, links.identity, links.exp, links.anti_exp, links.sinh, links.tanh, links.cosh, links.arcsinh,
     lambda **kw: links.smelu(c=0.7, **kw), lambda **kw: links.power(d=2.5, **kw)],
    ids=["sigmoid", "identity", "exp", "anti_exp", "sinh", "tanh", "cosh", "arcsinh", "smelu", "power"],
)
def test_reparametrisation_x_equals_alpha_z_minus_beta(factory):
    # h(z) = g(x), h'(z) = α g'(x), H(z) = G(x)/α with x = α(z - β) (eq. 3-7).
    alpha, beta = 1.7, -0.6
    base, shifted = factory(), factory(alpha=alpha, beta=beta)
    z = torch.linspace(-2.5, 2.5, 21, dtype=F64)
    x = alpha * (z - beta)
    torch.testing.assert_close(shifted(z), base(x))
    torch.testing.assert_close(shifted.derivative(z), alpha * base.derivative(x))
    torch.testing.assert_close(shifted.primitive(z), base.primitive(x) / alpha)
    # reparametrize() gives the same link
    again = base.reparametrize(alpha=alpha, beta=beta)
    torch.testing.assert_close(again(z), shifted(z))


@pytest.mark.parametrize("link", [links.sinh(alpha=2.0, beta=0.5, cap=3.0), links.exp(alpha=1.0, cap=2.0), links.anti_exp(alpha=0.5, beta=1.0, cap=1.5)], ids=["sinh", "exp", "anti_exp"])
def test_cap_constant_beyond_zero_derivative_linear_primitive(link):
    # z where |x| = |α(z-β)| > cap, on each side
    z_lo_edge = link.beta - link.cap / link.alpha
    z_hi_edge = link.beta + link.cap / link.alpha
    above = torch.linspace(z_hi_edge + 0.01, z_hi_edge + 50.0, 25, dtype=F64)
    below = torch.linspace(z_lo_edge - 50.0, z_lo_edge - 0.01, 25, dtype=F64)
    for side, edge in ((above, z_hi_edge), (below, z_lo_edge)):
        h = link(side)
        torch.testing.assert_close(h, torch.full_like(h, float(link(_t(edge)))))  # constant = value at the cap
        assert (link.derivative(side) == 0).all()
        H = link.primitive(side)
        torch.testing.assert_close(H.diff(2), torch.zeros(len(side) - 2, dtype=F64), atol=1e-9 * float(H.abs().max()), rtol=0)
    # H' = h everywhere, across the cap edges too (central differences in float64)
    z = torch.linspace(z_lo_edge - 3, z_hi_edge + 3, 301, dtype=F64)
    eps = 1e-6
    fd = (link.primitive(z + eps) - link.primitive(z - eps)) / (2 * eps)
    torch.testing.assert_close(fd, link(z), rtol=1e-6, atol=1e-6)
    # continuity of H at the edges
    for edge in (z_lo_edge, z_hi_edge):
        torch.testing.assert_close(link.primitive(_t(edge + 1e-9)), link.primitive(_t(edge - 1e-9)), rtol=1e-8, atol=1e-8)


def test_capped_bregman_agrees_with_quadrature_beyond_the_cap():
    link = links.exp(alpha=1.0, cap=2.0)
    for zh, z in [(5.0, -4.0), (-6.0, 3.0), (1.0, 10.0), (2.5, 2.1)]:
        expected = _quad(link, z, zh, [-2.0, 2.0]) - (zh - z) * _h_float(link, z)
        assert float(link.bregman(_t(zh), _t(z))) == pytest.approx(expected, rel=1e-9, abs=1e-10)


def test_custom_without_primitive_uses_quadrature_matching_closed_form():
    # h(x) = asinh(x) has H = x asinh x - sqrt(1 + x²); give only h and compare.
    closed = links.arcsinh(alpha=1.3, beta=0.4)
    bare = links.custom(torch.asinh, alpha=1.3, beta=0.4)
    assert not bare.has_primitive
    z = torch.linspace(-6, 6, 25, dtype=F64)
    # primitives agree up to the additive constant G(0) (quadrature integrates from x = 0)
    diff = bare.primitive(z) - closed.primitive(z)
    torch.testing.assert_close(diff, torch.full_like(diff, float(diff[0])), rtol=0, atol=1e-10)
    zh = torch.linspace(-10, 10, 25, dtype=F64).flip(0)
    # 48-node Gauss-Legendre over |x̂ - x| up to 26 on arcsinh: ~1e-7 relative
    torch.testing.assert_close(bare.bregman(zh, z), closed.bregman(zh, z), rtol=1e-6, atol=1e-10)
    near = z + 0.5
    torch.testing.assert_close(bare.bregman(near, z), closed.bregman(near, z), rtol=1e-10, atol=1e-12)
    # derivative from autograd of f
    torch.testing.assert_close(bare.derivative(z), closed.derivative(z), rtol=1e-12, atol=1e-12)
    # polynomial: Gauss-Legendre is exact
    poly = links.custom(lambda x: x**3 - 2 * x)
    a, b = _t(2.5), _t(-1.5)
    exact = (b**4 / 4 - b**2) - (a**4 / 4 - a**2) - (b - a) * (a**3 - 2 * a)
    torch.testing.assert_close(poly.bregman(b, a), exact, rtol=1e-12, atol=1e-12)


def test_divergence_forms_have_no_overflow_at_capped_extremes_float32():
    # e^x (expm1(d) - d) with x = -50, d = 100 overflows; the stable form must not.
    for link in (links.exp(), links.sinh(), links.anti_exp(), links.cosh()):
        zh = torch.tensor([1e4, -1e4, 1e4, 0.5], dtype=torch.float32)
        z = torch.tensor([-1e4, 1e4, 1e4, 0.25], dtype=torch.float32)
        out = link.bregman(zh, z)
        assert torch.isfinite(out).all(), (link, out)
        ref = link.bregman(zh.double(), z.double())
        torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make,arg,value",
    [
        (lambda v: links.sigmoid(alpha=v), "alpha", 0.0),
        (lambda v: links.sigmoid(alpha=v), "alpha", -1.0),
        (lambda v: links.exp(alpha=v), "alpha", float("nan")),
        (lambda v: links.exp(alpha=v), "alpha", float("inf")),
        (lambda v: links.sinh(beta=v), "beta", float("nan")),
        (lambda v: links.sinh(beta=v), "beta", float("-inf")),
        (lambda v: links.exp(cap=v), "cap", float("nan")),
        (lambda v: links.exp(cap=v), "cap", float("inf")),
        (lambda v: links.exp(cap=v), "cap", -2.0),
        (lambda v: links.smelu(c=v), "c", 0.0),
        (lambda v: links.huber(delta=v), "delta", float("nan")),
        (lambda v: links.power(d=v), "d", -1.0),
        (lambda v: links.sigmoid().scaled(v), "c", 0.0),
        (lambda v: links.identity().reparametrize(alpha=v), "alpha", -3.0),
    ],
)
def test_bad_hyper_parameters_raise_naming_argument_and_value(make, arg, value):
    with pytest.raises(ValueError, match=rf"{arg}.*{value!r}" if not math.isnan(value) else rf"{arg}.*nan"):
        make(value)


def test_logit_link_outside_unit_interval_raises_with_value():
    h = links.logit()
    for bad in (1.5, -0.2, 0.0, 1.0):
        with pytest.raises(ValueError, match=rf"logit.*\(0\.0, 1\.0\).*{bad}"):
            h(torch.tensor([0.5, bad], dtype=F64))
    with pytest.raises(ValueError, match="logit"):
        h.derivative(torch.tensor([2.0], dtype=F64))


def test_non_callable_custom_raises_type_error():
    with pytest.raises(TypeError, match="f must be callable"):
        links.custom(3.0)
    with pytest.raises(TypeError, match="derivative must be callable"):
        links.custom(torch.sin, derivative="cos")


def test_piecewise_constructor_validation():
    with pytest.raises(ValueError, match="thresholds must be strictly increasing"):
        links.staircase([1.0, 0.0])
    with pytest.raises(ValueError, match="heights must be non-negative"):
        links.staircase([0.0, 1.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="knots must be strictly increasing"):
        links.piecewise_linear([0.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"knots\[1\].*nan"):
        links.piecewise_linear([0.0, float("nan")], [0.0, 1.0])


# ---------------------------------------------------------------------------------
# The other link shapes of Table H.1 (seed 000, Appendix H.1): sin, arctan, arcsin,
# arctanh, tan, sign·log1p, −log(1−z), log z. Each against autograd (h' and H' = h),
# scipy quadrature, its inverse, and the matching loss it defines (eq. 2).

import losslab as ll  # noqa: E402

_SIN_EDGE = math.pi / 2 / 1.3  # |x| = π/2 for alpha = 1.3


# (name, link, interval of z inside the domain, breakpoints, interval where the inverse holds)
TABLE_H1 = [
    ("sin", links.sin(alpha=1.3, beta=0.2), (-4, 4), [0.2 - _SIN_EDGE, 0.2 + _SIN_EDGE], (0.2 - 0.95 * _SIN_EDGE, 0.2 + 0.95 * _SIN_EDGE)),
    ("sin_uncapped", links.sin(alpha=0.8, beta=-0.3, cap=None), (-4, 4), [], (-0.3 - 1.9, -0.3 + 1.9)),
    ("arctan", links.arctan(alpha=1.5, beta=0.5), (-4, 4), [], (-4, 4)),
    ("arcsin", links.arcsin(alpha=0.5, beta=0.2), (-1.7, 2.1), [], (-1.7, 2.1)),  # x in (-1, 1): z in (-1.8, 2.2)
    ("arctanh", links.arctanh(alpha=0.4, beta=-0.5), (-2.9, 1.9), [], (-2.9, 1.9)),  # z in (-3, 2)
    ("tan", links.tan(alpha=0.5, beta=0.3), (-2.7, 3.3), [], (-2.7, 3.3)),  # z in 0.3 ± π
    ("sign_log1p", links.sign_log1p(alpha=1.5, beta=0.5), (-4, 4), [0.5], (-4, 4)),
    ("neg_log1m", links.neg_log1m(alpha=0.5, beta=-1.0), (-4, 0.9), [], (-4, 0.9)),  # x < 1: z < 1
    ("log", links.log(alpha=2.0, beta=-1.0), (-0.95, 4), [], (-0.95, 4)),  # x > 0: z > -1
]
H1_IDS = [c[0] for c in TABLE_H1]


def _grid_off(interval, breaks, n=41):
    z = torch.linspace(*interval, n, dtype=F64)
    keep = torch.ones_like(z, dtype=torch.bool)
    for b in breaks:
        keep &= (z - b).abs() > 1e-3
    return z[keep]


def test_every_table_h1_shape_has_a_constructor():
    for name in ("sin", "arctan", "arcsin", "arctanh", "tan", "sign_log1p", "neg_log1m", "log"):
        assert name in links.__all__ and isinstance(getattr(links, name)(), links.Link)
    assert {c[0].split("_uncapped")[0] for c in TABLE_H1} >= {"sin", "arctan", "arcsin", "arctanh", "tan", "sign_log1p", "neg_log1m", "log"}


@pytest.mark.parametrize("name,link,interval,breaks,inv", TABLE_H1, ids=H1_IDS)
def test_h1_derivative_and_primitive_by_autograd(name, link, interval, breaks, inv):
    z = _grid_off(interval, breaks).requires_grad_(True)
    (dh,) = torch.autograd.grad(link(z).sum(), z)
    torch.testing.assert_close(link.derivative(z.detach()), dh, rtol=1e-10, atol=1e-12)  # f' = df/dz
    (dH,) = torch.autograd.grad(link.primitive(z).sum(), z)
    torch.testing.assert_close(dH, link(z.detach()), rtol=1e-10, atol=1e-12)  # F' = f
    assert link.has_primitive


@pytest.mark.parametrize("name,link,interval,breaks,inv", TABLE_H1, ids=H1_IDS)
def test_h1_primitive_matches_quadrature(name, link, interval, breaks, inv):
    lo, hi = interval
    for a, b in [(lo, hi), (lo + 0.3 * (hi - lo), lo + 0.8 * (hi - lo)), (hi - 0.1, lo + 0.05)]:
        got = float(link.primitive(_t(b)) - link.primitive(_t(a)))
        assert got == pytest.approx(_quad(link, a, b, breaks), rel=1e-8, abs=1e-9), (name, a, b)


@pytest.mark.parametrize("name,link,interval,breaks,inv", TABLE_H1, ids=H1_IDS)
def test_h1_inverse_round_trip(name, link, interval, breaks, inv):
    z = torch.linspace(*inv, 33, dtype=F64)
    torch.testing.assert_close(link.inverse(link(z)), z, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name,link,interval,breaks,inv", TABLE_H1, ids=H1_IDS)
def test_h1_matching_loss_nonnegative_zero_at_target_and_gradcheck(name, link, interval, breaks, inv):
    z = torch.linspace(*interval, 25, dtype=F64)
    s_hat, s = z.repeat_interleave(25), z.repeat(25)
    loss = ll.matching_loss(s_hat, s, link, reduction="none")
    if link.monotone:  # a non-decreasing link gives a Bregman divergence >= 0 (eq. 2)
        assert (loss >= -1e-12).all(), (name, float(loss.min()))
    torch.testing.assert_close(ll.matching_loss(z, z, link, reduction="none"), torch.zeros_like(z), rtol=0, atol=1e-12)
    # closed form against quadrature of h(t) − h(s) for a few pairs
    for a, b in [(interval[0] + 0.1, interval[1] - 0.1), (interval[1] - 0.2, interval[0] + 0.3)]:
        expected = _quad(link, a, b, breaks) - (b - a) * _h_float(link, a)
        assert float(link.bregman(_t(b), _t(a))) == pytest.approx(expected, rel=1e-8, abs=1e-10), name
    g = torch.Generator().manual_seed(0)
    lo, hi = interval
    pred = (lo + (hi - lo) * torch.rand(6, generator=g, dtype=F64)).requires_grad_(True)
    target = (lo + (hi - lo) * torch.rand(6, generator=g, dtype=F64)).requires_grad_(True)
    for b in breaks:  # keep finite differences off the kinks
        assert ((pred - b).abs() > 1e-3).all() and ((target - b).abs() > 1e-3).all()
    assert torch.autograd.gradcheck(lambda p, t: ll.matching_loss(p, t, link, reduction="sum"), (pred, target))


@pytest.mark.parametrize(
    "link,good,bad,interval",
    [
        (links.arcsin(), 0.25, 1.0, r"\(-1\.0, 1\.0\)"),
        (links.arcsin(alpha=0.5), 0.25, -2.5, r"\(-1\.0, 1\.0\)"),
        (links.arctanh(), 0.25, -1.0, r"\(-1\.0, 1\.0\)"),
        (links.tan(), 0.25, 2.0, r"\(-1\.5707"),
        (links.neg_log1m(), 0.25, 1.0, r"\(-inf, 1\.0\)"),
        (links.log(), 2.0, 0.0, r"\(0\.0, inf\)"),
        (links.log(beta=1.0), 2.0, 0.5, r"\(0\.0, inf\)"),
    ],
    ids=["arcsin", "arcsin_alpha", "arctanh", "tan", "neg_log1m", "log", "log_beta"],
)
def test_h1_outside_domain_raises_with_link_interval_and_value(link, good, bad, interval):
    x = torch.tensor([good, bad], dtype=F64)
    bad_x = link.alpha * (bad - link.beta)  # the message reports x = α(z − β)
    for call in (link, link.derivative, link.primitive):
        with pytest.raises(ValueError, match=rf"{link.name} link.*{interval}.*{bad_x!r}"):
            call(x)
    with pytest.raises(ValueError, match=rf"{link.name} link.*{interval}"):
        ll.matching_loss(x, torch.full_like(x, good), link)


def test_sin_is_increasing_only_on_half_period_and_capped_there_by_default():
    capped, free = links.sin(alpha=2.0, beta=0.5), links.sin(alpha=2.0, beta=0.5, cap=None)
    edge = math.pi / 2 / 2.0  # |z - β| = π/(2α)
    inside = torch.linspace(0.5 - edge, 0.5 + edge, 51, dtype=F64)
    assert (capped.derivative(inside[1:-1]) > 0).all() and (free.derivative(inside[1:-1]) > 0).all()
    outside = torch.linspace(0.5 + edge + 0.05, 0.5 + 3 * edge, 20, dtype=F64)
    assert (free.derivative(outside) < 0).all() and not free.monotone  # the periodic sine turns down
    torch.testing.assert_close(capped(outside), torch.ones_like(outside))  # the cap holds it at 1
    assert (capped.derivative(outside) == 0).all() and capped.monotone
    assert not links.sin(cap=2.0).monotone
    z = torch.linspace(-6, 6, 121, dtype=F64)
    assert ll.analysis.check_convexity(capped, "matching", (-6.0, 6.0)).convex
    assert not ll.analysis.check_convexity(free, "matching", (-6.0, 6.0)).convex
    assert (ll.matching_loss(z, torch.zeros_like(z), capped, reduction="none") >= 0).all()
