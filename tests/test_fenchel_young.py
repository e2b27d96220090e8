"""Fenchel–Young losses and sparse mappings: identities, brute-force optima, gradients, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from reference.fenchel_young import REFERENCES, fy_loss_row, tsallis_argmax, tsallis_omega

D = torch.float64


def _scores(*shape, seed=0, scale=2.0, dtype=D):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=dtype, generator=g) * scale


def _probs(*shape, seed=1, dtype=D):
    return torch.softmax(_scores(*shape, seed=seed, dtype=dtype), -1)


MAPPINGS = [
    ("sparsemax", lambda x, dim=-1: ll.sparsemax(x, dim=dim), 2.0),
    ("entmax15", lambda x, dim=-1: ll.entmax15(x, dim=dim), 1.5),
    ("bisect-1.2", lambda x, dim=-1: ll.entmax_bisect(x, alpha=1.2, dim=dim), 1.2),
    ("bisect-1.5", lambda x, dim=-1: ll.entmax_bisect(x, alpha=1.5, dim=dim), 1.5),
    ("bisect-2", lambda x, dim=-1: ll.entmax_bisect(x, alpha=2.0, dim=dim), 2.0),
    ("bisect-3", lambda x, dim=-1: ll.entmax_bisect(x, alpha=3.0, dim=dim), 3.0),
]
MAP_IDS = [m[0] for m in MAPPINGS]

# (name, loss fn with the common signature, Tsallis alpha; 1 = Shannon)
LOSSES = [
    ("shannon", lambda s, t, **kw: ll.fenchel_young_loss(s, t, **kw), 1.0),
    ("sparsemax", ll.sparsemax_loss, 2.0),
    ("entmax15", ll.entmax15_loss, 1.5),
    ("bisect-1.3", lambda s, t, **kw: ll.entmax_bisect_loss(s, t, alpha=1.3, **kw), 1.3),
    ("bisect-2.5", lambda s, t, **kw: ll.entmax_bisect_loss(s, t, alpha=2.5, **kw), 2.5),
]
LOSS_IDS = [m[0] for m in LOSSES]


# ---------------------------------------------------------------------------------------
# Shannon = cross-entropy


def test_shannon_fy_loss_is_cross_entropy_for_labels():
    scores = _scores(2, 3, 6, seed=10).requires_grad_()
    labels = torch_labels = torch.randint(0, 6, (2, 3), generator=torch.Generator().manual_seed(11))
    for fn in (ll.fenchel_young_loss, ll.make_fenchel_young_loss("shannon"), ll.make_fenchel_young_loss(1.0)):
        ours = fn(scores, labels, reduction="none")
        ce = F.cross_entropy(scores.reshape(6, 6), torch_labels.reshape(6), reduction="none").reshape(2, 3)
        torch.testing.assert_close(ours, ce)
    g_ours, = torch.autograd.grad(ll.fenchel_young_loss(scores, labels), scores)
    g_ce, = torch.autograd.grad(F.cross_entropy(scores.reshape(6, 6), labels.reshape(6)), scores)
    torch.testing.assert_close(g_ours, g_ce)


def test_shannon_fy_loss_with_probability_targets_is_cross_entropy_minus_entropy():
    # L = Ω*(θ) + Ω(y) − ⟨θ, y⟩ with Ω(y) = Σ y log y: cross-entropy − H(y) = KL(y ‖ softmax θ);
    # the gradient (softmax θ − y) is the cross-entropy's exactly.
    scores = _scores(5, 4, seed=12).requires_grad_()
    y = _probs(5, 4, seed=13)
    ours = ll.fenchel_young_loss(scores, y, regulariser="shannon", reduction="none")
    entropy = -(y * y.log()).sum(-1)
    torch.testing.assert_close(ours, F.cross_entropy(scores, y, reduction="none") - entropy)
    g_ours, = torch.autograd.grad(ours.sum(), scores)
    g_ce, = torch.autograd.grad(F.cross_entropy(scores, y, reduction="sum"), scores)
    torch.testing.assert_close(g_ours, g_ce)


# ---------------------------------------------------------------------------------------
# Mappings against brute-force maximisation


def _objective(theta, p, alpha):
    return float(theta @ p) - tsallis_omega(p, alpha)


@pytest.mark.parametrize("name,mapping,alpha", MAPPINGS, ids=MAP_IDS)
def test_mapping_maximises_regularised_score_slsqp(name, mapping, alpha):
    # argmax_{p ∈ Δ} ⟨θ, p⟩ − Ω_α(p) by a generic constrained optimiser over the simplex.
    from scipy.optimize import minimize

    thetas = _scores(4, 4, seed=20, scale=1.5)
    ours = mapping(thetas)
    for theta, p in zip(thetas.numpy(), ours.numpy()):
        res = minimize(
            lambda q: -_objective(theta, np.clip(q, 0, None), alpha),
            np.full(4, 0.25),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * 4,
            constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1.0}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        assert res.success, res.message
        # ours is at least as good as the optimiser's point, and is that point
        assert _objective(theta, p, alpha) >= _objective(theta, np.clip(res.x, 0, None), alpha) - 1e-10
        np.testing.assert_allclose(p, res.x, atol=2e-4)


@pytest.mark.parametrize("name,mapping,alpha", MAPPINGS, ids=MAP_IDS)
def test_mapping_matches_threshold_root(name, mapping, alpha):
    # The closed form [(α−1)θ − τ]_+^{1/(α−1)} with τ from scipy's brentq, float64;
    # includes ties and a row that is all equal.
    thetas = torch.cat([_scores(6, 7, seed=21), torch.tensor([[1.0, 1.0, 0.2, -3.0, 1.0, 0.0, 0.5], [0.3] * 7], dtype=D)])
    ours = mapping(thetas)
    ref = np.stack([tsallis_argmax(t, alpha) for t in thetas.numpy()])
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)
    torch.testing.assert_close(ours.sum(-1), torch.ones(8, dtype=D))


def test_bisection_reproduces_the_sort_based_mappings():
    x = _scores(3, 5, 9, seed=22)
    torch.testing.assert_close(ll.entmax_bisect(x, alpha=2.0), ll.sparsemax(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(ll.entmax_bisect(x, alpha=1.5), ll.entmax15(x), atol=1e-12, rtol=0)
    labels = torch.randint(0, 9, (3, 5), generator=torch.Generator().manual_seed(23))
    torch.testing.assert_close(ll.entmax_bisect_loss(x, labels, alpha=2.0), ll.sparsemax_loss(x, labels))
    torch.testing.assert_close(ll.entmax_bisect_loss(x, labels, alpha=1.5), ll.entmax15_loss(x, labels))
    # and α → 1 approaches softmax
    torch.testing.assert_close(ll.entmax_bisect(x, alpha=1.0001), torch.softmax(x, -1), atol=1e-3, rtol=0)


def test_sparsemax_known_values_and_dim():
    x = torch.tensor([[1.0, 0.5, -2.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(ll.sparsemax(x), torch.tensor([[0.75, 0.25, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    y = _scores(4, 6, 3, seed=24)
    for mapping in (ll.sparsemax, ll.entmax15, lambda t, dim: ll.entmax_bisect(t, 1.7, dim=dim)):
        torch.testing.assert_close(mapping(y, dim=1), mapping(y.transpose(1, 2), dim=-1).transpose(1, 2))


# ---------------------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize("name,mapping,alpha", MAPPINGS, ids=MAP_IDS)
def test_mapping_gradcheck_float64(name, mapping, alpha):
    x = _scores(3, 6, seed=30).requires_grad_()
    assert torch.autograd.gradcheck(mapping, (x,), eps=1e-6, atol=1e-6)
    x2 = _scores(4, 2, 3, seed=31).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: mapping(t, dim=1), (x2,), eps=1e-6, atol=1e-6)


def _autograd_sparsemax(theta):
    # Plain autograd through the closed form with the support held fixed.
    p_ref = torch.from_numpy(np.stack([tsallis_argmax(t, 2.0) for t in theta.detach().numpy()]))
    S = p_ref > 0
    tau = ((theta * S).sum(-1, keepdim=True) - 1) / S.sum(-1, keepdim=True)
    return (theta - tau) * S


def _autograd_entmax15(theta):
    p_ref = torch.from_numpy(np.stack([tsallis_argmax(t, 1.5) for t in theta.detach().numpy()]))
    S = p_ref > 0
    x, k = theta / 2, S.sum(-1, keepdim=True)
    mu = (x * S).sum(-1, keepdim=True) / k
    var = (((x - mu) * S) ** 2).sum(-1, keepdim=True) / k
    tau = mu - torch.sqrt(1 / k - var)
    return ((x - tau) * S) ** 2


@pytest.mark.parametrize("mapping,ref", [(ll.sparsemax, _autograd_sparsemax), (ll.entmax15, _autograd_entmax15)])
def test_mapping_backward_matches_autograd_through_closed_form(mapping, ref):
    x = _scores(5, 7, seed=32).requires_grad_()
    v = _scores(5, 7, seed=33)
    torch.testing.assert_close(mapping(x), ref(x))
    g_ours, = torch.autograd.grad(mapping(x), x, v)
    g_ref, = torch.autograd.grad(ref(x), x, v)
    torch.testing.assert_close(g_ours, g_ref)


@pytest.mark.parametrize("name,loss,alpha", LOSSES, ids=LOSS_IDS)
def test_loss_gradcheck_and_gradient_is_p_minus_y(name, loss, alpha):
    x = _scores(4, 5, seed=34).requires_grad_()
    labels = torch.tensor([0, 3, 4, 1])
    y = _probs(4, 5, seed=35).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: loss(t, labels, reduction="sum"), (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(lambda t, yy: loss(t, yy, reduction="sum"), (x, y), eps=1e-7, atol=1e-5)
    g, = torch.autograd.grad(loss(x, y, reduction="sum"), x)
    p = torch.from_numpy(np.stack([tsallis_argmax(t, alpha) for t in x.detach().numpy()]))
    torch.testing.assert_close(g, p - y.detach(), atol=1e-12, rtol=0)


def test_losses_are_first_order_only():
    x = _scores(2, 4, seed=36).requires_grad_()
    g, = torch.autograd.grad(ll.sparsemax_loss(x, torch.tensor([0, 1])), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(g.sum(), x)


# ---------------------------------------------------------------------------------------
# Fenchel–Young properties


@pytest.mark.parametrize("name,loss,alpha", LOSSES, ids=LOSS_IDS)
def test_loss_matches_definition_nonnegative_and_zero_at_prediction(name, loss, alpha):
    x = _scores(6, 5, seed=40, scale=3.0)
    labels = torch.randint(0, 5, (6,), generator=torch.Generator().manual_seed(41))
    y = _probs(6, 5, seed=42)
    for target in (labels, y):
        values = loss(x, target, reduction="none")
        assert (values >= 0).all()
        dense = F.one_hot(target, 5).double() if not target.is_floating_point() else target
        ref = [fy_loss_row(t, yy, alpha) for t, yy in zip(x.numpy(), dense.numpy())]
        np.testing.assert_allclose(values.numpy(), ref, rtol=1e-9, atol=1e-10)
    p_star = torch.from_numpy(np.stack([tsallis_argmax(t, alpha) for t in x.numpy()]))
    torch.testing.assert_close(loss(x, p_star, reduction="none"), torch.zeros(6, dtype=D), atol=1e-10, rtol=0)


@pytest.mark.parametrize("name,loss,alpha", [m for m in LOSSES if m[2] > 1], ids=[m[0] for m in LOSSES if m[2] > 1])
def test_sparse_losses_vanish_beyond_the_margin(name, loss, alpha):
    # One-hot y = p*(θ) exactly when θ_y − θ_j ≥ 1/(α−1) for all j ≠ y.
    margin = 1.0 / (alpha - 1)
    label = torch.tensor([1])
    at = torch.tensor([[0.0, margin, -5.0]], dtype=D)
    above = torch.tensor([[0.0, margin + 0.3, 0.1]], dtype=D)
    below = torch.tensor([[0.0, margin - 0.05, -5.0]], dtype=D)
    assert loss(above, label).item() == pytest.approx(0.0, abs=1e-15)  # sort: exactly 0; bisection: rounding
    assert loss(at, label).item() == pytest.approx(0.0, abs=1e-12)
    # just inside the margin the loss is small (~gap^(α/(α−1)): ~1e-8 at α = 1.3) but positive
    expected = fy_loss_row(below[0].numpy(), np.eye(3)[1], alpha)
    assert expected > 1e-12
    assert loss(below, label).item() == pytest.approx(expected, rel=1e-6)
    # the softmax loss never reaches 0
    assert ll.fenchel_young_loss(above * 10, label).item() > 0


def test_extreme_float32_values_are_exact_and_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4 - 0.5]], requires_grad=True)
    loss = ll.sparsemax_loss(x, torch.tensor([1, 0]), reduction="none")
    # L = ½‖p‖² + ½ − (θ_y − τ). Row 1: p = e_0, τ = 1e4 − 1, L = 1 − (−2e4 + 1) = 2e4.
    # Row 2: p = (0, .75, .25), τ = 1e4 − .75, L = .3125 + .5 − (−2e4 + .75) = 2e4 + .0625.
    torch.testing.assert_close(loss, torch.tensor([2e4, 2e4 + 0.0625]), rtol=0, atol=4e-3)
    loss.sum().backward()
    assert torch.isfinite(x.grad).all()
    for mapping, *_ in [(m[1],) for m in MAPPINGS]:
        xx = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1e-3, -1e4]], requires_grad=True)
        p = mapping(xx)
        assert torch.isfinite(p).all()
        torch.testing.assert_close(p.sum(-1), torch.ones(3))
        (p * torch.arange(3.0)).sum().backward()
        assert torch.isfinite(xx.grad).all()


def test_factory_names_and_modules():
    x = _scores(3, 4, seed=50)
    labels = torch.tensor([0, 2, 3])
    pairs = [
        ("gini", ll.sparsemax_loss(x, labels)),
        ("sparsemax", ll.sparsemax_loss(x, labels)),
        ("tsallis15", ll.entmax15_loss(x, labels)),
        ("entmax15", ll.entmax15_loss(x, labels)),
        (2.0, ll.sparsemax_loss(x, labels)),
        (1.7, ll.entmax_bisect_loss(x, labels, alpha=1.7)),
    ]
    for reg, expected in pairs:
        fn = ll.make_fenchel_young_loss(reg)
        torch.testing.assert_close(fn(x, labels), expected)
        torch.testing.assert_close(ll.fenchel_young_loss(x, labels, regulariser=reg), expected)
    assert "gini" in ll.make_fenchel_young_loss("gini").__name__
    torch.testing.assert_close(ll.nn.SparsemaxLoss()(x, labels), ll.sparsemax_loss(x, labels))
    torch.testing.assert_close(ll.nn.Entmax15Loss(reduction="sum")(x, labels), ll.entmax15_loss(x, labels, reduction="sum"))
    torch.testing.assert_close(ll.nn.EntmaxBisectLoss(alpha=1.7)(x, labels), ll.entmax_bisect_loss(x, labels, alpha=1.7))
    torch.testing.assert_close(ll.nn.FenchelYoungLoss("gini")(x, labels), ll.sparsemax_loss(x, labels))
    torch.testing.assert_close(ll.nn.Sparsemax(dim=0)(x), ll.sparsemax(x, dim=0))
    torch.testing.assert_close(ll.nn.Entmax15()(x), ll.entmax15(x))
    torch.testing.assert_close(ll.nn.EntmaxBisect(alpha=3.0)(x), ll.entmax_bisect(x, alpha=3.0))


def test_registered_references_agree_with_definition():
    # The contract test compares against REFERENCES; make sure they mean the same loss.
    x = _scores(3, 4, seed=51)
    labels = torch.tensor([1, 0, 3])
    torch.testing.assert_close(REFERENCES["sparsemax_loss"](x, labels), ll.sparsemax_loss(x, labels, reduction="none"))
    torch.testing.assert_close(
        REFERENCES["fenchel_young_loss"](x, labels, regulariser="shannon"),
        F.cross_entropy(x, labels, reduction="none"),
    )


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("alpha", [1.0, 0.5, -2.0, float("nan"), float("inf")])
def test_bad_alpha_raises_naming_alpha(alpha):
    x = _scores(2, 3)
    with pytest.raises(ValueError, match="alpha"):
        ll.entmax_bisect(x, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        ll.entmax_bisect_loss(x, torch.tensor([0, 1]), alpha=alpha)


def test_bad_inputs_raise_clear_errors():
    x = _scores(2, 3)
    with pytest.raises(TypeError, match="alpha"):
        ll.entmax_bisect(x, alpha="1.5")
    with pytest.raises(ValueError, match="n_iter"):
        ll.entmax_bisect(x, n_iter=0)
    with pytest.raises(TypeError, match="x"):
        ll.sparsemax(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="class dimension"):
        ll.entmax15(torch.tensor(1.0))
    with pytest.raises(ValueError, match="dim"):
        ll.sparsemax(x, dim=2)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 3\); got a label 3"):
        ll.sparsemax_loss(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="got a label -1"):
        ll.entmax15_loss(x, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"integer target must have shape \(2,\)"):
        ll.sparsemax_loss(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"probability target must have the scores' shape"):
        ll.entmax15_loss(x, torch.full((2, 4), 0.25, dtype=D))
    with pytest.raises(ValueError, match="sum to 1"):
        ll.fenchel_young_loss(x, torch.full((2, 3), 0.5, dtype=D))
    with pytest.raises(ValueError, match="non-negative"):
        ll.sparsemax_loss(x, torch.tensor([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]], dtype=D))
    # mixed float dtypes promote (tests/test_arguments.py)
    assert ll.sparsemax_loss(x, torch.full((2, 3), 1 / 3, dtype=torch.float32)).dtype == torch.promote_types(D, torch.float32)
    with pytest.raises(TypeError, match="scores"):
        ll.sparsemax_loss(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="regulariser"):
        ll.make_fenchel_young_loss("hinge")
    with pytest.raises(ValueError, match="regulariser"):
        ll.fenchel_young_loss(x, torch.tensor([0, 1]), regulariser=0.5)
    with pytest.raises(ValueError, match="at least one class"):
        ll.sparsemax_loss(torch.zeros(2, 0, dtype=D), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        ll.entmax15_loss(x, torch.tensor([0, 1]), reduction="avg")
