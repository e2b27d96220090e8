"""Seed 003's consistency claims as mathematics: the population minimisers of the Softmax
family's surrogates (``losslab.experiments.consistency``) against their closed forms, the
expected objectives against losslab's own losses, and the ``losslab consistency`` command."""
from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

import losslab as ll
from losslab.experiments import consistency as cons

D = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: see consistency._one_thread
    yield
    torch.set_num_threads(before)


def _eta(n, K, seed=0):
    return cons._dirichlet(K, n, torch.Generator().manual_seed(seed))


def _argmin(name, eta, q=None, S=2):
    obj = cons.expected_surrogate(name, eta, q, S)
    f, gmax, _ = cons.minimise(obj, torch.zeros_like(eta), shift_invariant=name in cons._SHIFT_INVARIANT)
    assert float(gmax.max()) <= 1e-9, (name, gmax)
    return f


def _centred(f):
    return f - f.mean(-1, keepdim=True)


# ------------------------------------------------------------ the objectives are losslab's losses


def _library_loss(name, f_row, y, negs, q):
    """One example's loss from losslab's public function: scores enter as out_bias (hidden = 0)."""
    K = f_row.shape[0]
    h, W = torch.zeros(1, 1, dtype=D), torch.zeros(K, 1, dtype=D)
    lab = torch.tensor([y])
    neg = torch.tensor(negs)
    if name == "sampled softmax (logQ)":
        return ll.sampled_softmax_loss(h, W, f_row, lab, sampled=neg, proposal=q)
    if name == "sampled softmax (no logQ)":
        return ll.sampled_softmax_loss(h, W, f_row, lab, sampled=neg, proposal=q, logq_correction=False)
    if name == "negative sampling":
        return ll.negative_sampling_loss(h, W, f_row, lab, sampled=neg, proposal=q)
    if name == "NCE":
        return ll.sampled_nce_loss(h, W, f_row, lab, sampled=neg, proposal=q)
    if name == "in-batch (logQ)":  # row 0 of a batch whose other labels are the negatives
        labels = torch.tensor([y, *negs])
        return ll.in_batch_negatives_loss(torch.zeros(len(labels), 1, dtype=D), W, f_row, labels, proposal=q,
                                          reduction="none")[0]
    raise AssertionError(name)


SAMPLED = ("sampled softmax (logQ)", "sampled softmax (no logQ)", "negative sampling", "NCE", "in-batch (logQ)")


@pytest.mark.parametrize("name", SAMPLED)
def test_expected_sampled_loss_is_the_library_loss_averaged_over_every_negative_set(name):
    K, S = 4, 2
    q = ll.log_uniform_probs(K)
    eta = _eta(2, K, seed=3)
    f = torch.randn(2, K, dtype=D, generator=torch.Generator().manual_seed(1))
    value, grad, H = cons.expected_surrogate(name, eta, q, S)(f)
    for n in range(2):
        fr = f[n].clone().requires_grad_(True)
        total = 0.0
        # every ordered draw of S negatives, each with probability Π q (independent of the enumeration in the module)
        for draw in itertools.product(range(K), repeat=S):
            p = math.prod(float(q[j]) for j in draw)
            for y in range(K):
                total = total + p * eta[n, y] * _library_loss(name, fr, y, list(draw), q)
        g, = torch.autograd.grad(total, fr, create_graph=True)
        hess = torch.stack([torch.autograd.grad(g[j], fr, retain_graph=True)[0] for j in range(K)])
        torch.testing.assert_close(value[n], total.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad[n], g.detach(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(H[n], hess, rtol=1e-9, atol=1e-11)


def test_multisets_are_every_draw_with_its_multinomial_probability():
    q = ll.log_uniform_probs(5)
    counts, log_p, exact = cons.negative_multisets(q, 3)
    assert exact and counts.shape == (math.comb(7, 3), 5)
    assert bool((counts.sum(1) == 3).all())
    torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0, dtype=D))
    # E[count_j] = S q_j
    torch.testing.assert_close((log_p.exp()[:, None] * counts).sum(0), 3 * q)
    counts, log_p, exact = cons.negative_multisets(q, 3, limit=10, generator=torch.Generator().manual_seed(0))
    assert not exact and counts.shape == (10, 5)


@pytest.mark.parametrize("name", ["softmax CE", "sparsemax", "entmax-1.5", "entmax-1.25 (bisect)"])
def test_fenchel_young_objective_is_the_expected_loss_over_labels(name):
    """E_y L(f, e_y) and the soft-target loss L(f, η) differ by a constant: same gradient, same differences."""
    K = 5
    eta = _eta(3, K, seed=4)
    fn_name, kw, _ = cons._FY[name]
    fn = getattr(ll, fn_name)
    obj = cons.expected_surrogate(name, eta)
    f1, f2 = (torch.randn(3, K, dtype=D, generator=torch.Generator().manual_seed(s)) for s in (5, 6))

    def brute(f):
        f = f.clone().requires_grad_(True)
        v = sum(eta[:, y] * fn(f, torch.full((3,), y), reduction="none", **kw) for y in range(K))
        g, = torch.autograd.grad(v.sum(), f)
        return v.detach(), g

    (v1, g1), (v2, g2) = brute(f1), brute(f2)
    o1, o2 = obj(f1), obj(f2)
    torch.testing.assert_close(o1[0] - o2[0], v1 - v2, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(o1[1], g1, rtol=1e-9, atol=1e-10)
    # the Hessian is the Jacobian of the gradient p*(f) − η (finite differences)
    eps = 1e-6
    fd = torch.stack([(obj(f1 + eps * e)[1] - obj(f1 - eps * e)[1]) / (2 * eps) for e in torch.eye(K, dtype=D)], -1)
    torch.testing.assert_close(o1[2], fd, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ minimisers against their closed forms


def test_softmax_cross_entropy_minimiser_is_log_eta_plus_c():
    eta = _eta(6, 7, seed=1)
    f = _argmin("softmax CE", eta)
    torch.testing.assert_close(_centred(f), _centred(eta.log()), rtol=0, atol=1e-6)
    rec = cons.recovered(f, eta)
    assert all(bool(v.all()) for v in rec.values())


@pytest.mark.parametrize(("name", "alpha"), [("sparsemax", 2.0), ("entmax-2 (bisect)", 2.0), ("entmax-1.5", 1.5),
                                             ("entmax-1.25 (bisect)", 1.25)])
def test_fenchel_young_minimiser_maps_to_eta_and_keeps_its_order(name, alpha):
    """p*(f*) = η, so f*_j = η_j^{α−1}/(α−1) + c (sparsemax: η + c); argmax and order are η's."""
    eta = _eta(6, 6, seed=2)
    f = _argmin(name, eta)
    mapping = {"sparsemax": ll.sparsemax, "entmax-1.5": ll.entmax15}.get(name, lambda x: ll.entmax_bisect(x, alpha=alpha))
    torch.testing.assert_close(mapping(f), eta, rtol=0, atol=1e-8)
    torch.testing.assert_close(_centred(f), _centred(eta.pow(alpha - 1) / (alpha - 1)), rtol=0, atol=1e-6)
    assert torch.equal(f.argmax(-1), eta.argmax(-1))
    assert bool(cons.recovered(f, eta)["order (DCG)"].all())


def test_nce_minimiser_is_log_eta_and_negative_sampling_is_shifted_by_log_q():
    K, S = 5, 3
    q = ll.log_uniform_probs(K)
    eta = _eta(4, K, seed=5)
    torch.testing.assert_close(_argmin("NCE", eta, q, S), eta.log(), rtol=0, atol=1e-6)  # no free constant
    f_ns = _argmin("negative sampling", eta, q, S)
    torch.testing.assert_close(f_ns, torch.log(eta / ((1 - eta) * S * q)), rtol=0, atol=1e-6)


# A constructed pair: η prefers class 0, but Q proposes class 0 three times as often.
ETA = torch.tensor([[0.5, 0.3, 0.2]], dtype=D)
Q = torch.tensor([0.6, 0.2, 0.2], dtype=D)


def test_sampled_softmax_without_correction_is_shifted_by_log_q_and_fails_top1():
    f1 = _argmin("sampled softmax (no logQ)", ETA, Q, S=1)
    torch.testing.assert_close(_centred(f1), _centred(torch.log(ETA / Q)), rtol=0, atol=1e-6)  # S = 1: exact
    for S in (1, 4):
        f_raw = _argmin("sampled softmax (no logQ)", ETA, Q, S)
        f_cor = _argmin("sampled softmax (logQ)", ETA, Q, S)
        assert int(f_raw.argmax()) == 1 and not bool(cons.recovered(f_raw, ETA)["top-1"].all())
        if S == 4:
            assert int(f_cor.argmax()) == 0 and bool(cons.recovered(f_cor, ETA)["top-1"].all())
    # negative sampling fails the same pair: η/((1 − η) q) = (1.67, 2.14, 1.25)
    assert int(_argmin("negative sampling", ETA, Q, 4).argmax()) == 1


def test_corrected_sampled_softmax_bias_shrinks_as_s_grows():
    """Consistent only as S → ∞: the minimiser's softmax approaches η, monotonically here."""
    eta = torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=D)
    q = ll.log_uniform_probs(4)
    dev = [float((torch.softmax(_argmin("sampled softmax (logQ)", eta, q, S), -1) - eta).abs().max())
           for S in (1, 2, 4, 8, 16)]
    assert all(a > b for a, b in zip(dev, dev[1:])), dev
    assert dev[0] > 0.05 and dev[-1] < 0.01, dev


def test_in_batch_with_log_q_is_exact_at_one_negative():
    eta = _eta(4, 5, seed=6)
    q = ll.log_uniform_probs(5)
    f = _argmin("in-batch (logQ)", eta, q, S=1)
    torch.testing.assert_close(_centred(f), _centred(eta.log()), rtol=0, atol=1e-6)


def test_softmax_ce_minimiser_ranks_for_the_best_expected_dcg():
    """Over all K! rankings, the expected DCG under y ~ η (a loop, not ndcg_ratio) is largest for f*'s order."""
    K = 5
    eta = _eta(3, K, seed=7)
    f = _argmin("softmax CE", eta)
    for n in range(3):
        def dcg(perm):
            return sum(float(eta[n, j]) / math.log2(r + 2) for r, j in enumerate(perm))

        best = max(itertools.permutations(range(K)), key=dcg)
        assert list(best) == f[n].argsort(descending=True).tolist()
    assert torch.allclose(cons.ndcg_ratio(f, eta), torch.ones(3, dtype=D))
    worse = f.flip(-1)  # the reversed order loses DCG: the ratio can fail
    assert bool((cons.ndcg_ratio(worse, eta) < 0.99).all())


def test_recovered_counts_ties_between_different_probabilities_as_failures():
    eta = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.4, 0.4, 0.1, 0.1]], dtype=D)
    f = torch.tensor([[1.0, 1.0, 0.0, -1.0], [2.0, 2.0, 0.0, 0.0]], dtype=D)
    r = cons.recovered(f, eta)
    assert r["top-1"].tolist() == [False, True]  # row 0: a tie with a worse class; row 1: η itself ties
    assert r["order (DCG)"].tolist() == [False, True]
    r = cons.recovered(f, eta, k=2)
    assert r["top-k"].tolist() == [True, True]


# ------------------------------------------------------------ the command and the figures


def test_consistency_command_quick(tmp_path, capsys):
    from losslab.cli import main

    rc = main(["consistency", "--quick", "--distributions", "10", "--seeds", "1", "--steps", "4", "--no-progress",
               "--out", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    folder = tmp_path / "consistency"
    payload = json.loads((folder / "consistency.json").read_text())
    rows = payload["table"]["surrogates"]
    assert set(rows) == set(cons.SURROGATES)
    assert payload["table"]["expectation_over_negatives"].startswith("exact")
    for name in ("softmax CE", "sparsemax", "entmax-1.5", "NCE"):
        assert rows[name]["verdict"] == {m: "consistent" for m in cons.METRICS}, name
    assert rows["sampled softmax (no logQ)"]["verdict"]["order (DCG)"] == "not consistent"
    assert all(v is not False for r in rows.values() for v in r["agrees_with_theory"].values())
    curves = payload["convergence"]["curves"]
    assert all(len(c[k]) == 4 for c in curves.values() for k in ("loss", "top1", "ndcg@10", "grad_error"))
    # losslab's cross-entropy against PyTorch's, float32: the same gradient up to rounding
    assert max(curves["softmax CE"]["grad_error"]) < 1e-5
    assert min(curves["sampled softmax (no logQ)"]["grad_error"][1:]) > 1e-2
    md = (folder / "consistency.md").read_text()
    assert md.startswith("# Consistency of the Softmax family") and "| NCE |" in md
    if cons_matplotlib():
        for png in ("consistency.png", "consistency_convergence.png"):
            assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({png})" in md


def cons_matplotlib():
    from losslab.experiments._common import matplotlib_available

    return matplotlib_available()


def test_figure_functions_draw_and_refuse_a_link(monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(cons, "QUICK_TABLE", dict(classes=5, distributions=4, seeds=1, num_sampled=2))
    monkeypatch.setattr(cons, "QUICK_CURVES", dict(classes=12, dim=4, train=200, test=100, steps=3, num_sampled=3))
    for fn in (cons.figure_consistency, cons.figure_convergence):
        fig = fn(quick=True)
        assert fig.axes and fig.get_suptitle()
        with pytest.raises(ValueError, match="--link"):
            fn(link=ll.links.sigmoid())
