"""Selective matching losses (seed 000): identities beyond the contract test.

Bregman form and its gradients (eq. 1-2), the CE-equivalence of the Sigmoid loss
(E.1-E.2) and of a linear log-score transform (E.10-E.11), the composite-Softmax
target gradient against autograd through eq. (29), properness (Prop. 1), stability
at |z| = 1e4, and input validation.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from losslab import links

F64 = torch.float64


def _increasing_links():
    return [
        links.sigmoid(alpha=1.5, beta=0.5),
        links.identity(alpha=2.0, beta=-1.0),
        links.exp(alpha=0.7, beta=0.3),
        links.anti_exp(alpha=0.7),
        links.sinh(alpha=0.8, beta=0.5),
        links.tanh(alpha=1.3),
        links.arcsinh(alpha=2.0),
        links.power(d=3.0, alpha=0.7),
        links.custom(lambda x: x + torch.sin(x) / 2),  # quadrature value
        ll.composite_sigmoid_link(links.exp(alpha=0.5), gamma=0.7),
    ]


LINK_IDS = ["sigmoid", "identity", "exp", "anti_exp", "sinh", "tanh", "arcsinh", "power", "custom", "composite_sigmoid"]


def _pairs(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    return 2.5 * torch.randn(n, dtype=F64, generator=g), 2.5 * torch.randn(n, dtype=F64, generator=g)


@pytest.mark.parametrize("link", _increasing_links(), ids=LINK_IDS)
def test_bregman_identity_nonnegative_zero_iff_equal_and_gradients(link):
    s_hat, s = _pairs()
    s_hat.requires_grad_(True)
    s.requires_grad_(True)
    loss = ll.matching_loss(s_hat, s, link, reduction="none")
    # eq. (2): H(ŝ) - H(s) - (ŝ - s) h(s), from the primitive (closed form or quadrature)
    with torch.no_grad():
        expected = link.primitive(s_hat) - link.primitive(s) - (s_hat - s) * link(s)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-7, atol=1e-9)
    assert (loss > 0).all()  # strictly increasing links: > 0 whenever ŝ ≠ s
    same = ll.matching_loss(s.detach(), s.detach(), link, reduction="none")
    assert (same.abs() <= 1e-12).all()
    # eq. (1) and the target gradient -(ŝ - s) h'(s)
    g_hat, g_s = torch.autograd.grad(loss.sum(), (s_hat, s))
    with torch.no_grad():
        torch.testing.assert_close(g_hat, link(s_hat) - link(s))
        torch.testing.assert_close(g_s, -(s_hat - s) * link.derivative(s))
    # the analytic target gradient is the derivative of the value: check by autograd on eq. (2)
    s2 = s.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        plain = (link.primitive(s_hat.detach()) - link.primitive(s2) - (s_hat.detach() - s2) * link(s2)).sum()
    if plain.requires_grad and link.has_primitive:
        (auto,) = torch.autograd.grad(plain, s2)
        torch.testing.assert_close(g_s, auto, rtol=1e-7, atol=1e-9)


def test_sensitivity_is_the_second_order_coefficient():
    # δ^{-2} L(s + δ, s) → h'(s)/2 (Section 2, Appendix B)
    link = links.sigmoid(alpha=2.0, beta=1.0)
    s = torch.linspace(-3, 3, 13, dtype=F64)
    delta = 1e-4
    ratio = ll.matching_loss(s + delta, s, link, reduction="none") / delta**2
    torch.testing.assert_close(ratio, link.derivative(s) / 2, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.5, 1.0), (0.4, -2.0)])
def test_sigmoid_matching_loss_has_the_cross_entropy_gradient(alpha, beta):
    # (E.1)-(E.2): CE between Bern(σ(α(s-β))) and Bern(σ(α(ŝ-β))), divided by α.
    s_hat, s = _pairs(seed=1, n=32)
    a = s_hat.clone().requires_grad_(True)
    b = s_hat.clone().requires_grad_(True)
    link = links.sigmoid(alpha=alpha, beta=beta)
    ll.matching_loss(a, s, link, reduction="sum").backward()
    target_p = torch.sigmoid(alpha * (s - beta))
    (F.binary_cross_entropy_with_logits(alpha * (b - beta), target_p, reduction="sum") / alpha).backward()
    torch.testing.assert_close(a.grad, b.grad)
    # the losses differ only by a constant in ŝ (the entropy of the target), so their difference is flat
    ce = F.binary_cross_entropy_with_logits(alpha * (s_hat - beta), target_p, reduction="none") / alpha
    m = ll.matching_loss(s_hat, s, link, reduction="none")
    entropy = -(torch.special.xlogy(target_p, target_p) + torch.special.xlogy(1 - target_p, 1 - target_p)) / alpha
    torch.testing.assert_close(ce - m, entropy)


@pytest.mark.parametrize("alpha,beta,gamma", [(1.0, 0.0, 1.0), (2.0, 0.7, 1.0), (1.5, -1.0, 0.5)])
def test_linear_log_score_transform_is_softmax_cross_entropy(alpha, beta, gamma):
    # Q(z) = α(z - β), i.e. constant q = α: p is a standard Softmax of αz/γ (E.7) and the
    # gradient is α(p(ŝ) - p(s)) (E.10) = the gradient of soft-target CE (E.11).
    q = links.custom(lambda x: torch.full_like(x, alpha), torch.zeros_like, lambda x: alpha * x, beta=beta)
    g = torch.Generator().manual_seed(2)
    s_hat = torch.randn(6, 4, dtype=F64, generator=g) * 2
    s = torch.randn(6, 4, dtype=F64, generator=g) * 2
    a = s_hat.clone().requires_grad_(True)
    ll.composite_softmax_loss(a, s, q, gamma=gamma, reduction="sum").backward()
    p = lambda z: torch.softmax(alpha * z / gamma, -1)  # noqa: E731
    torch.testing.assert_close(a.grad, alpha * (p(s_hat) - p(s)))
    b = s_hat.clone().requires_grad_(True)
    (gamma * F.cross_entropy(alpha * b / gamma, p(s), reduction="sum")).backward()
    torch.testing.assert_close(a.grad, b.grad)
    # sensitivity is the plain-Softmax diagonal α²/γ · p(1 - p) (Section 5)
    sens = ll.analysis.composite_sensitivity(s, q, gamma=gamma)
    torch.testing.assert_close(sens, alpha**2 / gamma * p(s) * (1 - p(s)))


def _plain_eq29(pred, target, q, gamma):
    # eq. (29) with γ (C.4-C.5), written with autograd-friendly ops only.
    Qh, Qs = q.primitive(pred) / gamma, q.primitive(target) / gamma
    Hh = gamma * torch.logsumexp(Qh, -1)
    Hs = gamma * torch.logsumexp(Qs, -1)
    h_s = q(target) * torch.softmax(Qs, -1)
    return Hh - Hs - ((pred - target) * h_s).sum(-1)


@pytest.mark.parametrize(
    "q,gamma",
    [(links.sinh(alpha=0.5), 1.0), (links.exp(alpha=0.8, beta=0.5), 0.6), (links.sigmoid(beta=1.0).scaled(2.0), 1.7), (links.tanh(), 1.0)],
    ids=["sinh", "exp", "sigmoid", "tanh"],
)
def test_composite_softmax_gradients_match_autograd_through_eq29(q, gamma):
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(5, 4, dtype=F64, generator=g) * 1.5
    target = torch.randn(5, 4, dtype=F64, generator=g) * 1.5
    w = torch.rand(5, dtype=F64, generator=g)
    a, b = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
    ours = ll.composite_softmax_loss(a, b, q, gamma=gamma, reduction="none")
    (ours * w).sum().backward()
    c, d = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
    plain = _plain_eq29(c, d, q, gamma)
    (plain * w).sum().backward()
    torch.testing.assert_close(ours.detach(), plain.detach())
    torch.testing.assert_close(a.grad, c.grad)
    torch.testing.assert_close(b.grad, d.grad)  # Hessian-vector product of (B.2) with γ
    # dim other than -1
    e = pred.t().clone().requires_grad_(True)
    f = target.t().clone().requires_grad_(True)
    (ll.composite_softmax_loss(e, f, q, gamma=gamma, dim=0, reduction="none") * w).sum().backward()
    torch.testing.assert_close(e.grad, c.grad.t())
    torch.testing.assert_close(f.grad, d.grad.t())


@pytest.mark.parametrize("chunk_elements", [1, 8, 15])
def test_composite_softmax_chunked_forward_matches_eq29(monkeypatch, chunk_elements):
    """The forward walks the rows in chunks of ``_CHUNK_ELEMENTS // K`` rows; with tiny
    chunks (one row; two rows and an uneven tail; five rows) value and gradient still
    equal eq. (29) through autograd, row by row."""
    from losslab import matching

    monkeypatch.setattr(matching, "_CHUNK_ELEMENTS", chunk_elements)
    q = links.exp(alpha=0.8, beta=0.5)
    g = torch.Generator().manual_seed(11)
    pred = (torch.randn(2, 7, 3, dtype=F64, generator=g) * 1.5).requires_grad_(True)
    target = torch.randn(2, 7, 3, dtype=F64, generator=g) * 1.5
    w = torch.rand(2, 7, dtype=F64, generator=g)
    ours = ll.composite_softmax_loss(pred, target, q, gamma=0.7, reduction="none")
    (ours * w).sum().backward()
    ref_pred = pred.detach().clone().requires_grad_(True)
    plain = _plain_eq29(ref_pred, target, q, 0.7)
    (plain * w).sum().backward()
    torch.testing.assert_close(ours.detach(), plain.detach())
    torch.testing.assert_close(pred.grad, ref_pred.grad)


def test_composite_sigmoid_loss_is_a_two_class_composite_softmax_with_a_zero_class():
    # H = γ log(1 + e^{Q/γ}) (G.1) is the log-partition with a second class of Q ≡ 0.
    q = links.exp(alpha=0.6, beta=-0.5)
    zero_class = links.custom(torch.zeros_like, torch.zeros_like, torch.zeros_like)
    s_hat, s = _pairs(seed=4, n=16)
    scalar = ll.composite_sigmoid_loss(s_hat, s, q, gamma=0.8, reduction="none")
    # build it from the Softmax loss: Q_k for class 0, 0 for class 1 -> use a custom scaling on stacked inputs
    stacked_hat = torch.stack([s_hat, torch.full_like(s_hat, -1e3)], -1)
    stacked = torch.stack([s, torch.full_like(s, -1e3)], -1)
    # a scaling equal to q above -500 and to 0 (Q = 0) on the dummy class at -1e3
    mixed = links.custom(
        lambda x: torch.where(x > -500, q(x), torch.zeros_like(x)),
        lambda x: torch.where(x > -500, q.derivative(x), torch.zeros_like(x)),
        lambda x: torch.where(x > -500, q.primitive(x), torch.zeros_like(x)),
    )
    multi = ll.composite_softmax_loss(stacked_hat, stacked, mixed, gamma=0.8, reduction="none")
    torch.testing.assert_close(scalar, multi)
    del zero_class


@pytest.mark.parametrize(
    "link",
    [links.exp(alpha=1.0), links.sigmoid(alpha=2.0, beta=1.0), links.anti_exp(alpha=0.5), ll.composite_sigmoid_link(links.tanh(), gamma=0.5)],
    ids=["exp", "sigmoid", "anti_exp", "composite_sigmoid_tanh"],
)
def test_properness_minimiser_of_mean_loss_is_h_inverse_of_mean_link(link):
    # Proposition 1: argmin_ŝ E L(ŝ, S) = h^{-1}(E h(S)); found here by LBFGS.
    samples = torch.tensor([-2.0, -1.0, 0.0, 0.5, 2.5], dtype=F64)
    weights = torch.tensor([1.0, 3.0, 1.0, 2.0, 0.5], dtype=F64)
    for w in (None, weights):
        s_hat = torch.zeros(1, dtype=F64, requires_grad=True)
        opt = torch.optim.LBFGS([s_hat], lr=1.0, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = ll.matching_loss(s_hat.expand(5), samples, link, sample_weight=w, reduction="mean")
            loss.backward()
            return loss

        opt.step(closure)
        expected = ll.analysis.proper_prediction(link, samples, w)
        assert float(s_hat.detach()) == pytest.approx(float(expected), abs=1e-6)
        # and h at the optimum is the (weighted) mean of h(S)
        ww = torch.ones(5, dtype=F64) if w is None else w
        assert float(link(expected)) == pytest.approx(float((ww * link(samples)).sum() / ww.sum()), rel=1e-9)


# ---------------------------------------------------------------------------------
# Extremes: |z| = 1e4 in float32 and bfloat16 with the default caps


def _scalar_extremes(dtype):
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0, 60.0], dtype=dtype)
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4, -60.0], dtype=dtype)
    return pred, target


def _class_extremes(dtype):
    pred = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4], [60.0, -60.0, 0.0]], dtype=dtype)
    target = torch.tensor([[-1e4, 1e4, 0.0], [1e4, 1e4, -1e4], [0.0, 0.0, 0.0], [-60.0, 60.0, 1.0]], dtype=dtype)
    return pred, target


def _finite_value_and_grads(fn, pred, target, *args, grad_target=True, **kw):
    a = pred.clone().requires_grad_(True)
    b = target.clone().requires_grad_(grad_target)
    value = fn(a, b, *args, reduction="none", **kw)
    assert torch.isfinite(value).all(), value
    assert (value.float() >= 0).all(), value  # a Bregman divergence of a convex H
    value.float().sum().backward()
    assert torch.isfinite(a.grad).all(), a.grad
    if grad_target:
        assert torch.isfinite(b.grad).all(), b.grad


DTYPES = [torch.float32, torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "bfloat16"])
@pytest.mark.parametrize(
    "link",
    [links.exp(), links.anti_exp(), links.sinh(), links.sigmoid(beta=2.0), links.tanh(), links.smelu(), links.huber(), links.exp(alpha=3.0, beta=-2.0, cap=40.0)],
    ids=["exp", "anti_exp", "sinh", "sigmoid", "tanh", "smelu", "huber", "exp_shifted"],
)
def test_matching_and_decomposed_finite_at_extremes(dtype, link):
    _finite_value_and_grads(ll.matching_loss, *_scalar_extremes(dtype), link)
    _finite_value_and_grads(ll.decomposed_matching_loss, *_class_extremes(dtype), link)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "bfloat16"])
@pytest.mark.parametrize(
    "scaling,gamma",
    [(links.exp(), 1.0), (links.anti_exp(), 1.0), (links.sinh(), 0.5), (links.cosh().scaled(1.0), 0.7), (links.tanh(), 1.0), (links.sigmoid(beta=1.0), 2.0)],
    ids=["exp", "anti_exp", "sinh", "cosh_G4", "tanh", "sigmoid"],
)
def test_composite_sigmoid_finite_at_extremes(dtype, scaling, gamma):
    _finite_value_and_grads(ll.composite_sigmoid_loss, *_scalar_extremes(dtype), scaling, gamma=gamma)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "bfloat16"])
@pytest.mark.parametrize(
    "scaling,grad_target",
    [
        (links.exp(), False),
        (links.sinh(), False),
        (links.anti_exp(), True),
        (links.exp(alpha=0.5, cap=20.0), True),
        (links.sinh(alpha=0.5, cap=20.0), True),
        (links.tanh(), True),
        (links.sigmoid(beta=1.0), True),
    ],
    ids=["exp", "sinh", "anti_exp", "exp_cap20", "sinh_cap20", "tanh", "sigmoid"],
)
def test_composite_softmax_finite_at_extremes(dtype, scaling, grad_target):
    # With the default cap (x ≤ 50) the target gradient's Hessian-vector product forms
    # q²·δ ≈ e^100·1e4 in _CompositeSoftmaxLoss.backward and overflows float32 (reported
    # to the owner of that class); value and prediction gradient stay finite.
    _finite_value_and_grads(ll.composite_softmax_loss, *_class_extremes(dtype), scaling, grad_target=grad_target)


# ---------------------------------------------------------------------------------
# Bad input


LOSSES = [
    ("matching_loss", lambda p, t, **kw: ll.matching_loss(p, t, links.sigmoid(), **kw)),
    ("composite_sigmoid_loss", lambda p, t, **kw: ll.composite_sigmoid_loss(p, t, links.exp(), **kw)),
    ("composite_softmax_loss", lambda p, t, **kw: ll.composite_softmax_loss(p, t, links.exp(), **kw)),
    ("decomposed_matching_loss", lambda p, t, **kw: ll.decomposed_matching_loss(p, t, links.sigmoid(), **kw)),
]


@pytest.mark.parametrize("name,fn", LOSSES, ids=[n for n, _ in LOSSES])
def test_bad_inputs_raise_naming_argument_and_value(name, fn):
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"pred and target must have the same shape.*\(2, 3\).*\(3, 2\)"):
        fn(x, torch.zeros(3, 2))
    with pytest.raises(TypeError, match="pred must be a floating-point tensor, got dtype torch.int64"):
        fn(torch.zeros(2, 3, dtype=torch.long), x)
    with pytest.raises(TypeError, match="target must be a floating-point tensor, got dtype torch.int32"):
        fn(x, torch.zeros(2, 3, dtype=torch.int32))
    # mixed float dtypes promote (tests/test_arguments.py): float32 and float64 give float64
    assert fn(x, x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="reduction must be one of .* got 'avg'"):
        fn(x, x, reduction="avg")
    with pytest.raises(TypeError, match="pred must be a torch.Tensor, got list"):
        fn([0.0], x)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_gamma_raises(bad):
    x = torch.zeros(2, 3)
    pattern = r"gamma must be .*" + ("nan" if math.isnan(bad) else re_escape(repr(bad)))
    for call in (
        lambda: ll.composite_sigmoid_loss(x, x, links.exp(), gamma=bad),
        lambda: ll.composite_softmax_loss(x, x, links.exp(), gamma=bad),
        lambda: ll.composite_sigmoid(x, links.exp(), gamma=bad),
        lambda: ll.composite_softmax(x, links.exp(), gamma=bad),
        lambda: ll.composite_sigmoid_link(links.exp(), gamma=bad),
        lambda: ll.analysis.composite_sensitivity(x, links.exp(), gamma=bad),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()


def re_escape(s):
    import re

    return re.escape(s)


def test_wrong_link_type_and_logit_domain():
    x = torch.full((3,), 0.5)
    with pytest.raises(TypeError, match="link must be a losslab.links.Link.*function"):
        ll.matching_loss(x, x, torch.sigmoid)
    with pytest.raises(TypeError, match="scaling must be a losslab.links.Link.*str"):
        ll.composite_softmax_loss(x, x, "exp")
    h = links.logit()
    with pytest.raises(ValueError, match=r"pred .*logit.*\(0\.0, 1\.0\).*1\.5"):
        ll.matching_loss(torch.tensor([0.2, 1.5]), torch.tensor([0.5, 0.5]), h)
    with pytest.raises(ValueError, match=r"target .*logit.*\(0\.0, 1\.0\).*-0\.25"):
        ll.matching_loss(torch.tensor([0.2, 0.5]), torch.tensor([0.5, -0.25]), h)
    # inside the domain it is KL(Bern(ŝ) || Bern(s)) (H = negative entropy)
    s_hat, s = torch.tensor([0.2, 0.9], dtype=F64), torch.tensor([0.5, 0.3], dtype=F64)
    kl = s_hat * torch.log(s_hat / s) + (1 - s_hat) * torch.log((1 - s_hat) / (1 - s))
    torch.testing.assert_close(ll.matching_loss(s_hat, s, h, reduction="none"), kl)
