"""Analysis of selective matching losses (seed 000): sensitivity, convexity scans,
BUST/BLUST (Theorem 1) and proper predictions (Proposition 1).

Findings of the convexity scan recorded here (see test_corollary_G4_threshold):

* Cor. G.4 (composite Sigmoid with Q = sinh(x), q = α cosh(x)) is convex for every
  γ ≤ 1/√2 as proven, and the scan finds it stays convex up to γ* ≈ 1.3253 (the
  exact threshold of condition (G.2), min over x < 0 of
  sinh x + σ(-sinh(x)/γ) cosh²(x)/γ = 0, at x ≈ -0.76); it is NOT convex beyond
  that on any domain reaching that x, e.g. [-6, 6] (α = 1, β = 0). The bound
  1/√2 of the corollary is sufficient, not tight.
* The same scaling in a composite *Softmax* (K ≥ 2) is never convex on a domain with
  x < 0, whatever γ: along the all-ones direction H(z·1) = Q(z) + γ log K, whose
  curvature q'(z) = α² sinh(x) is negative. Cor. G.4 is a scalar result only.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

import losslab as ll
from losslab import links
from losslab.analysis import (
    ConvexityReport,
    blust,
    bust,
    check_convexity,
    composite_sensitivity,
    proper_prediction,
    sensitivity,
)

F64 = torch.float64


# ---------------------------------------------------------------------------------
# Sensitivity (B.1, C.6)


@pytest.mark.parametrize(
    "scaling,gamma",
    [(links.exp(alpha=0.5), 1.0), (links.tanh(), 0.5), (links.cosh().scaled(1.0), 0.7), (links.sigmoid(beta=1.0), 2.0)],
    ids=["exp", "tanh", "cosh", "sigmoid"],
)
def test_composite_sigmoid_sensitivity_is_B1_and_the_derivative_of_the_link(scaling, gamma):
    z = torch.linspace(-4, 4, 33, dtype=F64, requires_grad=True)
    h = ll.composite_sigmoid_link(scaling, gamma)
    # autograd of h(z) = q(z) σ(Q(z)/γ)
    (auto,) = torch.autograd.grad((scaling(z) * torch.sigmoid(scaling.primitive(z) / gamma)).sum(), z)
    z = z.detach()
    p = torch.sigmoid(scaling.primitive(z) / gamma)
    b1 = p * (scaling.derivative(z) + (1 - p) * scaling(z) ** 2 / gamma)
    torch.testing.assert_close(sensitivity(h, z), auto)
    torch.testing.assert_close(sensitivity(h, z), b1)


def _log_partition(q, gamma):
    return lambda z: gamma * torch.logsumexp(q.primitive(z) / gamma, -1)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
def test_composite_sensitivity_is_the_hessian_diagonal(gamma):
    q = links.sinh(alpha=0.7, beta=0.3)
    z = torch.tensor([1.2, -0.4, 0.3, 2.0], dtype=F64)
    hess = torch.autograd.functional.hessian(_log_partition(q, gamma), z)
    torch.testing.assert_close(composite_sensitivity(z, q, gamma=gamma), torch.diagonal(hess))
    # over a batch and along dim=0
    zz = torch.stack([z, z.flip(0)], 1)  # [K, 2]
    out = composite_sensitivity(zz, q, gamma=gamma, dim=0)
    torch.testing.assert_close(out[:, 0], torch.diagonal(hess))


def test_sensitivity_input_validation():
    with pytest.raises(TypeError, match="link must be a losslab.links.Link"):
        sensitivity(torch.sigmoid, torch.zeros(1))
    with pytest.raises(TypeError, match="z must be a floating-point tensor, got dtype torch.int64"):
        sensitivity(links.sigmoid(), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="class dimension"):
        composite_sensitivity(torch.tensor(1.0), links.exp())
    with pytest.raises(ValueError, match="dim=3 is out of range"):
        composite_sensitivity(torch.zeros(2, 3), links.exp(), dim=3)


# ---------------------------------------------------------------------------------
# Convexity (Thm 3-4, Cor. G.1-G.4, G.3)

# Table H.2 (and Table 1): the scalings that give the four multi-class sensitivities,
# all non-decreasing, hence convex composite Softmax losses by Theorem 4.
TABLE_H2 = {
    "exp": links.exp(),
    "exp_scaled_C11": links.exp(alpha=0.8, beta=-0.5).scaled(0.8),
    "sinh": links.sinh(),
    "sinh_left_shifted": links.sinh(beta=-1.0),
    "sinh_right_shifted": links.sinh(beta=1.0),
    "sigmoid_right_shifted": links.sigmoid(beta=1.0),
    "sigmoid_C13": links.sigmoid(alpha=1.5, beta=-0.5).scaled(1.5),
    "anti_exp": links.anti_exp(),
    "tanh_shifted": links.tanh(beta=1.0),
    "identity": links.identity(),
    "smelu": links.smelu(c=1.0),
    "huber": links.huber(),
}


@pytest.mark.parametrize("name", sorted(TABLE_H2))
def test_table_H2_scalings_are_convex_for_composite_softmax_and_sigmoid(name):
    q = TABLE_H2[name]
    for gamma in (0.3, 1.0, 4.0):  # Thm 3-4 hold for every γ > 0
        r = check_convexity(q, "composite_softmax", (-4.0, 4.0), gamma=gamma, points=400)
        assert r.convex and r.sufficient, str(r)
        assert r.min_curvature >= -1e-9
    r = check_convexity(q, "composite_sigmoid", (-4.0, 4.0))
    assert r.convex and r.sufficient, str(r)


def test_softmax_scan_agrees_with_the_autograd_hessian():
    # the scan's least eigenvalue has the sign of the true Hessian's (congruence by diag(√p))
    for q, gamma, expect in ((links.exp(), 1.0, True), (links.cosh().scaled(1.0), 0.5, False), (links.tanh(beta=-1).scaled(1.0), 1.0, True)):
        r = check_convexity(q, "composite_softmax", (-3.0, 3.0), gamma=gamma, points=300)
        assert r.convex is expect, str(r)
        hess = torch.autograd.functional.hessian(_log_partition(q, gamma), torch.tensor(r.worst_z, dtype=F64))
        least = float(torch.linalg.eigvalsh(hess)[0])
        assert (least >= -1e-12) is expect
        assert np.sign(least) == np.sign(r.min_curvature) or abs(least) < 1e-12


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 1.0), (2.0, -0.5)])
def test_corollary_G4_convex_for_gamma_up_to_one_over_sqrt2(alpha, beta):
    q = links.cosh(alpha=alpha, beta=beta).scaled(alpha)  # q = α cosh(x), Q = sinh(x)
    for gamma in (0.05, 0.3, 0.5, 1 / math.sqrt(2)):
        r = check_convexity(q, "composite_sigmoid", (-6.0, 6.0), gamma=gamma)
        assert r.convex, str(r)
        assert not r.sufficient  # q = cosh is not monotone: Thm 3 does not apply, Cor. G.4 does
        # min_curvature is the left side of (G.2) at worst_z
        x = alpha * (r.worst_z - beta)
        g2 = alpha**2 * (math.sinh(x) + math.cosh(x) ** 2 / (gamma * (1 + math.exp(math.sinh(x) / gamma))))
        assert r.min_curvature == pytest.approx(g2, rel=1e-9, abs=1e-12)


def _g2_threshold_numpy():
    # independent: bisection on γ of min_{x<0} [sinh x + σ(-sinh(x)/γ) cosh² x / γ] >= 0
    x = np.linspace(-6.0, 0.0, 120001)

    def ok(g):
        return (np.sinh(x) + np.cosh(x) ** 2 / (g * (1 + np.exp(np.sinh(x) / g)))).min() >= 0

    lo, hi = 0.5, 5.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def test_corollary_G4_threshold_beyond_one_over_sqrt2():
    """Finding: with Q = sinh the composite-Sigmoid loss stays convex up to γ* ≈ 1.3253.

    On [-6, 6] (α = 1, β = 0) the scan is convex for γ ≤ 1.325 and not for γ ≥ 1.326;
    the first failure is at z ≈ -0.76 (x < 0, where q = cosh decreases), matching the exact
    threshold of (G.2) from an independent numpy bisection. Cor. G.4's 1/√2 is not tight.
    """
    q = links.cosh().scaled(1.0)
    gstar = _g2_threshold_numpy()
    assert 1.325 < gstar < 1.326
    assert check_convexity(q, "composite_sigmoid", (-6.0, 6.0), gamma=1.0).convex
    assert check_convexity(q, "composite_sigmoid", (-6.0, 6.0), gamma=gstar - 1e-3).convex
    r = check_convexity(q, "composite_sigmoid", (-6.0, 6.0), gamma=gstar + 1e-3)
    assert not r.convex and -0.9 < r.worst_z < -0.6, str(r)
    r = check_convexity(q, "composite_sigmoid", (-6.0, 6.0), gamma=3.0)
    assert not r.convex and r.min_curvature < 0
    # a domain that avoids the dip (x >= 0) is convex for any γ: q' = sinh x >= 0 there
    assert check_convexity(q, "composite_sigmoid", (0.0, 6.0), gamma=50.0).convex
    # the tail curvature (~e^{2|x|}) must not mask the dip on a wide domain
    assert not check_convexity(q, "composite_sigmoid", (-20.0, 20.0), gamma=2.0).convex
    assert check_convexity(q, "composite_sigmoid", (-20.0, 20.0), gamma=1.3).convex


def test_cosh_scaling_is_never_convex_for_composite_softmax():
    # H(z·1) = Q(z) + γ log K, so along the all-ones direction 1ᵀ∇²H1 = Q''(z) = q'(z) = α² sinh(x) < 0 for x < 0.
    q = links.cosh().scaled(1.0)
    for gamma in (0.05, 0.5, 1 / math.sqrt(2)):
        r = check_convexity(q, "composite_softmax", (-6.0, 6.0), gamma=gamma, points=300)
        assert not r.convex, str(r)
    z = torch.full((3,), -1.0, dtype=F64)
    hess = torch.autograd.functional.hessian(_log_partition(q, 0.5), z)
    ones = torch.ones(3, dtype=F64)
    torch.testing.assert_close(ones @ hess @ ones, torch.sinh(torch.tensor(-1.0, dtype=F64)))


def _from_transform(name, Q, q, dq):
    return links.custom(q, dq, Q, name=name, monotone=False)


# G.3: score transforms f whose composite Sigmoid link has decreasing regions (γ = 1).
# Each f is given through Q = log f, q = f'/f, q' (closed forms).
INVALID_G3 = {
    "abs_power_d1": (_from_transform("|z|", lambda z: torch.log(z.abs()), lambda z: 1 / z, lambda z: -1 / z**2), (0.05, 5.0)),
    "abs_power_d2": (_from_transform("|z|^2", lambda z: 2 * torch.log(z.abs()), lambda z: 2 / z, lambda z: -2 / z**2), (-5.0, -0.05)),
    "exp_sigmoid": (
        _from_transform("e^σ", torch.sigmoid, lambda z: torch.sigmoid(z) * torch.sigmoid(-z),
                        lambda z: torch.sigmoid(z) * torch.sigmoid(-z) * (1 - 2 * torch.sigmoid(z))),
        (-6.0, 6.0),
    ),
    "exp_tanh": (
        _from_transform("e^tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2, lambda z: -2 * torch.tanh(z) * (1 - torch.tanh(z) ** 2)),
        (-6.0, 6.0),
    ),
    "softplus": (
        _from_transform(
            "softplus",
            lambda z: torch.log(torch.nn.functional.softplus(z)),
            lambda z: torch.sigmoid(z) / torch.nn.functional.softplus(z),
            lambda z: (torch.sigmoid(z) * torch.sigmoid(-z) * torch.nn.functional.softplus(z) - torch.sigmoid(z) ** 2)
            / torch.nn.functional.softplus(z) ** 2,
        ),
        (-6.0, 6.0),
    ),
    "sigmoid": (_from_transform("σ", torch.nn.functional.logsigmoid, lambda z: torch.sigmoid(-z), lambda z: -torch.sigmoid(z) * torch.sigmoid(-z)), (-6.0, 6.0)),
    "sinh_abs": (
        _from_transform("sinh|z|", lambda z: torch.log(torch.sinh(z.abs())), lambda z: torch.sign(z) / torch.tanh(z.abs()), lambda z: -1 / torch.sinh(z) ** 2),
        (0.02, 4.0),
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID_G3))
def test_invalid_transforms_of_G3_are_flagged_non_convex(name):
    q, domain = INVALID_G3[name]
    # the closed-form q' matches autograd of q (so the transform is what G.3 names)
    z = torch.linspace(domain[0] + 0.01, domain[1] - 0.01, 17, dtype=F64, requires_grad=True)
    (auto,) = torch.autograd.grad(q(z).sum(), z)
    torch.testing.assert_close(q.derivative(z.detach()), auto)
    r = check_convexity(q, "composite_sigmoid", domain, gamma=1.0)
    assert not r.convex and not r.sufficient and r.min_curvature < 0, str(r)
    # and the composite-Sigmoid link really decreases around worst_z (Cor. G.1's "vice versa")
    h = ll.composite_sigmoid_link(q, 1.0)
    w = torch.tensor([r.worst_z - 1e-3, r.worst_z + 1e-3], dtype=F64)
    w = w.clamp(domain[0], domain[1])
    hv = h(w)
    assert float(hv[1]) < float(hv[0])


def test_matching_kind_checks_the_link_itself():
    assert check_convexity(links.sigmoid(beta=2.0), "matching", (-5, 5)).convex
    assert check_convexity(links.staircase([-1.0, 1.0]), "matching", (-5, 5)).convex
    r = check_convexity(links.cosh(), "matching", (-3, 3))  # cosh decreases for z < 0
    assert not r.convex and not r.sufficient and r.worst_z == pytest.approx(-3.0)
    assert r.min_curvature == pytest.approx(math.sinh(-3.0), rel=1e-9)
    bumpy = links.piecewise_linear([-1.0, 0.0, 1.0], [0.0, 1.0, 0.5])
    r = check_convexity(bumpy, "matching", (-2, 2))
    assert not r.convex and 0.0 < r.worst_z < 1.0
    logit = links.logit()
    assert check_convexity(logit, "matching", (0.01, 0.99)).convex
    with pytest.raises(ValueError, match="logit"):
        check_convexity(logit, "matching", (-0.5, 0.5))


def test_convexity_report_is_readable_and_frozen():
    r = check_convexity(links.cosh().scaled(1.0), "composite_sigmoid", (-6, 6), gamma=2.0)
    assert isinstance(r, ConvexityReport)
    text = str(r)
    assert "NOT convex" in text and "gamma=2" in text and "fails" in text and "min curvature" in text
    assert "convex" in str(check_convexity(links.exp(), "composite_softmax", (-2, 2), points=64))
    with pytest.raises(Exception):
        r.convex = True  # frozen


@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        (dict(kind="softmax"), ValueError, "kind must be one of .* got 'softmax'"),
        (dict(domain=(1.0, 1.0)), ValueError, r"domain must satisfy low < high.*\(1\.0, 1\.0\)"),
        (dict(domain=(2.0, -2.0)), ValueError, r"domain must satisfy low < high.*\(2\.0, -2\.0\)"),
        (dict(domain=(0.0, float("inf"))), ValueError, r"domain\[1\] must be finite, got inf"),
        (dict(domain=(float("nan"), 1.0)), ValueError, r"domain\[0\] must be finite, got nan"),
        (dict(domain=(1.0,)), ValueError, r"domain must be a \(low, high\) pair, got \(1\.0,\)"),
        (dict(gamma=0.0), ValueError, "gamma must be > 0, got 0.0"),
        (dict(gamma=-1.0), ValueError, r"gamma must be > 0, got -1\.0"),
        (dict(gamma=float("nan")), ValueError, "gamma must be finite, got nan"),
        (dict(points=3), ValueError, "points must be an int >= 16, got 3"),
        (dict(num_classes=1), ValueError, "num_classes must be an int >= 2, got 1"),
        (dict(link_or_scaling="exp"), TypeError, "link_or_scaling must be a losslab.links.Link.*str"),
    ],
)
def test_check_convexity_validation(kwargs, exc, pattern):
    args = dict(link_or_scaling=links.exp(), kind="composite_softmax", domain=(-1.0, 1.0))
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        check_convexity(**args)


# ---------------------------------------------------------------------------------
# BUST / BLUST (Theorem 1)


def _bust_from_eq12(link, w_u, d, domain, tau=1e-5):
    # Solve eq. (12) for the optimal offset δ̂ (uniform scores, bias d on an interval of
    # length τ around w_u), with the primitive H; BUST = δ̂/τ as τ → 0 (Definition 1).
    S_m, S_M = domain
    H = lambda v: float(link.primitive(torch.tensor(v, dtype=F64)))  # noqa: E731
    rhs = H(w_u + tau / 2 + d) - H(w_u - tau / 2 + d) - (H(w_u + tau / 2) - H(w_u - tau / 2))
    f = lambda delta: H(S_M + delta) - H(S_M) - (H(S_m + delta) - H(S_m)) - rhs  # noqa: E731
    return brentq(f, -1.0, 1.0, xtol=1e-16, rtol=1e-14) / tau


@pytest.mark.parametrize(
    "link",
    [links.sigmoid(alpha=1.5, beta=1.0), links.exp(alpha=0.7), links.sinh(alpha=0.5), links.identity(), links.tanh(beta=-1.0)],
    ids=["sigmoid", "exp", "sinh", "identity", "tanh"],
)
def test_bust_and_blust_match_the_limits_of_definitions_1_and_2(link):
    domain = (-3.0, 3.0)
    for w_u, d in ((-2.0, 0.5), (0.0, -1.0), (2.5, 0.25), (1.0, 2.0)):
        got = float(bust(link, w_u, d, domain))
        assert got == pytest.approx(_bust_from_eq12(link, w_u, d, domain), rel=1e-4, abs=1e-9)
    w = torch.tensor([-2.0, 0.0, 2.5], dtype=F64)
    # BLUST = lim_{d→0} BUST/d (Definition 2)
    d = 1e-6
    torch.testing.assert_close(blust(link, w, domain), bust(link, w, d, domain) / d, rtol=1e-5, atol=1e-9)


def test_bust_properties():
    # square loss: uniform sensitivity d/|S|; shifted Sigmoid: larger BLUST in its steep region
    torch.testing.assert_close(bust(links.identity(alpha=2.0), torch.tensor([-1.0, 2.0]), 0.3, (-1.0, 2.0)), torch.full((2,), 0.1))
    b = blust(links.sigmoid(beta=2.0), torch.linspace(-3, 3, 7, dtype=F64), (-3, 3))
    assert int(b.argmax()) == 5  # z = 2
    # broadcasting w_u and d
    out = bust(links.exp(), torch.zeros(3, 1, dtype=F64), torch.tensor([0.1, 0.2], dtype=F64), (-1, 1))
    assert out.shape == (3, 2)


def test_bust_blust_validation():
    with pytest.raises(ValueError, match=r"w_u must lie in domain \[-1, 1\]; got a value 2\.0"):
        bust(links.exp(), 2.0, 0.1, (-1.0, 1.0))
    with pytest.raises(ValueError, match=r"w_u must lie in domain .* got a value -5\.0"):
        blust(links.exp(), torch.tensor([0.0, -5.0]), (-1.0, 1.0))
    with pytest.raises(ValueError, match="domain must satisfy low < high"):
        blust(links.exp(), 0.0, (1.0, -1.0))
    with pytest.raises(ValueError, match=r"link span .* must be finite and > 0"):
        bust(links.step(), 0.5, 0.1, (0.2, 0.8))  # constant on the domain
    with pytest.raises(TypeError, match="w_u must be a float or a floating-point tensor, got str"):
        bust(links.exp(), "0", 0.1, (-1.0, 1.0))
    with pytest.raises(TypeError, match="d must be a floating-point tensor, got dtype torch.int64"):
        bust(links.exp(), 0.0, torch.tensor(1), (-1.0, 1.0))


# ---------------------------------------------------------------------------------
# Proper prediction (Proposition 1)


def test_proper_prediction_closed_form_and_bisection_agree():
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(50, 3, dtype=F64, generator=g)
    w = torch.rand(50, dtype=F64, generator=g)
    closed = links.sinh(alpha=0.8)
    bare = links.custom(torch.sinh, torch.cosh, torch.cosh, alpha=0.8)  # no inverse: bisection
    for weights in (None, w, w[:, None].expand(50, 3)):
        a = proper_prediction(closed, samples, weights)
        b = proper_prediction(bare, samples, weights)
        assert a.shape == (3,)
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    # identity link: the (weighted) mean; exp link: above the mean (Jensen, Appendix I)
    torch.testing.assert_close(proper_prediction(links.identity(), samples, w), (w[:, None] * samples).sum(0) / w.sum())
    assert (proper_prediction(links.exp(alpha=2.0), samples) > samples.mean(0)).all()
    assert (proper_prediction(links.anti_exp(alpha=2.0), samples) < samples.mean(0)).all()


def test_proper_prediction_validation():
    s = torch.zeros(4, dtype=F64)
    with pytest.raises(ValueError, match=r"samples must have a non-empty leading dim; got shape \(0,\)"):
        proper_prediction(links.exp(), torch.zeros(0))
    with pytest.raises(TypeError, match="samples must be a floating-point tensor"):
        proper_prediction(links.exp(), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\) or \(4,\); got \(3,\)"):
        proper_prediction(links.exp(), s, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        proper_prediction(links.exp(), s, torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=F64))
    with pytest.raises(ValueError, match="weights must not sum to zero"):
        proper_prediction(links.exp(), s, torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="not monotone"):
        proper_prediction(links.custom(torch.cos, monotone=False), s)
