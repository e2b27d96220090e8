"""The standard catalogue beyond the contract test: PyTorch's own losses with
their options (class weights, ignore_index, label smoothing, probability targets,
pos_weight, swap, ...), the variants the registry sample does not cover, identities
(γ = 0 focal = CE, ε = 0 poly = CE, margin 0 ArcFace = scaled CE), detached targets in
RL, documented bad-input errors, and the nn modules."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from losslab import registry
from reference import catalogue as naive

G = lambda s=0: torch.Generator().manual_seed(s)  # noqa: E731
D64 = torch.float64


def randn(*shape, s=0, scale=1.0):
    return torch.randn(*shape, generator=G(s), dtype=D64) * scale


# -- cross-entropy family -------------------------------------------------------------------


@pytest.mark.parametrize("cw,ignore,eps", list(itertools.product([False, True], [False, True], [0.0, 0.2])))
def test_cross_entropy_matches_pytorch_options(cw, ignore, eps):
    x = randn(6, 4, scale=2.0)
    y = torch.tensor([0, 3, 1, 2, 3, 0])
    if ignore:
        y[1] = y[4] = -1
    kw = dict(weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=D64) if cw else None, ignore_index=-1, label_smoothing=eps)
    for red in ("none", "sum", "mean"):
        ours = ll.cross_entropy(x, y, weight=kw["weight"], ignore_index=-1, label_smoothing=eps, reduction=red)
        torch.testing.assert_close(ours, F.cross_entropy(x, y, reduction=red, **kw))


def test_cross_entropy_dim1_layout_and_probability_targets():
    x = randn(2, 3, 5, s=1)  # [B, K, d]
    y = torch.randint(0, 3, (2, 5), generator=G(1))
    torch.testing.assert_close(ll.cross_entropy(x, y, dim=1), F.cross_entropy(x, y))
    p = torch.softmax(randn(2, 3, 5, s=2), 1)
    cw = torch.tensor([1.0, 0.2, 3.0], dtype=D64)
    for red in ("none", "mean", "sum"):
        torch.testing.assert_close(
            ll.cross_entropy(x, p, dim=1, weight=cw, label_smoothing=0.1, reduction=red),
            F.cross_entropy(x, p, weight=cw, label_smoothing=0.1, reduction=red),
        )


def test_cross_entropy_edge_cases():
    x = randn(3, 4)
    assert ll.cross_entropy(x, torch.tensor([-100, -100, -100])).item() == 0.0  # all ignored: 0, not NaN
    with pytest.raises(ValueError, match="target must lie in"):
        ll.cross_entropy(x, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="target must have shape"):
        ll.cross_entropy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        ll.cross_entropy(x, torch.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        ll.cross_entropy(x, torch.tensor([0, 1, 2]), weight=torch.ones(3, dtype=D64))
    x[1, 2] = float("nan")  # NaN propagates to its own example only
    out = ll.cross_entropy(x, torch.tensor([0, 1, 2]), reduction="none")
    assert torch.isnan(out[1]) and torch.isfinite(out[[0, 2]]).all()


def test_bce_pos_weight_and_target_domain():
    x, y = randn(5, 3, scale=3.0), torch.rand(5, 3, generator=G(1), dtype=D64)
    pw = torch.tensor([0.5, 1.0, 4.0], dtype=D64)
    torch.testing.assert_close(
        ll.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="sum"),
        F.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="sum"),
    )
    with pytest.raises(ValueError, match="target must lie in"):
        ll.binary_cross_entropy_with_logits(x, y + 1)


def test_focal_binary_and_identities():
    x, y = randn(7, scale=3.0), torch.rand(7, generator=G(2), dtype=D64)
    torch.testing.assert_close(ll.focal_loss(x, y, gamma=1.5, alpha=0.25, reduction="none"), naive.focal_loss(x, y, gamma=1.5, alpha=0.25))
    torch.testing.assert_close(ll.focal_loss(x, y, gamma=0.0), F.binary_cross_entropy_with_logits(x, y))
    xm, ym = randn(5, 4, s=3), torch.tensor([0, 1, 2, 3, 1])
    torch.testing.assert_close(ll.focal_loss(xm, ym, gamma=0.0), F.cross_entropy(xm, ym))
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=D64)
    torch.testing.assert_close(ll.focal_loss(xm, ym, gamma=3.0, alpha=alpha, reduction="none"), naive.focal_loss(xm, ym, gamma=3.0, alpha=alpha))
    with pytest.raises(ValueError, match="gamma"):
        ll.focal_loss(xm, ym, gamma=-1.0)


def test_poly_identities_and_poly_n():
    x, y = randn(5, 4, s=4), torch.tensor([0, 1, 2, 3, 1])
    torch.testing.assert_close(ll.poly_loss(x, y, epsilon=0.0), F.cross_entropy(x, y))
    p_t = torch.softmax(x, -1).gather(-1, y[:, None]).squeeze(-1)
    torch.testing.assert_close(ll.poly_loss(x, y, epsilon=1.0, reduction="none"), F.cross_entropy(x, y, reduction="none") + (1 - p_t))
    torch.testing.assert_close(ll.poly_loss(x, y, epsilon=(2.0, -1.0, 0.5), reduction="none"), naive.poly_loss(x, y, epsilon=(2.0, -1.0, 0.5)))


def test_kl_divergence_pytorch_batchmean_and_log_target():
    q = torch.log_softmax(randn(3, 5), -1)
    p = torch.softmax(randn(3, 5, s=1), -1)
    p[0, 1] = 0.0
    torch.testing.assert_close(ll.kl_divergence(q, p, reduction="batchmean"), F.kl_div(q, p, reduction="batchmean"))
    torch.testing.assert_close(ll.kl_divergence(q, p, reduction="sum"), F.kl_div(q, p, reduction="sum"))
    lp = torch.log_softmax(randn(3, 5, s=2), -1)
    torch.testing.assert_close(ll.kl_divergence(q, lp, log_target=True), F.kl_div(q, lp, log_target=True, reduction="batchmean"))
    with pytest.raises(ValueError, match="target must be >="):
        ll.kl_divergence(q, -p)


def test_hinge_family():
    s, y = randn(4, 5, scale=2.0), torch.tensor([0, 4, 2, 1])
    torch.testing.assert_close(
        ll.multiclass_hinge(s, y, variant="crammer_singer", margin=0.5, p=2, reduction="none"),
        naive.multiclass_hinge_crammer_singer(s, y, margin=0.5, p=2),
    )
    torch.testing.assert_close(ll.multiclass_hinge(s, y, p=2, margin=2.0) / 5, F.multi_margin_loss(s, y, p=2, margin=2.0))
    with pytest.raises(ValueError, match="variant"):
        ll.multiclass_hinge(s, y, variant="ww")
    with pytest.raises(ValueError, match="target must contain only"):
        ll.hinge(randn(3), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="margin"):
        ll.squared_hinge(randn(3), torch.tensor([1, -1, 1]), margin=-1.0)


def test_soft_dice_variants():
    x = randn(2, 6, 3, scale=2.0)
    p = torch.softmax(randn(2, 6, 3, s=5), -1)
    torch.testing.assert_close(ll.soft_dice(x, p, smooth=0.0, reduction="none"), naive.soft_dice(x, p, smooth=0.0))
    y = torch.tensor([[0, 0, 1, 1, 1, 0], [2, 2, 2, 2, 2, 2]])
    torch.testing.assert_close(ll.soft_dice(x, y, smooth=0.0, reduction="none"), naive.soft_dice(x, y, smooth=0.0))
    perfect = 40.0 * F.one_hot(y, 3).to(D64)
    # smooth > 0 makes a class absent from the target (softmax mass ~e^-40) score Dice ~1;
    # with smooth = 0 it scores 0 (2·0 / tiny), so a perfect map would still lose 1/K per absent class.
    assert ll.soft_dice(perfect, y).item() == pytest.approx(0.0, abs=1e-12)
    absent = ll.soft_dice(perfect, y, smooth=0.0, reduction="none")
    torch.testing.assert_close(absent, torch.tensor([1 / 3, 2 / 3], dtype=D64))


def test_arcface_margin_zero_is_scaled_ce_and_reference():
    c = torch.rand(5, 4, generator=G(6), dtype=D64) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 0])
    torch.testing.assert_close(ll.arcface(c, y, scale=10.0, margin=0.0), F.cross_entropy(10.0 * c, y))
    c[0, 0] = -0.99  # theta + m > pi: the fallback branch
    for easy in (False, True):
        torch.testing.assert_close(
            ll.arcface(c, y, scale=16.0, margin=0.5, easy_margin=easy, reduction="none"),
            naive.arcface(c, y, scale=16.0, margin=0.5, easy_margin=easy),
        )
    with pytest.raises(ValueError, match="cosine must lie in"):
        ll.arcface(c * 3, y)


def test_ge2e_contrast_and_learnable_parameters():
    e = randn(3, 4, 5, s=7)
    torch.testing.assert_close(ll.ge2e(e, variant="contrast", w=7.0, b=-1.0, reduction="none"), naive.ge2e(e, variant="contrast", w=7.0, b=-1.0))
    module = ll.nn.GE2ELoss()
    module(e.float()).backward()
    assert module.w.grad is not None and module.b.grad is not None
    with pytest.raises(ValueError, match="w must be > 0"):
        ll.ge2e(e, w=-1.0)
    with pytest.raises(ValueError, match="N >= 2"):
        ll.ge2e(e[:1])


# -- regression -----------------------------------------------------------------------------


def test_regression_pytorch_and_domains():
    a, b = randn(6, scale=3.0), randn(6, s=1, scale=3.0).abs()
    torch.testing.assert_close(ll.poisson_nll(a.abs(), b, log_input=False, full=True), F.poisson_nll_loss(a.abs(), b, log_input=False, full=True))
    torch.testing.assert_close(ll.smooth_l1(a, b, beta=0.0), F.smooth_l1_loss(a, b, beta=0.0))
    torch.testing.assert_close(ll.quantile(a, b, q=0.5), 0.5 * F.l1_loss(a, b))
    for bad, match in [
        (lambda: ll.msle(-b, b), "pred must be >= 0"),
        (lambda: ll.quantile(a, b, q=1.0), "q must lie"),
        (lambda: ll.huber(a, b, delta=0.0), "delta"),
        (lambda: ll.poisson_nll(a, -b), "target must be >= 0"),
        (lambda: ll.mse(a, b[:5]), "same shape"),
    ]:
        with pytest.raises(ValueError, match=match):
            bad()
    x = torch.tensor([float("nan"), 1.0], dtype=D64)
    out = ll.log_cosh(x, torch.zeros(2, dtype=D64), reduction="none")
    assert torch.isnan(out[0]) and torch.isfinite(out[1])


# -- contrastive ----------------------------------------------------------------------------


def test_triplet_with_pytorch_distance_is_pytorch():
    a, p, n = randn(5, 3), randn(5, 3, s=1), randn(5, 3, s=2)
    for swap in (False, True):
        ours = ll.triplet(a, p, n, margin=0.7, swap=swap, distance=lambda x, y: F.pairwise_distance(x, y))
        torch.testing.assert_close(ours, F.triplet_margin_loss(a, p, n, margin=0.7, swap=swap))
    cos_dist = lambda x, y: 1 - F.cosine_similarity(x, y, dim=-1)  # noqa: E731
    torch.testing.assert_close(
        ll.triplet(a, p, n, distance=cos_dist, margin=0.3),
        F.triplet_margin_with_distance_loss(a, p, n, distance_function=cos_dist, margin=0.3),
    )
    with pytest.raises(ValueError, match="margin must be > 0"):
        ll.triplet(a, p, n, margin=-0.5)
    with pytest.raises(ValueError, match="same shape"):
        ll.triplet(a, p, n[:, :2])


def test_contrastive_and_in_batch_losses():
    a, b = randn(4, 3), randn(4, 3, s=1)
    with pytest.raises(ValueError, match="target must contain only"):
        ll.contrastive(a, b, torch.tensor([1, 0, 2, 1]))
    a.requires_grad_(True)
    ll.contrastive(a, a.detach().clone(), torch.tensor([0, 0, 1, 1]), reduction="sum").backward()
    assert torch.isfinite(a.grad).all()  # D = 0: finite gradient
    q, k, shared = randn(4, 3, s=2), randn(4, 3, s=3), randn(5, 3, s=4)
    torch.testing.assert_close(ll.info_nce(q, k, temperature=0.2, reduction="none"), naive.info_nce(q, k, temperature=0.2))
    torch.testing.assert_close(ll.info_nce(q, k, shared, reduction="none"), naive.info_nce(q, k, shared))
    torch.testing.assert_close(
        ll.multiple_negatives_ranking(q, k, shared, scale=3.0, reduction="none"), naive.multiple_negatives_ranking(q, k, shared, scale=3.0)
    )
    # MNR with scale s is in-batch InfoNCE with temperature 1/s
    torch.testing.assert_close(ll.multiple_negatives_ranking(q, k, scale=4.0), ll.info_nce(q, k, temperature=0.25))
    with pytest.raises(ValueError, match="negative_keys"):
        ll.info_nce(q, k, randn(4, 2, 2))


# -- rl ---------------------------------------------------------------------------------------


def test_td_loss_detaches_target_and_matches_pytorch():
    q = randn(5, 3).requires_grad_(True)
    nq = randn(5, 3, s=1).requires_grad_(True)
    a, r, done = torch.tensor([0, 1, 2, 1, 0]), randn(5, s=2), torch.tensor([0, 0, 1, 0, 1])
    loss = ll.td_loss(q, a, r, nq, done, gamma=0.9, loss="huber", delta=0.5, reduction="sum")
    loss.backward()
    assert nq.grad is None  # the bootstrap target is a constant
    y = r + 0.9 * (1 - done.double()) * nq.detach().amax(-1)
    torch.testing.assert_close(loss, F.huber_loss(q.detach().gather(1, a[:, None]).squeeze(1), y, delta=0.5, reduction="sum"))
    v = randn(5, s=3)  # bootstrap values given directly
    torch.testing.assert_close(ll.td_loss(q, a, r, v, done, reduction="none"), naive.td_loss(q, a, r, v, done))
    with pytest.raises(ValueError, match="dones must contain only"):
        ll.td_loss(q, a, r, nq, done * 2)
    with pytest.raises(ValueError, match="actions must lie in"):
        ll.td_loss(q, a + 1, r, nq, done)


def test_policy_gradient_is_score_function():
    x = randn(4, 3).requires_grad_(True)
    a, adv = torch.tensor([0, 2, 1, 1]), randn(4, s=1).requires_grad_(True)
    ll.policy_gradient_loss(x, a, adv, reduction="sum").backward()
    expected = -adv.detach()[:, None] * (F.one_hot(a, 3).double() - torch.softmax(x.detach(), -1))
    torch.testing.assert_close(x.grad, expected)
    assert adv.grad is None


# -- nn modules --------------------------------------------------------------------------------

MODULES = {
    "cross_entropy": ll.nn.CrossEntropyLoss, "binary_cross_entropy_with_logits": ll.nn.BinaryCrossEntropyWithLogitsLoss,
    "focal_loss": ll.nn.FocalLoss, "poly_loss": ll.nn.PolyLoss, "kl_divergence": ll.nn.KLDivergenceLoss,
    "hinge": ll.nn.HingeLoss, "squared_hinge": ll.nn.SquaredHingeLoss, "multiclass_hinge": ll.nn.MulticlassHingeLoss,
    "soft_dice": ll.nn.SoftDiceLoss, "arcface": ll.nn.ArcFaceLoss, "mae": ll.nn.MAELoss, "mse": ll.nn.MSELoss,
    "huber": ll.nn.HuberLoss, "smooth_l1": ll.nn.SmoothL1Loss, "log_cosh": ll.nn.LogCoshLoss, "quantile": ll.nn.QuantileLoss,
    "mape": ll.nn.MAPELoss, "msle": ll.nn.MSLELoss, "poisson_nll": ll.nn.PoissonNLLLoss, "contrastive": ll.nn.ContrastiveLoss,
    "triplet": ll.nn.TripletLoss, "info_nce": ll.nn.InfoNCELoss, "nt_xent": ll.nn.NTXentLoss,
    "multiple_negatives_ranking": ll.nn.MultipleNegativesRankingLoss, "td_loss": ll.nn.TDLoss,
    "policy_gradient_loss": ll.nn.PolicyGradientLoss,
}


def test_every_catalogue_loss_has_a_module_equal_to_its_function():
    catalogue = set(registry.names("classification")) | set(registry.names("regression")) | set(registry.names("contrastive")) | set(registry.names("rl"))
    assert catalogue - {"ge2e"} <= set(MODULES), catalogue - set(MODULES)
    for name, cls in MODULES.items():
        spec = registry.get(name)
        s = spec.sample((3,), dtype=D64, generator=G(9))
        module = cls(reduction="sum", **s.kwargs)
        w = torch.rand(s.none_shape, generator=G(10), dtype=D64)
        torch.testing.assert_close(module(*s.args, sample_weight=w), spec.fn(*s.args, **s.kwargs, sample_weight=w, reduction="sum"), msg=name)
    ge = ll.nn.GE2ELoss(w=5.0, b=-2.0, learnable=False)
    e = randn(3, 3, 4)
    torch.testing.assert_close(ge(e), ll.ge2e(e, w=5.0, b=-2.0))
