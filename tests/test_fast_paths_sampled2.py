"""Fast paths of ``in_batch_negatives_loss`` and ``sampled_nce_loss``.

Values and gradients are checked against a float64 per-row formula written here with plain
autograd (a loop over examples and candidates, the full logit row ``h_i · W_k + b_k``), over
every option (logQ correction, accidental-hit masks, proposals, bias or none, sparse
gradients, sample weights, reductions); float64 ``gradcheck`` on small sizes. The allocation
tests (``_dispatch_count.OpCounter``) pin how many ``[B, B]`` / ``[B, S]`` / ``[K, d]``
tensors one forward+backward creates, so that the work saved cannot silently come back.
"""
from __future__ import annotations

import math

import pytest
import torch

import losslab as ll
from _dispatch_count import OpCounter

K, D = 9, 4


def _layer(B=8, dtype=torch.float64, seed=0, bias=True):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, D, dtype=dtype, generator=g)
    W = torch.randn(K, D, dtype=dtype, generator=g)
    b = torch.randn(K, dtype=dtype, generator=g) * 0.5 if bias else None
    y = torch.tensor([0, 3, 3, 5, 0, 3, 8, 1][:B]) if B <= 8 else torch.randint(0, K, (B,), generator=g)
    return h, W, b, y


def _q(k, proposal):
    if isinstance(proposal, torch.Tensor):
        return proposal[k]
    if proposal == "uniform":
        return torch.tensor(1.0 / K, dtype=torch.float64)
    if proposal == "log_uniform":
        return torch.tensor((math.log(k + 2) - math.log(k + 1)) / math.log(K + 1), dtype=torch.float64)
    raise NotImplementedError(proposal)


def _logit(h, W, b, i, k):
    return h[i] @ W[k] + (0.0 if b is None else b[k])


def _reduce(per_row, reduction, sample_weight):
    if reduction == "none":
        return per_row if sample_weight is None else per_row * sample_weight
    if sample_weight is None:
        return per_row.sum() if reduction == "sum" else per_row.mean()
    total = (per_row * sample_weight).sum()
    return total if reduction == "sum" else total / sample_weight.sum()


def _ref_in_batch(h, W, b, y, *, proposal=None, logq_correction=True, remove_accidental_hits=True,
                  sample_weight=None, reduction="mean", **_):
    ys = y.tolist()
    B = len(ys)

    def logq(k):
        if not logq_correction:
            return 0.0
        return math.log(ys.count(k) / B) if proposal is None else torch.log(_q(k, proposal))

    rows = []
    for i, yi in enumerate(ys):
        terms = [_logit(h, W, b, i, ys[j]) - logq(ys[j]) for j in range(B)
                 if j == i or not (remove_accidental_hits and ys[j] == yi)]
        rows.append(torch.logsumexp(torch.stack(terms), 0) - (_logit(h, W, b, i, yi) - logq(yi)))
    return _reduce(torch.stack(rows), reduction, sample_weight)


def _ref_nce(h, W, b, y, *, sampled, proposal="uniform", remove_accidental_hits=False, sample_weight=None,
             reduction="mean", **_):
    rows = []
    for i, yi in enumerate(y.tolist()):
        negs = (sampled if sampled.dim() == 1 else sampled[i]).tolist()
        S = len(negs)
        v = -torch.nn.functional.logsigmoid(_logit(h, W, b, i, yi) - torch.log(S * _q(yi, proposal)))
        for n in negs:
            if remove_accidental_hits and n == yi:
                continue
            v = v - torch.nn.functional.logsigmoid(-(_logit(h, W, b, i, n) - torch.log(S * _q(n, proposal))))
        rows.append(v)
    return _reduce(torch.stack(rows), reduction, sample_weight)


def _value_and_grads(fn, h, W, b, y, **kw):
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (h, W, b)]
    out = fn(leaves[0], leaves[1], leaves[2], y, **kw)
    diff = [t for t in leaves if t is not None]
    grads = torch.autograd.grad(out.sum(), diff)
    return out.detach(), [g.to_dense() for g in grads]


def _assert_matches(fn, ref, h, W, b, y, **kw):
    out, grads = _value_and_grads(fn, h, W, b, y, **kw)
    kw.pop("sparse_grad", None)
    ref_out, ref_grads = _value_and_grads(ref, h, W, b, y, **kw)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-12)
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


_PROPOSALS = [None, "uniform", "log_uniform", torch.softmax(torch.linspace(-1, 1, K, dtype=torch.float64), 0)]


@pytest.mark.parametrize("proposal", _PROPOSALS, ids=["batch", "uniform", "log_uniform", "tensor"])
@pytest.mark.parametrize("logq_correction", [True, False])
@pytest.mark.parametrize("remove_accidental_hits", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_in_batch_matches_per_row_formula(proposal, logq_correction, remove_accidental_hits, bias):
    h, W, b, y = _layer(bias=bias)
    _assert_matches(ll.in_batch_negatives_loss, _ref_in_batch, h, W, b, y, proposal=proposal,
                    logq_correction=logq_correction, remove_accidental_hits=remove_accidental_hits,
                    reduction="none")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("sparse_grad", [False, True])
def test_in_batch_weights_reductions_sparse(reduction, sparse_grad):
    h, W, b, y = _layer()
    w = torch.linspace(0.2, 2.0, h.shape[0], dtype=torch.float64)
    _assert_matches(ll.in_batch_negatives_loss, _ref_in_batch, h, W, b, y, sample_weight=w,
                    reduction=reduction, sparse_grad=sparse_grad)


def test_in_batch_gradient_flows_into_a_tensor_proposal():
    h, W, b, y = _layer()
    q = _PROPOSALS[3].clone().requires_grad_()
    ours = torch.autograd.grad(ll.in_batch_negatives_loss(h, W, b, y, proposal=q), q)[0]
    ref = torch.autograd.grad(_ref_in_batch(h, W, b, y, proposal=q), q)[0]
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_in_batch_gradcheck():
    h, W, b, y = _layer(B=6)
    args = [t.clone().requires_grad_() for t in (h, W, b)]
    assert torch.autograd.gradcheck(lambda h, W, b: ll.in_batch_negatives_loss(h, W, b, y, reduction="none"), args)
    assert torch.autograd.gradgradcheck(lambda h, W, b: ll.in_batch_negatives_loss(h, W, b, y), args)
    assert torch.autograd.gradcheck(
        lambda h, W, b: ll.in_batch_negatives_loss(h, W, b, y, proposal="log_uniform", remove_accidental_hits=False), args)


def test_in_batch_leaves_inputs_untouched_and_works_without_grad():
    h, W, b, y = _layer()
    copies = [t.clone() for t in (h, W, b, y)]
    out = ll.in_batch_negatives_loss(h, W, b, y, reduction="none")
    for t, c in zip((h, W, b, y), copies):
        assert torch.equal(t, c)
    torch.testing.assert_close(out, _ref_in_batch(h, W, b, y, reduction="none"), rtol=1e-10, atol=1e-12)


_SHARED = torch.tensor([3, 1, 3, 7, 0, 2])
_PER_ROW = torch.randint(0, K, (8, 5), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("sampled", [_SHARED, _PER_ROW], ids=["shared", "per_example"])
@pytest.mark.parametrize("proposal", _PROPOSALS[1:], ids=["uniform", "log_uniform", "tensor"])
@pytest.mark.parametrize("remove_accidental_hits", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_nce_matches_per_row_formula(sampled, proposal, remove_accidental_hits, bias):
    h, W, b, y = _layer(bias=bias)
    _assert_matches(ll.sampled_nce_loss, _ref_nce, h, W, b, y, sampled=sampled, proposal=proposal,
                    remove_accidental_hits=remove_accidental_hits, reduction="none")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("sparse_grad", [False, True])
@pytest.mark.parametrize("sampled", [_SHARED, _PER_ROW], ids=["shared", "per_example"])
def test_nce_weights_reductions_sparse(reduction, sparse_grad, sampled):
    h, W, b, y = _layer()
    w = torch.linspace(0.2, 2.0, h.shape[0], dtype=torch.float64)
    _assert_matches(ll.sampled_nce_loss, _ref_nce, h, W, b, y, sampled=sampled, proposal="log_uniform",
                    remove_accidental_hits=True, sample_weight=w, reduction=reduction, sparse_grad=sparse_grad)


def test_nce_gradcheck():
    h, W, b, y = _layer(B=5)
    args = [t.clone().requires_grad_() for t in (h, W, b)]
    for sampled in (_SHARED, _PER_ROW[:5]):
        assert torch.autograd.gradcheck(lambda h, W, b: ll.sampled_nce_loss(
            h, W, b, y, sampled=sampled, proposal="log_uniform", remove_accidental_hits=True, reduction="none"), args)


def test_nce_drawn_negatives_match_formula_on_the_same_draw():
    h, W, b, y = _layer()
    out = ll.sampled_nce_loss(h, W, b, y, num_sampled=4, proposal="log_uniform", generator=5, reduction="none")
    drawn = ll.sample_candidates(K, 4, "log_uniform", generator=5)
    torch.testing.assert_close(out, _ref_nce(h, W, b, y, sampled=drawn, proposal="log_uniform", reduction="none"),
                               rtol=1e-10, atol=1e-12)


def test_in_batch_frequencies_with_int32_labels_and_an_all_equal_batch():
    h, W, b, y = _layer()
    for labels in (y.to(torch.int32), torch.full((8,), 4)):
        _assert_matches(ll.in_batch_negatives_loss, _ref_in_batch, h, W, b, labels, remove_accidental_hits=False,
                        reduction="none")


# ---------------------------------------------------------------- allocations


def _allocs(fn, *inputs, **kw):
    leaves = [t.detach().clone().requires_grad_() if t.is_floating_point() else t for t in inputs]
    with OpCounter() as c:
        fn(*leaves, **kw).backward()
    return c


def test_in_batch_allocates_few_batch_by_batch_tensors():
    B, Kbig, d = 64, 1000, 8
    g = torch.Generator().manual_seed(0)
    h, W, b = torch.randn(B, d, generator=g), torch.randn(Kbig, d, generator=g), torch.randn(Kbig, generator=g)
    y = torch.randint(0, 40, (B,), generator=g)  # duplicates, so the mask is not empty
    c = _allocs(ll.in_batch_negatives_loss, h, W, b, y)
    floats = [a for a in c.allocs if a[1] == B * B * 4]
    bools = [a for a in c.allocs if a[1] == B * B]
    # the GEMM's accumulator (0 / -inf mask, added to in place), log_softmax's output and the two
    # backward [B, B] gradients: four float [B, B] (no bias/logQ broadcast, no masked copies)
    assert len(floats) <= 4, floats
    assert len(bools) <= 1, bools
    # the batch frequencies come from the sorted labels, not from [B, B] row sums (int64 copies)
    assert not [a for a in c.allocs if a[1] >= B * B * 8], c.big(B * B * 8)
    assert c.count("logsumexp") == 0 and c.count("eye") == 0


def test_nce_allocates_one_logit_block_and_one_weight_gradient():
    B, S, Kbig, d = 64, 32, 1000, 8
    g = torch.Generator().manual_seed(0)
    h, W, b = torch.randn(B, d, generator=g), torch.randn(Kbig, d, generator=g), torch.randn(Kbig, generator=g)
    y = torch.randint(0, Kbig, (B,), generator=g)
    ids = torch.randint(0, Kbig, (S,), generator=g)
    c = _allocs(ll.sampled_nce_loss, h, W, b, y, sampled=ids, proposal="uniform")
    blocks = [a for a in c.allocs if a[1] == B * S * 4]
    wgrads = [a for a in c.allocs if a[1] == Kbig * d * 4]
    # [B, S]: addmm (bias and log(S q) folded in), softplus, softplus's backward
    assert len(blocks) <= 3, blocks
    # one gather of B + S rows -> one zero-filled [K, d] scatter target and its result,
    # no second scatter and no autograd sum of two [K, d] gradients
    assert len(wgrads) <= 2, wgrads
    assert c.count("index_select") + c.count("index") + c.count("embedding") <= 2


def test_compiled_forward_and_backward_match_eager():
    # the in-batch mask is the accumulator of an in-place addmm_: AOTAutograd must trace it
    h, W, b, y = (t.float() if t.is_floating_point() else t for t in _layer())
    cases = [lambda h, W, b: ll.in_batch_negatives_loss(h, W, b, y),
             lambda h, W, b: ll.sampled_nce_loss(h, W, b, y, sampled=_SHARED, proposal="log_uniform",
                                                 remove_accidental_hits=True)]
    for fn in cases:
        torch._dynamo.reset()
        results = []
        for f in (fn, torch.compile(fn, backend="aot_eager")):
            leaves = [t.clone().requires_grad_() for t in (h, W, b)]
            out = f(*leaves)
            out.backward()
            results.append([out.detach()] + [t.grad for t in leaves])
        for a, r in zip(*results):
            torch.testing.assert_close(a, r)
