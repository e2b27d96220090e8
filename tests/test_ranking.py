"""Ranking losses: identities, masking, degenerate lists, NaN policy, metrics vs sklearn, experiment."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losslab as ll
from losslab import links, metrics, registry
from reference import REFERENCES

RANKING = registry.specs("ranking")
IDS = [s.name for s in RANKING]


def _kwargs(spec):
    g = torch.Generator().manual_seed(0)
    return spec.sample((1,), dtype=torch.float64, generator=g).kwargs


def test_family_registered():
    assert set(IDS) == {
        "pointwise_sigmoid_ce", "pointwise_mse", "ranknet", "soft_pairwise", "pairwise_hinge", "listnet",
        "listmle", "lambda_loss", "selective_pointwise", "selective_pairwise", "selective_listwise",
    }


@pytest.mark.parametrize("spec", RANKING, ids=IDS)
def test_padding_is_excluded_exactly(spec):
    # A padded list equals the same list without padding, whatever the padding holds (NaN, inf),
    # and padded items get a zero gradient.
    kw = _kwargs(spec)
    s = torch.tensor([[1.5, -0.3, 0.7, 2.0]], dtype=torch.float64)
    y = torch.tensor([[3.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    short = spec.fn(s, y, None, **kw, reduction="none")
    pad_s = torch.cat([s[:, :2], torch.tensor([[float("nan"), float("inf")]], dtype=torch.float64), s[:, 2:]], -1)
    pad_y = torch.cat([y[:, :2], torch.tensor([[float("nan"), 7.0]], dtype=torch.float64), y[:, 2:]], -1)
    mask = torch.tensor([[True, True, False, False, True, True]])
    pad_s.requires_grad_(True)
    long = spec.fn(pad_s, pad_y, mask, **kw, reduction="none")
    torch.testing.assert_close(long, short)
    long.sum().backward()
    assert torch.equal(pad_s.grad[0, 2:4], torch.zeros(2, dtype=torch.float64))
    assert torch.isfinite(pad_s.grad).all()


@pytest.mark.parametrize("spec", RANKING, ids=IDS)
def test_degenerate_lists_are_zero_with_zero_grad(spec):
    kw = _kwargs(spec)
    s = torch.tensor([[2.0, -1.0, 0.5], [0.3, 0.1, -0.2], [1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[2.0, 1.0, 0.0], [1.0, 0.0, 4.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out = spec.fn(s, y, mask, **kw, reduction="none")
    pointwise = "pointwise" in spec.name or spec.name == "selective_listwise"  # these match score values
    assert out[1] == 0  # no valid item
    if not pointwise:  # a one-item list has nothing to rank (pointwise losses still score the item)
        assert out[0] == 0
    out[1].backward()
    assert torch.equal(s.grad[1], torch.zeros(3, dtype=torch.float64))
    s.grad = None
    out = spec.fn(s, y, mask, **kw, reduction="none")
    out[0].backward()
    assert torch.equal(s.grad[0, 1:], torch.zeros(2, dtype=torch.float64))
    if not pointwise:
        assert s.grad[0, 0] == 0
    if spec.name.startswith(("ranknet", "soft_", "pairwise", "lambda", "selective_pairwise")):
        assert out[2] == 0  # all labels tied: no pair
    # an empty batch reduces to 0 (the _reduce semantics)
    empty = spec.fn(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64), **kw)
    assert empty == 0


@pytest.mark.parametrize("spec", RANKING, ids=IDS)
def test_nan_score_of_a_valid_item_propagates_and_bad_labels_raise(spec):
    kw = _kwargs(spec)
    s = torch.tensor([[float("nan"), 1.0, 0.0], [0.5, 1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]], dtype=torch.float64)
    out = spec.fn(s, y, None, **kw, reduction="none")
    assert torch.isnan(out[0]) and torch.isfinite(out[1])
    with pytest.raises(ValueError, match="labels"):
        spec.fn(s.nan_to_num(), torch.tensor([[float("nan"), 1.0, 0.0]] * 2, dtype=torch.float64), None, **kw)
    with pytest.raises(TypeError, match="mask"):
        spec.fn(s, y, torch.ones(2, 3), **kw)
    with pytest.raises(ValueError, match="shape"):
        spec.fn(s, y[:, :2], None, **kw)


def test_soft_pairwise_is_twice_ranknet():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(4, 7, dtype=torch.float64, generator=g)
    y = torch.randint(0, 3, (4, 7), generator=g)
    torch.testing.assert_close(ll.soft_pairwise(s, y, reduction="none"), 2 * ll.ranknet(s, y, reduction="none"))
    # and the seed's pairwise logistic with binary labels: 2·ranknet + (equal-label ordered pairs)·log 2
    yb = (y > 0).double()
    seed_form = torch.stack([
        sum(torch.nn.functional.softplus(-(yb[b, i] - yb[b, j]) * (s[b, i] - s[b, j])) for i in range(7) for j in range(7) if i != j)
        for b in range(4)
    ])
    eq_pairs = torch.stack([((yb[b, :, None] == yb[b, None, :]).sum() - 7) for b in range(4)]).double()
    torch.testing.assert_close(seed_form, 2 * ll.ranknet(s, yb, reduction="none") + eq_pairs * math.log(2))


def test_pairwise_normalize_and_margin():
    s = torch.tensor([[0.2, 0.0, 3.0]])
    y = torch.tensor([[2, 1, 0]])
    torch.testing.assert_close(ll.pairwise_hinge(s, y, normalize=True, reduction="none"), torch.tensor([8.6 / 3]))
    torch.testing.assert_close(ll.pairwise_hinge(s, y, margin=0.0, reduction="none"), torch.tensor([5.8]))
    with pytest.raises(ValueError, match="margin"):
        ll.pairwise_hinge(s, y, margin=-1.0)
    with pytest.raises(ValueError, match="max_grade"):
        ll.pointwise_sigmoid_ce(s, y.float())


def test_lambdarank_weighting_matches_reference_and_listnet_normalize():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(3, 6, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (3, 6), generator=g).double()
    m = torch.rand(3, 6, generator=g) > 0.2
    for w in ("ndcg_loss2", "lambdarank"):
        torch.testing.assert_close(
            ll.lambda_loss(s, y, m, weighting=w, sigma=1.7, reduction="none"),
            REFERENCES["lambda_loss"](s, y, m, weighting=w, sigma=1.7),
        )
    torch.testing.assert_close(
        ll.listnet(s, y, m, target="normalize", reduction="none"), REFERENCES["listnet"](s, y, m, target="normalize")
    )


def test_listmle_prefers_the_label_order():
    y = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    good = ll.listmle(torch.tensor([[60.0, 40.0, 20.0, 0.0]]), y)  # 3·log1p(e^-20) ≈ 6e-9
    bad = ll.listmle(torch.tensor([[0.0, 20.0, 40.0, 60.0]]), y)  # ≈ 60 + 40 + 20
    assert good < 1e-6 and 119 < bad < 121


def test_selective_gradients_follow_the_link():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 5, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (2, 5), generator=g).double()
    m = torch.tensor([[True, True, True, False, True], [True] * 5])
    # pointwise: h(ŝ) − h(l) on valid items (eq. 1)
    h = links.sigmoid(alpha=2.0, beta=2.0)
    ll.selective_pointwise(s, y, m, link=h, reduction="sum").backward()
    torch.testing.assert_close(s.grad, torch.where(m, h(s) - h(y), torch.zeros(())).detach())
    # listwise: q(ŝ)p(ŝ) − q(l)p(l) over valid items (eq. 30); equals composite_softmax_loss without a mask
    s.grad = None
    q = links.sinh(alpha=0.5, cap=20.0)
    ll.selective_listwise(s, y, m, scaling=q, gamma=2.0, reduction="sum").backward()
    for b in range(2):
        v = m[b]
        sv, yv = s[b, v].detach(), y[b, v]
        expect = q(sv) * ll.composite_softmax(sv, q, gamma=2.0) - q(yv) * ll.composite_softmax(yv, q, gamma=2.0)
        torch.testing.assert_close(s.grad[b, v], expect)
    full = torch.ones_like(m)
    torch.testing.assert_close(
        ll.selective_listwise(s, y, full, scaling=q, gamma=2.0, reduction="none"),
        ll.composite_softmax_loss(s, y, q, gamma=2.0, reduction="none"),
    )
    # pairwise with an odd link does not depend on the pair's orientation: reversing labels and scores
    a = ll.selective_pairwise(s, y, m, reduction="none")
    b = ll.selective_pairwise(-s, -y, m, reduction="none")
    torch.testing.assert_close(a, b)


def test_nn_modules_match_functions():
    s, y = torch.randn(2, 4), torch.tensor([[2, 1, 0, 0], [0, 3, 1, 1]])
    assert torch.equal(ll.nn.RankNetLoss(sigma=2.0)(s, y), ll.ranknet(s, y, sigma=2.0))
    assert torch.equal(ll.nn.SelectiveListwiseLoss(reduction="sum")(s, y), ll.selective_listwise(s, y, reduction="sum"))
    assert torch.equal(ll.nn.ListMLELoss()(s, y), ll.listmle(s, y))


def test_nn_ranking_modules_take_mask_and_per_call_overrides():
    s, y = torch.randn(2, 4), torch.tensor([[2, 1, 0, 0], [0, 3, 1, 1]])
    m = torch.tensor([[True, True, True, False], [True, True, False, True]])
    w = torch.tensor([0.3, 0.7])
    mod = ll.nn.RankNetLoss(sigma=2.0)
    ref = ll.ranknet(s, y, m, sigma=2.0, sample_weight=w)
    assert torch.equal(mod(s, y, m, sample_weight=w), ref)
    assert torch.equal(mod(s, y, mask=m, sample_weight=w), ref)
    assert torch.equal(mod(s, y, m, sigma=0.5), ll.ranknet(s, y, m, sigma=0.5))
    assert mod.sigma == 2.0  # an override lasts one call


# ---------------------------------------------------------------------------------
# metrics


def test_ndcg_matches_sklearn_with_ties():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=(12, 8)).astype(float)
    s = rng.integers(0, 3, size=(12, 8)).astype(float)  # many tied scores
    y[0] = 0  # an all-irrelevant list
    for k in (1, 3, 5, 8, 20):
        ours = metrics.ndcg_at_k(torch.tensor(s), torch.tensor(y), k)
        per_row = [ndcg_score(y[i : i + 1], s[i : i + 1], k=k) for i in range(12)]
        np.testing.assert_allclose(ours.numpy(), per_row, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(float(ours.mean()), ndcg_score(y, s, k=k), rtol=1e-12)
        np.testing.assert_allclose(
            metrics.ndcg_at_k(torch.tensor(s), torch.tensor(y), k, ignore_ties=True).numpy(),
            [ndcg_score(y[i : i + 1], s[i : i + 1] + 1e-9 * np.arange(8)[::-1], k=k) for i in range(12)],
            rtol=1e-9,
        )
    # a mask removes items: same as sklearn on the shorter list
    mask = torch.ones(12, 8, dtype=torch.bool)
    mask[:, 5:] = False
    np.testing.assert_allclose(
        metrics.ndcg_at_k(torch.tensor(s), torch.tensor(y), 3, mask).numpy(),
        [ndcg_score(y[i : i + 1, :5], s[i : i + 1, :5], k=3) for i in range(12)],
        rtol=1e-12,
    )
    # exp2 gains: sklearn with the gains as y_true
    np.testing.assert_allclose(
        metrics.ndcg_at_k(torch.tensor(s), torch.tensor(y), 5, gain="exp2").numpy(),
        [ndcg_score(2 ** y[i : i + 1] - 1, s[i : i + 1], k=5) for i in range(12)],
        rtol=1e-12,
    )


def test_mrr_and_recall():
    s = torch.tensor([[0.1, 0.9, 0.5, 0.3], [0.4, 0.3, 0.2, 0.1], [1.0, 1.0, 1.0, 1.0]])
    y = torch.tensor([[1, 0, 0, 2], [0, 0, 0, 0], [0, 1, 0, 0]])
    torch.testing.assert_close(metrics.mrr(s, y), torch.tensor([1 / 3, 0.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(metrics.recall_at_k(s, y, 3), torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(metrics.recall_at_k(s, y, 1), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="k"):
        metrics.recall_at_k(s, y, 0)


# ---------------------------------------------------------------------------------
# experiment


def _run_rank(tmp_path, *extra):
    from losslab.cli import main

    out = tmp_path / "out"
    rc = main(["rank", "--seeds", "2", "--epochs", "5", "--out", str(out), *extra])
    assert rc == 0
    import json

    payload = json.loads((out / "rank" / "rank.json").read_text())
    assert (out / "rank" / "rank.md").read_text().startswith("# losslab rank")
    return payload


def test_rank_experiment_smoke(tmp_path):
    payload = _run_rank(tmp_path, "--queries", "12", "--list-size", "6", "--features", "4", "--losses", "listnet,selective_pairwise")
    for n in ("listnet", "selective_pairwise"):
        for k in (1, 5, 10):
            v = payload["summary"][n][f"ndcg@{k}"]["mean"]
            assert 0.0 <= v <= 1.0


def test_rank_experiment_on_svmlight_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for q in range(8):
        for _ in range(int(rng.integers(3, 7))):  # ragged lists exercise the mask
            x = rng.normal(size=3)
            rel = int(np.clip(round(x[0] * 1.5 + 1.5), 0, 4))
            lines.append(f"{rel} qid:{q + 1} " + " ".join(f"{j + 1}:{v:.4f}" for j, v in enumerate(x)))
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    from losslab.experiments.rank import load_svmlight

    X, y, mask = load_svmlight(str(path))
    assert X.shape[0] == 8 and X.shape[-1] == 3 and int(mask.sum()) == len(lines)
    payload = _run_rank(tmp_path, "--data", str(path), "--losses", "ranknet,selective_listwise", "--model", "mlp")
    assert payload["source"].startswith("SVMlight")
    assert set(payload["summary"]) == {"ranknet", "selective_listwise"}
