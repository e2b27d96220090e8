"""sparsemax / 1.5-entmax on a partial sort: exact to the full sort, doubling fallback, allocations.

The thresholds are found on the top-k entries of each row (``fenchel_young._TOPK_FIRST``
first), doubled on the rows whose support may run past the prefix. Setting the first k
beyond K gives the full sort (the former algorithm), so each case compares the two paths in
one process; a tiny first k forces every row through several doublings.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import losslab as ll
from losslab import fenchel_young as fy
from _dispatch_count import OpCounter
from reference.fenchel_young import fy_loss_row, tsallis_argmax

MAPS = {"sparsemax": (ll.sparsemax, 2.0), "entmax15": (ll.entmax15, 1.5)}
LOSSES = {"sparsemax": (ll.sparsemax_loss, 2.0), "entmax15": (ll.entmax15_loss, 1.5)}


def _cases(dtype):
    """Scores whose supports are larger than small prefixes, with ties and -inf masks."""
    g = torch.Generator().manual_seed(0)
    wide = torch.randn(6, 40, generator=g, dtype=dtype) * 0.05  # supports of tens of entries
    ties = (torch.randint(-6, 2, (6, 40), generator=g) * 0.05).to(dtype)  # many exact ties, at the boundary too
    masked = torch.randn(6, 40, generator=g, dtype=dtype) * 0.1
    masked[:, ::3] = -torch.inf  # masked classes inside and past every prefix
    masked[0, 2:] = -torch.inf  # a row with a single finite score (column 1)
    mixed = torch.randn(6, 40, generator=g, dtype=dtype) * 3.0  # small supports: the first prefix suffices
    return {"wide": wide, "ties": ties, "masked": masked, "mixed": mixed}


def _run(fn, x, *args, first_k, monkeypatch, grad=None):
    monkeypatch.setattr(fy, "_TOPK_FIRST", first_k)
    x = x.detach().clone().requires_grad_()
    out = fn(x, *args)
    out.backward(torch.ones_like(out) if grad is None else grad)
    return out.detach(), x.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("first_k", [1, 2, 3, 7, 32])
@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
def test_partial_sort_equals_full_sort_on_the_fallback_path(name, first_k, dtype, monkeypatch):
    fn, _ = MAPS[name]
    loss, _ = LOSSES[name]
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for case, x in _cases(dtype).items():
        v = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        p_full, g_full = _run(fn, x, first_k=10**9, monkeypatch=monkeypatch, grad=v)
        p_part, g_part = _run(fn, x, first_k=first_k, monkeypatch=monkeypatch, grad=v)
        torch.testing.assert_close(p_part, p_full, **tol, msg=f"{case}: mapping")
        torch.testing.assert_close(g_part, g_full, **tol, msg=f"{case}: mapping backward")
        labels = torch.arange(x.shape[0]) * 3 % x.shape[1] + 1  # finite scores (column 0 mod 3 is masked)
        l_full, lg_full = _run(loss, x, labels, first_k=10**9, monkeypatch=monkeypatch)
        l_part, lg_part = _run(loss, x, labels, first_k=first_k, monkeypatch=monkeypatch)
        torch.testing.assert_close(l_part, l_full, **tol, msg=f"{case}: loss")
        torch.testing.assert_close(lg_part, lg_full, **tol, msg=f"{case}: loss gradient")
        # the support really is larger than the first prefix on the fallback cases
        if case in ("wide", "ties") and first_k <= 7:
            assert int((p_full > 0).sum(-1).max()) > first_k


@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
def test_fallback_matches_root_finding_reference(name, monkeypatch):
    # Against scipy's brentq on the threshold and the textbook Ω*(θ) + Ω(y) − ⟨θ, y⟩.
    monkeypatch.setattr(fy, "_TOPK_FIRST", 2)
    fn, alpha = MAPS[name]
    loss, _ = LOSSES[name]
    x = _cases(torch.float64)["wide"]
    labels = torch.tensor([0, 5, 9, 13, 21, 39])
    expect_p = torch.tensor(np.stack([tsallis_argmax(row, alpha) for row in x.numpy()]))
    torch.testing.assert_close(fn(x), expect_p, rtol=1e-9, atol=1e-12)
    eye = torch.eye(x.shape[1], dtype=torch.float64)
    expect_l = torch.tensor([fy_loss_row(row, eye[c].numpy(), alpha) for row, c in zip(x.numpy(), labels)], dtype=torch.float64)
    torch.testing.assert_close(loss(x, labels, reduction="none"), expect_l, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
def test_gradcheck_on_the_fallback_path(name, monkeypatch):
    monkeypatch.setattr(fy, "_TOPK_FIRST", 2)
    fn, _ = MAPS[name]
    loss, _ = LOSSES[name]
    x = (_cases(torch.float64)["wide"][:3, :12] * 4).requires_grad_()  # supports of 3-12 entries
    assert int((fn(x) > 0).sum(-1).min()) > 2
    labels = torch.tensor([1, 4, 7])
    assert torch.autograd.gradcheck(lambda t: fn(t), (x,))
    assert torch.autograd.gradcheck(lambda t: loss(t, labels, reduction="none"), (x,))


@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
def test_equals_the_entmax_package(name):
    entmax = pytest.importorskip("entmax", reason="the entmax package is an optional peer")
    fn, _ = MAPS[name]
    loss, _ = LOSSES[name]
    peer_map = entmax.sparsemax if name == "sparsemax" else entmax.entmax15
    peer_loss = entmax.sparsemax_loss if name == "sparsemax" else entmax.entmax15_loss
    g = torch.Generator().manual_seed(3)
    # 300 classes: supports from a few (scale 2) to past the first prefix of 100 (scale 0.02)
    x = torch.cat([torch.randn(8, 300, generator=g, dtype=torch.float64) * s for s in (2.0, 0.2, 0.02)])
    labels = torch.randint(300, (x.shape[0],), generator=g)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    ours_x, peer_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.testing.assert_close(fn(ours_x), peer_map(peer_x, -1, 10), rtol=1e-10, atol=1e-12)
    fn(ours_x).backward(v)
    peer_map(peer_x, -1, 10).backward(v)
    torch.testing.assert_close(ours_x.grad, peer_x.grad, rtol=1e-10, atol=1e-12)
    ours_x.grad = peer_x.grad = None
    ours_l, peer_l = loss(ours_x, labels, reduction="none"), peer_loss(peer_x, labels, 100)
    torch.testing.assert_close(ours_l, peer_l, rtol=1e-9, atol=1e-12)
    ours_l.sum().backward()
    peer_l.sum().backward()
    torch.testing.assert_close(ours_x.grad, peer_x.grad, rtol=1e-10, atol=1e-12)


def test_doubling_schedule_runs_only_on_unsolved_rows(monkeypatch):
    # Row 0 has a support of 1, row 1 of all 40 entries. K = 40 < 64·2 puts the first prefix
    # at k = 1 (the partial-sort regime of PyTorch's CPU topk); only row 1 is redone, at
    # k = 2, 4, ..., 32, then with the full sort (64 >= 40).
    monkeypatch.setattr(fy, "_TOPK_FIRST", 4)
    x = torch.stack([torch.arange(40.0) * 2.0, torch.zeros(40)])
    with OpCounter() as c:
        p = ll.sparsemax(x)
    torch.testing.assert_close(p[1], torch.full((40,), 1 / 40))
    assert p[0, -1] == 1 and p[0].sum() == 1
    assert c.count("topk") == 6 and c.count("sort") == 1


def test_first_prefix_sized_by_the_support_bound():
    # Scores 0, −0.1, ..., −0.5 then far below: six entries above −1 bound the support, so a
    # single topk(8) (64·8 <= 1000) solves the row without a fallback.
    x = torch.cat([-0.1 * torch.arange(6.0), torch.full((994,), -50.0)]).expand(3, -1)
    with OpCounter() as c:
        p = ll.sparsemax(x)
    assert c.count("topk") == 1 and c.count("sort") == 0
    torch.testing.assert_close(p[0, :6].sum(), torch.tensor(1.0))
    torch.testing.assert_close(p[0], torch.tensor(tsallis_argmax(x[0].double().numpy(), 2.0), dtype=torch.float32))


@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
def test_no_full_sort_and_few_full_size_buffers(name):
    # At K = 1000 and typical scores the supports fit a prefix of at most 32 (1.5-entmax's rows
    # with more than 8 are redone on the rows alone, at 16 then 32): no full sort. A forward +
    # backward of the loss allocates two [N, K] float buffers in all (p, and the gradient;
    # besides a boolean [N, K] mask for the support bound), the mapping four (p; √p or the
    # support indicator, s ⊙ v and the result). The full-sort forms allocated 12 (loss) and
    # 15 / 39 (mappings), transient ones included.
    loss, _ = LOSSES[name]
    fn, _ = MAPS[name]
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, 1000, generator=g) * 2).requires_grad_()
    y = torch.randint(1000, (64,), generator=g)
    full = x.numel() * x.element_size()
    with OpCounter() as c:
        loss(x, y).backward()
    assert c.count("sort") == 0 and c.count("topk") <= 3
    assert len(c.big(full)) == 2, c.big(full)
    x.grad = None
    v = torch.randn(x.shape, generator=g)
    with OpCounter() as c:
        fn(x).backward(v)
    assert c.count("sort") == 0 and c.count("topk") <= 3
    assert len(c.big(full)) <= 4, c.big(full)
