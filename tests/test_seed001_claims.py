"""Seed 001 (Keren, Sabato & Schuller 2019) claims as tests, and the statistics behind
``losslab slc --seeds N`` (Table 1 with 95% intervals over seeds)."""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import losslab
from losslab.experiments._common import mean_ci95, t_quantile_975
from losslab.pols import logit_separation

SRC = Path(__file__).resolve().parents[1] / "src"

# ------------------------------------------------------------------ Lemma 1 (App. D)

M = 3  # batch size m
N = 7  # sample size n: C(7, 3) = 35 batches, every pair of examples shares 5 of them
K = 4
GAMMA = 1.0

# eps' of each batch loss L, below which L(B) < eps' forces the PoLS inside the batch B:
# - batch max-margin: gamma / m (App. D (2), verbatim);
# - batch cross-entropy: App. D (1) only says "some eps > 0" (continuity of KL). Re-derived:
#   L_c(B) = KL(P_B || Q_B) (losslab's batch_cross_entropy is exactly this KL), and by
#   Pinsker |P_B(i,j) - Q_B(i,j)| <= TV <= sqrt(KL / 2) < 1/(2m) when KL < 1/(2 m^2); then
#   every true probability exceeds 1/(2m) and every false one is below it, and since all
#   share the normaliser Z(B) the same order holds for the logits. (The printed proof
#   writes "z_y(x) > 1/(2m) > z_y'(x')", comparing logits with a probability: it means
#   e^z / Z(B); and in (2) its last "z_y(x')" should read z_{y''}(x'), a false logit.)
BATCH_LOSSES = {
    "batch_max_margin": (lambda z, y: losslab.batch_max_margin(z, y, margin=GAMMA), GAMMA / M),
    "batch_cross_entropy": (lambda z, y: losslab.batch_cross_entropy(z, y), 1.0 / (2 * M * M)),
}


def _random_sample(gen: torch.Generator, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a sample of N examples: true logits around +a, false around -a, for a
    separation scale a drawn over [0, 12] and a spread (from hopeless to far past both eps'), or
    ``kind='one_pair'``: widely separated except that one example's false logit sits above
    another example's true logit while every example is still classified correctly by
    argmax (the case PoLS is about)."""
    y = torch.randint(0, K, (N,), generator=gen)
    a = 12.0 * float(torch.rand((), generator=gen, dtype=torch.float64))
    # spread log-uniform in [1e-3, 1]: batch cross-entropy is small only when the true
    # logits are also nearly equal (Q_B must approach the uniform P_B)
    sd = 10.0 ** (-3.0 * float(torch.rand((), generator=gen, dtype=torch.float64)))
    z = -a + sd * torch.randn(N, K, generator=gen, dtype=torch.float64)
    z[torch.arange(N), y] = a + sd * torch.randn(N, generator=gen, dtype=torch.float64)
    if kind == "one_pair":
        z = 20.0 * torch.where(torch.nn.functional.one_hot(y, K).bool(), 1.0, -1.0).double()
        j = (int(y[0]) + 1) % K
        z[0, j] = 5.0  # false logit of example 0 ...
        z[1, y[1]] = 4.0  # ... above example 1's true logit; both still argmax-correct
    return z, y


def _batch_losses(L, z, y) -> torch.Tensor:
    """L(B) for every batch B of size M out of the sample (the exact E_B is their mean)."""
    return torch.stack([L(z[list(b)], y[list(b)]) for b in itertools.combinations(range(N), M)])


@pytest.mark.parametrize("name", sorted(BATCH_LOSSES))
def test_lemma1_batch_loss_alignment_lifts_from_batches_to_the_sample(name):
    """Seed 001, Appendix D, **Lemma 1**: if the per-batch loss L is aligned with the PoLS,
    then the batch loss l(S) := E_B[L(B)] over uniformly random batches B of size m is
    also aligned with the PoLS. Quantitatively (the proof): with eps' the threshold of L,
    l(S) < eps' / C(n, m) implies the PoLS on the whole sample S, because L >= 0 makes
    every batch's L(B) <= C(n, m) l(S) < eps', and every pair of examples shares a batch.

    Checked over random samples and all their batches (n = 7, m = 3, K = 4): (i) L is
    aligned on batches: L(B) < eps' => the PoLS holds inside B; (ii) L(B) <= C(n,m) l(S);
    (iii) l(S) < eps'/C(n,m) => the PoLS holds on S (`logit_separation(...).separated`),
    and conversely a sample violating the PoLS has l(S) >= eps'/C(n,m) -- including
    samples where every example is argmax-correct but one false logit beats another
    example's true logit. The random samples must hit both sides of the threshold."""
    L, eps_batch = BATCH_LOSSES[name]
    n_batches = math.comb(N, M)
    eps = eps_batch / n_batches
    gen = torch.Generator().manual_seed(1)
    below = violating = one_pair = 0
    for trial in range(240):
        z, y = _random_sample(gen, "one_pair" if trial % 8 == 0 else "random")
        losses = _batch_losses(L, z, y)
        ell = float(losses.mean())
        assert float(losses.min()) >= 0.0
        for b, Lb in zip(itertools.combinations(range(N), M), losses):  # (i)
            if Lb < eps_batch:
                assert logit_separation(z[list(b)], y[list(b)]).separated, (name, trial, b, float(Lb))
        assert float(losses.max()) <= n_batches * ell * (1 + 1e-12) + 1e-300  # (ii)
        separated = logit_separation(z, y).separated
        if ell < eps:  # (iii)
            below += 1
            assert separated, (name, trial, ell, eps)
        if not separated:
            violating += 1
            assert ell >= eps, (name, trial, ell, eps)
            if trial % 8 == 0:
                one_pair += 1
    # the premise and its failure both occur: the implication was actually exercised
    assert below >= 20 and violating >= 20 and one_pair == 30, (below, violating, one_pair)


@pytest.mark.parametrize("name", sorted(BATCH_LOSSES))
def test_lemma1_random_batch_estimate_matches_the_exact_expectation(name):
    """l(S) = E_B[L(B)] over *random* batches, as training estimates it: the Monte Carlo
    mean of L over uniformly drawn batches converges to the exact mean over all C(n, m)
    batches used in the Lemma 1 test (within 4 standard errors), so the lemma's l is the
    quantity the batch losses' SGD minimises."""
    L, _ = BATCH_LOSSES[name]
    gen = torch.Generator().manual_seed(2)
    z, y = _random_sample(gen, "random")
    exact = float(_batch_losses(L, z, y).mean())
    draws = torch.stack([L(z[idx], y[idx]) for idx in (torch.randperm(N, generator=gen)[:M] for _ in range(4000))])
    se = float(draws.std()) / math.sqrt(len(draws))
    assert abs(float(draws.mean()) - exact) <= 4 * se + 1e-12


# ------------------------------------------------------- 95% t-interval over seeds


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 29, 30, 31, 40, 60, 100, 1000, 10**6])
def test_t_quantile_matches_scipy(df):
    """The runtime t-quantile (a table to df = 30, Cornish-Fisher beyond) equals
    scipy.stats.t.ppf(0.975, df) to 1e-5."""
    stats = pytest.importorskip("scipy.stats")
    assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-5)


def test_mean_ci95_matches_scipy_interval():
    """mean_ci95 equals scipy's t.interval(0.95, n-1, loc=mean, scale=sem) on random data,
    and drops non-finite values (diverged runs) from n."""
    stats = pytest.importorskip("scipy.stats")
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 8, 40):
        x = rng.normal(0.3, 0.1, n)
        lo, hi = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
        c = mean_ci95(list(x) + [float("nan")])
        assert c["n"] == n
        assert c["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert (c["low"], c["high"]) == pytest.approx((lo, hi), rel=1e-5, abs=1e-9)
    one = mean_ci95([0.5])
    assert one["mean"] == 0.5 and one["half_width"] is None
    with pytest.raises(ValueError, match="df"):
        t_quantile_975(0)


def test_slc_seeds_smoke(tmp_path):
    """``losslab slc --seeds 2`` on a tiny setting: slc.json has, per Table 1 cell, the
    mean and a 95% interval that contains the mean of the two seeds' own values (read
    from ``per_seed``), the same for the mean relative improvement and Table 2, and the
    markdown and the error-bar chart are written."""
    cmd = [sys.executable, "-m", "losslab", "slc", "--seeds", "2", "--limit", "120", "--epochs", "1",
           "--lrs", "0.1", "--objectives", "cross_entropy,batch_cross_entropy", "--threads", "1",
           "--no-progress", "--out", str(tmp_path)]
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "slc" / "slc.json").read_text())
    assert res["seeds"] == [0, 1] and len(res["per_seed"]) == 2
    assert [s["config"]["seed"] for s in res["per_seed"]] == [0, 1]
    for j, row in enumerate(res["table1"]):
        for m in ("1-AUPRC", "1-P@0.9", "1-P@0.99"):
            values = [s["table1"][j]["test"][m] for s in res["per_seed"]]
            ci = row["test_ci"][m]
            assert ci["n"] == 2 and ci["values"] == values
            assert row["test"][m] == pytest.approx(sum(values) / 2)
            assert ci["low"] <= sum(values) / 2 <= ci["high"]
            assert ci["half_width"] == pytest.approx(12.706205 * abs(values[0] - values[1]) / 2, rel=1e-6)
    for m, ci in res["mean_relative_improvement_ci"].items():
        values = [s["mean_relative_improvement"][m] for s in res["per_seed"]]
        assert ci["low"] <= sum(values) / 2 <= ci["high"]
        assert res["mean_relative_improvement"][m] == pytest.approx(sum(values) / 2)
    assert res["table2"] and all("ci" in r for r in res["table2"])
    md = (tmp_path / "slc" / "slc.md").read_text()
    assert "±" in md and "Mean relative improvement" in md
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "slc" / "slc.png").stat().st_size > 0
