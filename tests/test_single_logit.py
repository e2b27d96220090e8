"""Single-logit objectives (seed 001): identities from the paper, numerics, validation.

The contract test covers reductions, weights, gradcheck, extremes and the naive
references in tests/reference/single_logit.py; this file adds the seed's own
identities and the errors on bad input.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll

PER_EXAMPLE = [
    ll.max_margin,
    ll.softmax_cauchy_schwarz,
    ll.sigmoid_cauchy_schwarz,
    ll.softmax_tanimoto,
    ll.sigmoid_tanimoto,
    ll.self_normalization,
    ll.nce,
    ll.binary_cross_entropy,
]
BATCH = [ll.batch_cross_entropy, ll.batch_max_margin]
ALL = PER_EXAMPLE + BATCH


def _data(B=5, K=4, seed=0, scale=2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, K, generator=g, dtype=dtype) * scale, torch.randint(0, K, (B,), generator=g)


def test_softmax_cauchy_schwarz_is_minus_log_cosine_with_one_hot():
    z, y = _data()
    p, t = torch.softmax(z, -1), F.one_hot(y, 4).double()
    cos = (p * t).sum(-1) / (p.norm(dim=-1) * t.norm(dim=-1))  # eq. (3)
    torch.testing.assert_close(ll.softmax_cauchy_schwarz(z, y, reduction="none"), -torch.log(cos))


def test_binary_cross_entropy_matches_torch_one_vs_all():
    z, y = _data()
    ref = F.binary_cross_entropy_with_logits(z, F.one_hot(y, 4).double(), reduction="none").sum(-1)
    torch.testing.assert_close(ll.binary_cross_entropy(z, y, reduction="none"), ref)


def test_self_normalization_is_cross_entropy_plus_squared_log_partition():
    z, y = _data()
    lse = torch.logsumexp(z, -1)
    ref = F.cross_entropy(z, y, reduction="none") + 0.3 * lse**2
    torch.testing.assert_close(ll.self_normalization(z, y, alpha=0.3, reduction="none"), ref)


def test_nce_monte_carlo_converges_to_expectation():
    z, y = _data(B=3, K=5)
    q = torch.tensor([0.4, 0.1, 0.2, 0.25, 0.05], dtype=torch.float64)
    exact = ll.nce(z, y, num_noise=4, noise=q, reduction="none")
    reps = 4000
    g = torch.Generator().manual_seed(1)
    mc = ll.nce(z.repeat(reps, 1), y.repeat(reps), num_noise=4, noise=q, mode="sample", generator=g, reduction="none")
    mc = mc.reshape(reps, 3).mean(0)
    torch.testing.assert_close(mc, exact, rtol=0.03, atol=0.03)


def test_nce_explicit_samples_match_formula_and_zero_noise_classes_drop_out():
    z, y = _data(B=2, K=3)
    q = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    samples = torch.tensor([[0, 1], [1, 1]])
    t = 2
    g = lambda j, v: 1 / (1 + t * q[j] * torch.exp(-v))  # noqa: E731  (eq. 8)
    ref = torch.stack([
        -torch.log(g(int(y[i]), z[i, y[i]])) - sum(torch.log(1 - g(int(j), z[i, j])) for j in samples[i])
        if q[y[i]] > 0 else -sum(torch.log(1 - g(int(j), z[i, j])) for j in samples[i])
        for i in range(2)
    ])
    out = ll.nce(z, y, num_noise=t, noise=q, mode="sample", noise_samples=samples, reduction="none")
    torch.testing.assert_close(out, ref)
    exact = ll.nce(z, y, num_noise=t, noise=q, reduction="none")
    assert torch.isfinite(exact).all()
    with pytest.raises(ValueError, match="q is 0"):
        ll.nce(z, y, num_noise=t, noise=q, mode="sample", noise_samples=torch.tensor([[0, 2], [1, 1]]))


def test_batch_cross_entropy_is_kl_over_the_whole_batch():
    z, y = _data(B=6, K=3)
    m = 6
    P = torch.zeros(m, 3, dtype=torch.float64)
    P[torch.arange(m), y] = 1 / m
    Q = torch.softmax(z.reshape(-1), 0).reshape(m, 3)
    kl = (P[P > 0] * torch.log(P[P > 0] / Q[P > 0])).sum()  # Definition 2
    torch.testing.assert_close(ll.batch_cross_entropy(z, y), kl)
    torch.testing.assert_close(ll.batch_cross_entropy(z, y, reduction="sum"), m * kl)


def test_batch_max_margin_bound_of_appendix_d():
    # L_m < γ/m implies separation; and the batch term alone is γ/m when true and false tie.
    z = torch.tensor([[5.0, -5.0], [-5.0, 5.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    assert ll.batch_max_margin(z, y, margin=1.0).item() == 0.0
    tied = torch.tensor([[1.0, 0.0], [1.0, 2.0]], dtype=torch.float64)  # true 1.0 (x1) vs false 1.0 (x2)
    # batch term max(0, 1 - 1 + 1) = 1; per-example: max(0, 1-1+0)=0, max(0, 1-2+1)=0
    torch.testing.assert_close(ll.batch_max_margin(tied, y, margin=1.0), torch.tensor(0.5, dtype=torch.float64))


def test_tanimoto_minimum_is_minus_one_and_range():
    z, y = _data(B=50, K=4, scale=5.0)
    for fn in (ll.softmax_tanimoto, ll.sigmoid_tanimoto):
        v = fn(z, y, reduction="none")
        assert ((v >= -1) & (v < 0)).all()
    big = torch.tensor([[60.0, -60.0, -60.0]], dtype=torch.float64)
    torch.testing.assert_close(ll.sigmoid_tanimoto(big, torch.tensor([0])), torch.tensor(-1.0, dtype=torch.float64))


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_float32_extremes_grad_finite(fn):
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4]], requires_grad=True)
    y = torch.tensor([1, 0, 2])
    value = fn(z, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("fn", PER_EXAMPLE, ids=lambda f: f.__name__)
def test_per_example_bad_input(fn):
    z, y = _data()
    with pytest.raises(TypeError, match="labels"):
        fn(z, y.double())
    with pytest.raises(ValueError, match="labels must lie in"):
        fn(z, torch.tensor([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="K >= 2"):
        fn(z[:, :1], torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        fn(z, y[:3])
    with pytest.raises(TypeError, match="logits"):
        fn(z.long(), y)


@pytest.mark.parametrize("fn", BATCH, ids=lambda f: f.__name__)
def test_batch_losses_reject_batch_of_one_weights_and_leading_dims(fn):
    z, y = _data()
    with pytest.raises(ValueError, match="B > 1"):
        fn(z[:1], y[:1])
    with pytest.raises(ValueError, match="weights"):
        fn(z, y, sample_weight=torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        fn(z.reshape(1, 5, 4), y.reshape(1, 5))


def test_batch_max_margin_has_no_none_reduction():
    z, y = _data()
    with pytest.raises(ValueError, match="'none'"):
        ll.batch_max_margin(z, y, reduction="none")


def test_nce_bad_noise():
    z, y = _data(K=3)
    with pytest.raises(ValueError, match="sums to"):
        ll.nce(z, y, noise=torch.tensor([0.5, 0.2, 0.2], dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        ll.nce(z, y, noise=torch.tensor([1.2, -0.2, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        ll.nce(z, y, noise=torch.tensor([0.5, 0.5], dtype=torch.float64))
    with pytest.raises(TypeError, match="noise"):
        ll.nce(z, y, noise=torch.tensor([1, 0, 0]))
    with pytest.raises(ValueError, match="num_noise"):
        ll.nce(z, y, num_noise=0)
    with pytest.raises(ValueError, match="mode"):
        ll.nce(z, y, mode="mc")
    with pytest.raises(ValueError, match="noise_samples must have shape"):
        ll.nce(z, y, num_noise=2, mode="sample", noise_samples=torch.zeros(5, 3, dtype=torch.long))


def test_hyperparameter_validation():
    z, y = _data()
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="margin"):
            ll.max_margin(z, y, margin=bad)
        with pytest.raises(ValueError, match="alpha"):
            ll.self_normalization(z, y, alpha=bad)


def test_modules_wrap_functions():
    z, y = _data()
    pairs = [
        (ll.nn.MaxMarginLoss(margin=0.5), lambda: ll.max_margin(z, y, margin=0.5)),
        (ll.nn.SoftmaxCauchySchwarzLoss(), lambda: ll.softmax_cauchy_schwarz(z, y)),
        (ll.nn.SigmoidCauchySchwarzLoss(), lambda: ll.sigmoid_cauchy_schwarz(z, y)),
        (ll.nn.SoftmaxTanimotoLoss(), lambda: ll.softmax_tanimoto(z, y)),
        (ll.nn.SigmoidTanimotoLoss(), lambda: ll.sigmoid_tanimoto(z, y)),
        (ll.nn.SelfNormalizationLoss(alpha=0.2), lambda: ll.self_normalization(z, y, alpha=0.2)),
        (ll.nn.NCELoss(num_noise=3), lambda: ll.nce(z, y, num_noise=3)),
        (ll.nn.OneVsAllBCELoss(), lambda: ll.binary_cross_entropy(z, y)),
        (ll.nn.BatchCrossEntropyLoss(), lambda: ll.batch_cross_entropy(z, y)),
        (ll.nn.BatchMaxMarginLoss(margin=2.0), lambda: ll.batch_max_margin(z, y, margin=2.0)),
    ]
    for module, fn in pairs:
        torch.testing.assert_close(module(z, y), fn())
