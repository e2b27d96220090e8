"""Fast paths that must stay fast: listnet without a mask, the in-batch contrastive losses,
the chunked quadrature of ``matching_loss`` and ``SingleLogitHead`` without value checks.

Each fix is held by two kinds of test, neither of which times anything:

* values and gradients equal to an independent reference (the naive loops of
  ``tests/reference``, a plain autograd formulation, a closed form) and float64 gradcheck;
* a count of the ATen ops one forward+backward issues, or of the peak bytes of the tensors
  it keeps alive, taken by a ``TorchDispatchMode`` -- deterministic for a given torch
  version, so a regression fails on any machine.
"""
from __future__ import annotations

import weakref

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import losslab as ll
from losslab import links, slc
from losslab import matching as _matching

import reference.catalogue as ref_cat
import reference.ranking as ref_rank

F64 = torch.float64


class OpLog(TorchDispatchMode):
    """Records every ATen op that reaches the dispatcher and the peak bytes of the tensor
    storages created inside the block that are alive at the same time."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []
        self.live = self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key, n):
        self.live -= n
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append(func.__name__.split(".")[0])
        # A view or an in-place op returns an argument's storage: not a new allocation.
        given = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                key, n = st.data_ptr(), st.nbytes()
                if n == 0 or key in self._seen or key in given:
                    continue
                self._seen.add(key)
                self.live += n
                self.peak = max(self.peak, self.live)
                weakref.finalize(st, self._free, key, n)
        return out


def _forward_backward(fn, *inputs):
    with OpLog() as log:
        fn(*inputs).backward()
    return log


# ------------------------------------------------------------------------------- listnet


@pytest.mark.parametrize("target", ["softmax", "normalize"])
def test_listnet_without_mask_equals_the_naive_loop_and_the_masked_path(target):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 5, 7, generator=g, dtype=F64, requires_grad=True)
    lab = torch.randint(0, 4, (3, 5, 7), generator=g).to(F64)
    lab[0, 0] = 0  # a list without target mass ('normalize': loss 0)
    got = ll.listnet(s, lab, target=target, reduction="none")
    torch.testing.assert_close(got, ref_rank.listnet(s, lab, target=target))
    (g_fast,) = torch.autograd.grad(got.sum(), s)
    masked = ll.listnet(s, lab, torch.ones_like(lab, dtype=torch.bool), target=target, reduction="none")
    (g_masked,) = torch.autograd.grad(masked.sum(), s)
    torch.testing.assert_close(got, masked, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(g_fast, g_masked, rtol=1e-12, atol=1e-13)
    w = torch.rand(2, generator=g, dtype=F64)
    s2 = s[0, :2].detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: ll.listnet(x, lab[0, :2], target=target, sample_weight=w), (s2,))


def test_listnet_without_mask_keeps_its_checks_and_nan():
    s = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="finite"):
        ll.listnet(s, torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match=">= 0"):
        ll.listnet(s, torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, 2.0]]), target="normalize")
    s[1, 0] = float("nan")
    out = ll.listnet(s, torch.ones(2, 3), reduction="none")
    assert torch.isfinite(out[0]) and torch.isnan(out[1])


def test_listnet_without_mask_issues_few_ops_and_no_masking():
    s = torch.randn(64, 16, requires_grad=True)
    lab = torch.randint(0, 5, (64, 16)).float()
    log = _forward_backward(lambda: ll.listnet(s, lab))
    # 22 with torch 2.13 (the masked path issued 78 with no mask given); no mask is built,
    # filled or applied.
    assert len(log.ops) <= 30, log.ops
    assert not {"ones", "where", "masked_fill", "logsumexp"} & set(log.ops), log.ops


# ------------------------------------------------------------------------- contrastive


def _plain_nt_xent(z1, z2, t):
    """SimCLR's NT-Xent as usually written: an eye mask, a masked copy, a division."""
    N = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = (z @ z.T / t).masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))
    partner = torch.cat([torch.arange(N, 2 * N), torch.arange(N)])
    per = torch.logsumexp(sim, -1) - sim.gather(1, partner[:, None])[:, 0]
    return 0.5 * (per[:N] + per[N:])


def _plain_in_batch(q, k, scale):
    logits = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T * scale
    return torch.logsumexp(logits, -1) - logits.diagonal()


def _contrastive_cases(N, D, g):
    z1 = torch.randn(N, D, generator=g, dtype=F64, requires_grad=True)
    z2 = torch.randn(N, D, generator=g, dtype=F64, requires_grad=True)
    return [
        ("nt_xent", lambda a, b: ll.nt_xent(a, b, temperature=0.3, reduction="none"),
         lambda a, b: _plain_nt_xent(a, b, 0.3), lambda a, b: ref_cat.nt_xent(a, b, temperature=0.3), (z1, z2)),
        ("info_nce", lambda a, b: ll.info_nce(a, b, temperature=0.2, reduction="none"),
         lambda a, b: _plain_in_batch(a, b, 1 / 0.2), lambda a, b: ref_cat.info_nce(a, b, temperature=0.2), (z1, z2)),
        ("multiple_negatives_ranking", lambda a, b: ll.multiple_negatives_ranking(a, b, scale=7.0, reduction="none"),
         lambda a, b: _plain_in_batch(a, b, 7.0), lambda a, b: ref_cat.multiple_negatives_ranking(a, b, scale=7.0), (z1, z2)),
    ]


@pytest.mark.parametrize("N, D", [(5, 3), (4, 9)])  # D ≤ N scales the embeddings, D > N the product
def test_in_batch_contrastive_values_and_gradients(N, D):
    g = torch.Generator().manual_seed(N * 10 + D)
    for name, fn, plain, naive, inputs in _contrastive_cases(N, D, g):
        got = fn(*inputs)
        torch.testing.assert_close(got, naive(*inputs), msg=name)
        grads = torch.autograd.grad(got.sum(), inputs)
        want = torch.autograd.grad(plain(*inputs).sum(), inputs)
        for a, b in zip(grads, want):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12, msg=name)
        assert torch.autograd.gradcheck(fn, inputs), name


def test_info_nce_with_negatives_folds_the_temperature_exactly():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(4, 3, generator=g, dtype=F64), torch.randn(4, 3, generator=g, dtype=F64)
    for neg in (torch.randn(5, 3, generator=g, dtype=F64), torch.randn(4, 2, 3, generator=g, dtype=F64)):
        got = ll.info_nce(q, k, neg, temperature=0.15, reduction="none")
        torch.testing.assert_close(got, ref_cat.info_nce(q, k, neg, temperature=0.15))
        assert torch.autograd.gradcheck(lambda a, b, c: ll.info_nce(a, b, c, temperature=0.15),
                                        (q.requires_grad_(), k.requires_grad_(), neg.requires_grad_()))


@pytest.mark.parametrize("name", ["nt_xent", "info_nce", "multiple_negatives_ranking"])
def test_in_batch_contrastive_keeps_at_most_three_batch_matrices(name):
    # Peak live bytes of a forward+backward in units of the [M, M] similarity matrix (float32,
    # D small so the embeddings are negligible). A plain implementation peaks at ~3.25 units
    # (similarity, log-probabilities, their gradient); the eye mask, masked copy, division by
    # τ and gather of the earlier code took nt_xent to 5.5 units.
    N, D = 128, 4
    z1, z2 = torch.randn(N, D, requires_grad=True), torch.randn(N, D, requires_grad=True)
    fn = {"nt_xent": ll.nt_xent, "info_nce": ll.info_nce, "multiple_negatives_ranking": ll.multiple_negatives_ranking}[name]
    M = 2 * N if name == "nt_xent" else N
    log = _forward_backward(fn, z1, z2)
    assert log.peak / (M * M * 4) <= 3.5, (name, log.peak / (M * M * 4))
    assert not {"eye", "masked_fill"} & set(log.ops), log.ops


# ----------------------------------------------------------------- quadrature matching loss


def _sin_link(primitive):
    return links.custom(lambda x: x + torch.sin(x) / 2, primitive=(lambda x: x * x / 2 - torch.cos(x) / 2) if primitive else None,
                        alpha=1.3, beta=0.2)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_quadrature_matching_loss_in_chunks_equals_the_closed_form(monkeypatch, reduction):
    # 53 elements: 8 chunks, a ragged last one (raising=False: the same test runs on unchunked code)
    monkeypatch.setattr(_matching, "_QUADRATURE_CHUNK", 7, raising=False)
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(53, generator=g, dtype=F64).mul(3).requires_grad_(True)
    target = torch.randn(53, generator=g, dtype=F64).mul(3).requires_grad_(True)
    quad, closed = _sin_link(False), _sin_link(True)
    assert not quad.has_primitive and closed.has_primitive
    for w in (None, torch.rand(53, generator=g, dtype=F64)):
        got = ll.matching_loss(pred, target, quad, sample_weight=w, reduction=reduction)
        want = ll.matching_loss(pred, target, closed, sample_weight=w, reduction=reduction)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        for a, b in zip(torch.autograd.grad(got.sum(), (pred, target)), torch.autograd.grad(want.sum(), (pred, target))):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    p7, t7 = pred[:9].detach().requires_grad_(), target[:9].detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ll.matching_loss(a, b, quad, reduction=reduction), (p7, t7))
    assert torch.autograd.gradgradcheck(lambda a: ll.matching_loss(a, t7.detach(), quad, reduction=reduction), (p7,))


def test_quadrature_matching_loss_shapes_and_empty_input():
    quad = _sin_link(False)
    x = torch.randn(3, 4, 5)
    assert ll.matching_loss(x, x.flip(-1), quad, reduction="none").shape == (3, 4, 5)
    e = torch.zeros(0, 3, requires_grad=True)
    assert ll.matching_loss(e, e.detach(), quad).item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_quadrature_matching_loss_peak_memory_stays_within_twice_the_input(monkeypatch, reduction):
    # All at once, the quadrature kept [n, 48] temporaries alive (~150x the input). Chunked,
    # a forward+backward holds the gradient (1x), the per-element loss for 'none' (1x) and
    # one chunk's temporaries. The chunk is shrunk so that n stays small for a test.
    monkeypatch.setattr(_matching, "_QUADRATURE_CHUNK", 1 << 8)
    n = 1 << 16
    pred, target = torch.randn(n, requires_grad=True), torch.randn(n)
    quad = links.custom(torch.sigmoid)
    log = _forward_backward(lambda: ll.matching_loss(pred, target, quad, reduction=reduction).sum())
    assert log.peak <= 2 * pred.nbytes, log.peak / pred.nbytes


# ----------------------------------------------------------------------- SingleLogitHead


def test_single_logit_head_checks_tensor_classes_only_when_asked():
    torch.manual_seed(0)
    head = slc.SingleLogitHead(8, 50)
    x, cls = torch.randn(4, 8), torch.tensor([3, 49, 0])
    with OpLog() as log:
        head(x, classes=cls)
        head.per_example(x[:3], cls)
    # No value-reading reduction and no host sync: the gather bounds-checks by itself.
    assert not {"min", "max", "aminmax", "_local_scalar_dense", "item"} & set(log.ops), log.ops
    checked = slc.SingleLogitHead(head.linear, validate_args=True)
    with OpLog() as log:
        torch.testing.assert_close(checked(x, classes=cls), head(x)[:, cls])
    assert "_local_scalar_dense" in log.ops
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 50\); got tensor\(\[ 3, 50\]\)"):
        checked(x, classes=torch.tensor([3, 50]))
    with pytest.raises(TypeError, match="validate_args"):
        slc.SingleLogitHead(8, 50, validate_args=1)


def test_single_logit_head_rejects_bad_classes_without_checks_and_never_wraps():
    torch.manual_seed(0)
    head = slc.SingleLogitHead(8, 50)
    x = torch.randn(3, 8)
    for bad in (torch.tensor([0, 50]), torch.tensor([-1, 2])):
        with pytest.raises(ValueError, match=r"\[0, 50\)"):
            head(x, classes=bad)
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        head.per_example(x, torch.tensor([0, 1, -1]))  # weight[-1] would be class 49
    with pytest.raises(ValueError, match=r"got 50 in \[1, 50\]"):
        head(x, classes=[1, 50])
    ll.set_validate_args(True)
    try:
        assert head._validating()
    finally:
        ll.set_validate_args(None)
    assert not head._validating()


def test_single_logit_head_per_example_values_and_gradients():
    torch.manual_seed(1)
    head = slc.SingleLogitHead(torch.nn.Linear(6, 11).double())
    x = torch.randn(5, 6, dtype=F64, requires_grad=True)
    cls = torch.tensor([0, 10, 3, 3, 7])
    got = head.per_example(x, cls)
    want = head(x).gather(1, cls[:, None])[:, 0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    ga = torch.autograd.grad(got.sum(), (x, head.linear.weight, head.linear.bias))
    gb = torch.autograd.grad(want.sum(), (x, head.linear.weight, head.linear.bias))
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda v: head(v, classes=[2, 9]), (x,))
