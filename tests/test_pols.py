"""Principle of Logit Separation (seed 001): separation measure, Sect. 3 counter-examples,
and the empirical alignment probe reproducing the paper's classification of all eleven."""
import math

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from losslab.analysis import (
    COUNTER_EXAMPLES,
    PAPER_POLS_ALIGNED,
    counter_example,
    logit_separation,
    pols_alignment,
)

LOSSES = {
    "cross_entropy": F.cross_entropy,
    "max_margin": ll.max_margin,
    "softmax_cauchy_schwarz": ll.softmax_cauchy_schwarz,
    "sigmoid_cauchy_schwarz": ll.sigmoid_cauchy_schwarz,
    "softmax_tanimoto": ll.softmax_tanimoto,
    "self_normalization": ll.self_normalization,
    "nce": ll.nce,
    "binary_cross_entropy": ll.binary_cross_entropy,
    "sigmoid_tanimoto": ll.sigmoid_tanimoto,
    "batch_cross_entropy": ll.batch_cross_entropy,
    "batch_max_margin": ll.batch_max_margin,
}
INFIMUM = {"cross_entropy": 0.0, "max_margin": 0.0, "softmax_cauchy_schwarz": 0.0, "softmax_tanimoto": -1.0,
           "sigmoid_cauchy_schwarz": 0.0}


def _brute_force_fraction(z, y):
    N, K = z.shape
    true = [float(z[i, y[i]]) for i in range(N)]
    false = [float(z[i, j]) for i in range(N) for j in range(K) if j != y[i]]
    return sum(t > f for t in true for f in false) / (len(true) * len(false))


def test_logit_separation_matches_brute_force_including_ties():
    g = torch.Generator().manual_seed(0)
    z = torch.randint(-3, 4, (9, 4), generator=g).double()  # many ties
    y = torch.randint(0, 4, (9,), generator=g)
    r = logit_separation(z, y)
    assert r.fraction == pytest.approx(_brute_force_fraction(z, y))
    assert r.num_pairs == 9 * 27
    true = z[torch.arange(9), y]
    mask = torch.ones_like(z, dtype=torch.bool)
    mask[torch.arange(9), y] = False
    assert r.margin == pytest.approx(float(true.min() - z[mask].max()))
    # class-level fractions by brute force
    for k in range(4):
        t = z[y == k, k].tolist()
        f = z[y != k, k].tolist()
        expected = sum(a > b for a in t for b in f) / (len(t) * len(f)) if t and f else float("nan")
        got = float(r.class_fraction[k])
        assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected)
    # the reported threshold achieves the reported balanced accuracy, and no distinct value does better
    def bal(T):
        tpr = float((true > T).double().mean())
        tnr = float((z[mask] <= T).double().mean())
        return (tpr + tnr) / 2
    assert bal(r.threshold) == pytest.approx(r.balanced_accuracy)
    for T in torch.unique(z).tolist() + [float(z.min()) - 1]:
        assert bal(T) <= r.balanced_accuracy + 1e-12


def test_separated_sample_has_fraction_one_and_separating_threshold():
    z = torch.tensor([[3.0, -1.0, -2.0], [-4.0, 1.0, -0.5], [-3.0, -2.5, 0.5]])
    r = logit_separation(z, torch.tensor([0, 1, 2]))
    assert r.separated and r.fraction == 1.0 and r.balanced_accuracy == 1.0
    assert r.margin == pytest.approx(1.0) and -0.5 <= r.threshold < 0.5  # min true 0.5, max false −0.5


def test_logit_separation_validates():
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        logit_separation(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="labels"):
        logit_separation(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="labels must lie"):
        logit_separation(torch.zeros(2, 3), torch.tensor([0, 5]))


@pytest.mark.parametrize("name", COUNTER_EXAMPLES)
def test_counter_example_loss_tends_to_infimum_while_separation_stays_below_one(name):
    fn = LOSSES[name]
    values = []
    for alpha in (2.0, 5.0, 20.0, 100.0):
        z, y = counter_example(name, alpha)
        values.append(float(fn(z, y)))
        r = logit_separation(z, y)
        assert not r.separated and r.fraction == 0.75
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(INFIMUM[name], abs=1e-3)


def test_counter_example_closed_forms_of_the_paper():
    for alpha in (0.5, 1.0, 3.0):
        z, y = counter_example("cross_entropy", alpha)
        assert float(F.cross_entropy(z, y, reduction="sum")) == pytest.approx(2 * math.log1p(math.exp(-alpha)))
    z, y = counter_example("max_margin", 1.0)
    assert float(ll.max_margin(z, y, margin=1.0, reduction="sum")) == 0.0  # α = γ
    for alpha in (2.0, 10.0):
        z, y = counter_example("sigmoid_cauchy_schwarz", alpha)
        expected = -math.log(alpha / math.sqrt(alpha**2 + 1))
        torch.testing.assert_close(ll.sigmoid_cauchy_schwarz(z, y, reduction="none"),
                                   torch.full((2,), expected, dtype=torch.float64))
    with pytest.raises(ValueError, match="alpha"):
        counter_example("sigmoid_cauchy_schwarz", 1.0)
    with pytest.raises(ValueError, match="loss_name"):
        counter_example("nce", 2.0)


@pytest.fixture(scope="module")
def probes():
    return {name: pols_alignment(fn) for name, fn in LOSSES.items()}


@pytest.mark.parametrize("name", list(LOSSES))
def test_probe_reproduces_paper_classification(probes, name):
    probe = probes[name]
    assert probe.aligned == PAPER_POLS_ALIGNED[name], probe
    if PAPER_POLS_ALIGNED[name]:
        # a small enough loss (within eps of the infimum) comes with full separation
        assert probe.separation.separated and probe.separation.fraction == 1.0


@pytest.mark.parametrize("name", ["cross_entropy", "max_margin", "softmax_cauchy_schwarz", "softmax_tanimoto"])
def test_shift_invariant_losses_reach_small_loss_unseparated(probes, name):
    assert probes[name].separation.fraction < 1.0


def test_pols_alignment_validates():
    with pytest.raises(TypeError, match="callable"):
        pols_alignment("cross_entropy")
    with pytest.raises(ValueError, match="num_examples"):
        pols_alignment(F.cross_entropy, num_examples=1)
    with pytest.raises(ValueError, match="scalar"):
        pols_alignment(lambda z, y: F.cross_entropy(z, y, reduction="none"), steps=2)
