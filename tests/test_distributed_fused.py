"""The class-parallel losses on the fused operators (csrc/class_parallel.cpp).

On real processes (gloo, world sizes 2 and 3, uneven class shards, float64, one spawn per
world size): ``impl='fused'`` equals the unsharded single-process loss (value and every
gradient, 1e-10) and the reference class-parallel path, with the same two collectives and a
local backward; bad input raises on every rank. In this process: the operators' columns
against plain PyTorch, float64 gradcheck of the local autograd Functions running on the
operators, opcheck of their schemas and fake-tensor rules, and the ``impl`` errors.
"""
from __future__ import annotations


import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

import losslab as ll
import losslab.kernels as K
from losslab import distributed as lld
from losslab import links
from _gloo import spawn
from test_distributed import DT, TOL, _avg, _data, _err, _k_sizes, _raises, _rng, _vocab_check


SCALINGS = {
    "identity": lambda: links.identity(alpha=1.5, beta=0.5),
    "exp": lambda: links.exp(alpha=0.7),
    "anti_exp": lambda: links.anti_exp(alpha=0.6),
    "sinh": lambda: links.sinh(),
    "cosh-capped": lambda: links.cosh(alpha=0.3, beta=0.2, cap=1.0),
    "exp-capped": lambda: links.exp(alpha=0.5, beta=-1.0, cap=2.0),
}


# ---------------------------------------------------------------------------------
# Checks run inside the workers


def _start(ks):
    return sum(ks[:dist.get_rank()])


def _fused_vs_reference(call, inputs):
    """``call(*inputs, impl=...)`` under 'fused' and 'reference' on this rank's shards: the
    largest difference of the values and of the gradients of every floating input."""
    outs = []
    for impl in ("fused", "reference"):
        xs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
        out = call(*xs, impl=impl)
        out.sum().backward()
        outs.append([out.detach()] + [x.grad for x in xs if x.is_floating_point()])
    return max(_err(a, b) for a, b in zip(*outs))


def _check_ce(sizes):
    ks = _k_sizes(dist.get_world_size())
    start, Kt = _start(ks), sum(ks)
    z, y = _data(60, 6, Kt) * 3, torch.randint(Kt, (6,), generator=_rng(61))
    return _vocab_check(lambda a, b, **k: lld.vocab_parallel_cross_entropy(a, b, group=None, class_start=start,
                                                                            impl="fused", **k),
                        ll.cross_entropy, z, y, ks)


def _ce_cases(ks):
    Kt = sum(ks)
    y = torch.randint(Kt, (6,), generator=_rng(63))
    w = torch.rand(Kt, generator=_rng(64), dtype=DT) + 0.1
    y_ign = y.clone()
    y_ign[[1, 4]] = 7  # a valid class id used as ignore_index
    y_def = y.clone()
    y_def[2] = -100
    # (keywords, labels, numbers per row in the fused SUM)
    return w, [(dict(label_smoothing=0.3), y, 4), (dict(weight=w), y, 4), (dict(ignore_index=7), y_ign, 3),
               (dict(), y_def, 3), (dict(weight=w, label_smoothing=0.2, ignore_index=7), y_ign, 5),
               (dict(label_smoothing=1.0, ignore_index=7), y_ign, 4)]


def _check_ce_options(sizes):
    """ignore_index, label smoothing and class-weight shards against F.cross_entropy on the
    unsharded logits."""
    ks = _k_sizes(dist.get_world_size())
    start = _start(ks)
    z = _data(62, 6, sum(ks)) * 3
    w, cases = _ce_cases(ks)
    errs = []
    for kw, labels, n in cases:
        dkw = dict(kw, weight=w[start:start + ks[dist.get_rank()]]) if "weight" in kw else kw
        errs.append(_vocab_check(
            lambda a, b, **k: lld.vocab_parallel_cross_entropy(a, b, group=None, class_start=start, impl="fused",
                                                               **dkw, **k),
            lambda a, b, **k: F.cross_entropy(a, b, **kw, **k), z, labels, ks, sum_numbers=n))
    return max(errs)


def _check_ce_masked_shard(sizes):
    """Rows whose logits are -inf on a whole shard (rank 1's columns of rows 0 and 3): that
    rank's local max is -inf and its partial sum must count as 0, not NaN."""
    ks = _k_sizes(dist.get_world_size())
    start, Kt = _start(ks), sum(ks)
    z = _data(65, 6, Kt) * 3
    z[[0, 3], ks[0]:ks[0] + ks[1]] = float("-inf")
    y = torch.tensor([0, 1, 2, 3, 4, 0])  # labels in rank 0's shard
    return _vocab_check(lambda a, b, **k: lld.vocab_parallel_cross_entropy(a, b, group=None, class_start=start,
                                                                            impl="fused", **k),
                        ll.cross_entropy, z, y, ks)


def _check_selfnorm(sizes):
    ks = _k_sizes(dist.get_world_size())
    start, Kt = _start(ks), sum(ks)
    z, y = _data(66, 6, Kt) * 3, torch.randint(Kt, (6,), generator=_rng(67))
    return _vocab_check(lambda a, b, **k: lld.vocab_parallel_self_normalization(a, b, group=None, class_start=start,
                                                                                 alpha=0.3, impl="fused", **k),
                        lambda a, b, **k: ll.self_normalization(a, b, alpha=0.3, **k), z, y, ks)


def _check_composite(sizes):
    ks = _k_sizes(dist.get_world_size())
    errs = []
    for make in SCALINGS.values():
        q = make()
        pred, target = _data(68, 4, sum(ks)), _data(69, 4, sum(ks))
        errs.append(_vocab_check(
            lambda a, b, **k: lld.vocab_parallel_composite_softmax_loss(a, b, q, group=None, gamma=0.8, impl="fused", **k),
            lambda a, b, **k: ll.composite_softmax_loss(a, b, q, gamma=0.8, impl="reference", **k),
            pred, target, ks, target_grad=True))
    return max(errs)


def _check_sampled(sizes):
    """Sampled softmax on the fused log-sum-exp: the loss, the hidden gradient summed over
    ranks and each rank's weight/bias rows equal the unsharded layer's."""
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    Kt, start = sum(ks), _start(ks)
    h, W, b = _data(70, 6, 3), _data(71, Kt, 3), _data(72, Kt)
    y = torch.randint(Kt, (6,), generator=_rng(73))
    errs = []
    for kw in (dict(sampled=torch.tensor([0, 3, 3, 7, int(y[0])])), dict(num_sampled=4, proposal="log_uniform", generator=7)):
        hf, Wf, bf = (t.clone().requires_grad_() for t in (h, W, b))
        ll.sampled_softmax_loss(hf, Wf, bf, y, **kw).backward()
        ref = ll.sampled_softmax_loss(h, W, b, y, **kw)
        hl = h.clone().requires_grad_()
        Wl, bl = (t[start:start + ks[rank]].clone().requires_grad_() for t in (W, b))
        out = lld.vocab_parallel_sampled_softmax_loss(hl, Wl, bl, y, group=None, class_start=start, num_classes=Kt,
                                                      impl="fused", **kw)
        out.backward()
        errs += [_err(out, ref), _err(_avg(hl.grad) * world, hf.grad),
                 _err(Wl.grad, Wf.grad[start:start + ks[rank]]), _err(bl.grad, bf.grad[start:start + ks[rank]])]
    return max(errs)


def _check_fused_equals_reference(sizes):
    """The two class-parallel paths agree on every rank (value, logit and target gradients)."""
    rank = dist.get_rank()
    ks = _k_sizes(dist.get_world_size())
    start, Kt = _start(ks), sum(ks)
    cols = slice(start, start + ks[rank])
    z = (_data(74, 6, Kt) * 3)[:, cols]
    w, cases = _ce_cases(ks)
    errs = []
    for kw, labels, _ in cases:
        dkw = dict(kw, weight=w[cols]) if "weight" in kw else kw
        errs.append(_fused_vs_reference(
            lambda a, impl: lld.vocab_parallel_cross_entropy(a, labels, group=None, class_start=start, impl=impl,
                                                             reduction="none", **dkw), [z]))
    errs.append(_fused_vs_reference(
        lambda a, impl: lld.vocab_parallel_self_normalization(a, cases[0][1], group=None, class_start=start, alpha=0.2,
                                                              impl=impl), [z]))
    pred, target = _data(75, 4, Kt)[:, cols], _data(76, 4, Kt)[:, cols]
    for make in SCALINGS.values():
        q = make()
        errs.append(_fused_vs_reference(
            lambda a, b, impl: lld.vocab_parallel_composite_softmax_loss(a, b, q, group=None, gamma=1.3, impl=impl,
                                                                         reduction="none"), [pred, target]))
    return max(errs)


def _ops_called(fn) -> set[str]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages() if e.key.startswith("losslab::")}


def _check_operators_run(sizes):
    """impl='fused' (and 'auto' on float64 CPU) runs the operators, forward and backward;
    impl='reference' none. 0 if so, else inf."""
    ks = _k_sizes(dist.get_world_size())
    start = _start(ks)
    z = _data(77, 4, ks[dist.get_rank()])
    y = torch.tensor([0, 1, 6, 7])
    ce = {"losslab::vocab_parallel_lse_stats", "losslab::vocab_parallel_lse_bwd"}
    comp = {"losslab::vocab_parallel_composite_stats", "losslab::vocab_parallel_composite_bwd"}

    def run_ce(impl):
        a = z.clone().requires_grad_()
        lld.vocab_parallel_cross_entropy(a, y, group=None, class_start=start, impl=impl).backward()

    def run_comp(impl):
        a = z.clone().requires_grad_()
        lld.vocab_parallel_composite_softmax_loss(a, z.flip(0), links.sinh(), group=None, impl=impl).backward()

    got = [_ops_called(lambda: run_ce(i)) for i in ("fused", "auto", "reference")]
    got += [_ops_called(lambda: run_comp(i)) for i in ("fused", "reference")]
    return 0.0 if got == [ce, ce, set(), comp, set()] else f"operators called per impl: {got}"


def _check_bad_inputs(sizes):
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    Kt, start = sum(ks), _start(ks)
    z = _data(80, 3, ks[rank])
    out = {}
    for impl in ("fused", "reference"):
        out[f"labels_out_of_range[{impl}]"] = _raises(
            lambda: lld.vocab_parallel_cross_entropy(z, torch.tensor([0, Kt, 1]), group=None, class_start=start,
                                                     impl=impl), "labels")
        out[f"negative_label[{impl}]"] = _raises(
            lambda: lld.vocab_parallel_self_normalization(z, torch.tensor([0, -2, 1]), group=None, class_start=start,
                                                          impl=impl), "labels")
    # ranks 0 and 1 both claim class 0: an overlap (and a gap at the end)
    out["layout_overlap"] = _raises(
        lambda: lld.vocab_parallel_cross_entropy(z, torch.tensor([0, 1, 2]), group=None,
                                                 class_start=0 if rank < 2 else start, validate_args=True, impl="fused"),
        "class_start")
    hidden, Wl = _data(81, 3, 4), _data(82, ks[rank], 4)
    out["sampled_labels_out_of_range"] = _raises(
        lambda: lld.vocab_parallel_sampled_softmax_loss(hidden, Wl, None, torch.tensor([0, Kt + 2, 1]), group=None,
                                                        class_start=start, num_classes=Kt, sampled=torch.tensor([1, 2]),
                                                        validate_args=True), "labels")
    out["sampled_num_classes"] = _raises(
        lambda: lld.vocab_parallel_sampled_softmax_loss(hidden, Wl, None, torch.tensor([0, 1, 2]), group=None,
                                                        class_start=start, num_classes=Kt + 1,
                                                        sampled=torch.tensor([1, 2]), validate_args=True), "num_classes")
    d = 4 if rank == 0 else 5
    out["sampled_d_disagrees"] = _raises(
        lambda: lld.vocab_parallel_sampled_softmax_loss(_data(83, 3, d), _data(84, ks[rank], d), None,
                                                        torch.tensor([0, 1, 2]), group=None, class_start=start,
                                                        num_classes=Kt, sampled=torch.tensor([1, 2]),
                                                        validate_args=True), "hidden")
    out["composite_rows_disagree"] = _raises(
        lambda: lld.vocab_parallel_composite_softmax_loss(_data(85, 2 + rank, ks[rank]), _data(86, 2 + rank, ks[rank]),
                                                          links.exp(), group=None, validate_args=True), "rows")
    out["fused_bad_dtype"] = _raises(
        lambda: lld.vocab_parallel_cross_entropy(z.half(), torch.tensor([0, 1, 2]), group=None, class_start=start,
                                                 impl="fused"), "impl='fused'")
    out["fused_bad_scaling"] = _raises(
        lambda: lld.vocab_parallel_composite_softmax_loss(z, z, links.sigmoid(), group=None, impl="fused"),
        "impl='fused'")
    out["still_in_sync"] = "ok" if float(_avg(torch.ones(1, dtype=DT))) == 1.0 else "out of sync"
    return out


CHECKS = {
    "vocab_parallel_cross_entropy": _check_ce,
    "vocab_parallel_cross_entropy[ignore_index, label_smoothing, weight]": _check_ce_options,
    "vocab_parallel_cross_entropy[-inf shard]": _check_ce_masked_shard,
    "vocab_parallel_self_normalization": _check_selfnorm,
    "vocab_parallel_composite_softmax_loss": _check_composite,
    "vocab_parallel_sampled_softmax_loss": _check_sampled,
    "fused_equals_reference": _check_fused_equals_reference,
    "operators_run": _check_operators_run,
    "bad_inputs": _check_bad_inputs,
}


@pytest.fixture(scope="module", params=[2, 3], ids=lambda w: f"world{w}")
def results(request, built, tmp_path_factory):
    return spawn(__name__, request.param, tmp_path_factory.mktemp(f"fused{request.param}"))


@pytest.mark.parametrize("name", [n for n in CHECKS if n != "bad_inputs"])
def test_fused_class_parallel_equals_unsharded(results, name):
    """impl='fused': value and every gradient equal the unsharded loss (and the reference
    class-parallel path), two collectives forward, none backward, on every rank."""
    for rank, res in enumerate(results):
        err = res[name]
        assert not isinstance(err, str), f"rank {rank}: {err}"
        assert err < TOL, f"rank {rank}: {name} differs by {err:.3g}"


BAD = ["labels_out_of_range[fused]", "labels_out_of_range[reference]", "negative_label[fused]",
       "negative_label[reference]", "layout_overlap", "sampled_labels_out_of_range", "sampled_num_classes",
       "sampled_d_disagrees", "composite_rows_disagree", "fused_bad_dtype", "fused_bad_scaling", "still_in_sync"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_on_every_rank(results, case):
    for rank, res in enumerate(results):
        assert not isinstance(res["bad_inputs"], str), res["bad_inputs"]
        assert res["bad_inputs"][case] == "ok", f"rank {rank}: {res['bad_inputs'][case]}"


# ---------------------------------------------------------------------------------
# The operators in this process


def test_lse_stats_columns(built):
    """Each column of vocab_parallel_lse_stats against plain PyTorch on a shard starting at class 5."""
    z = torch.randn(7, 13, generator=_rng(1), dtype=DT) * 4
    z[2] = float("-inf")  # a row with no mass on this shard
    w = torch.rand(13, generator=_rng(2), dtype=DT)
    y = torch.tensor([5, 17, 9, 4, 11, 3, 30])  # in the shard [5, 18) except rows 3, 5, 6; row 1 ignored
    st = torch.ops.losslab.vocab_parallel_lse_stats(z, y, 5, 17, w, True)
    m = z.amax(-1)
    shift = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    owned = (y >= 5) & (y < 18) & (y != 17)
    idx = (y - 5).clamp(0, 12)
    torch.testing.assert_close(st[:, 0], m, rtol=0, atol=0)
    torch.testing.assert_close(st[:, 1], torch.exp(z - shift[:, None]).sum(-1), rtol=1e-14, atol=0)
    torch.testing.assert_close(st[:, 2], torch.where(owned, z.gather(1, idx[:, None])[:, 0], torch.zeros(7, dtype=DT)))
    assert st[:, 3].tolist() == owned.to(DT).tolist()
    torch.testing.assert_close(st[:, 4], torch.where(owned, w[idx], torch.zeros(7, dtype=DT)))
    finite = torch.isfinite(m)
    torch.testing.assert_close(st[finite, 5], (z @ w)[finite], rtol=1e-13, atol=1e-13)
    assert st.shape == (7, 6) and torch.ops.losslab.vocab_parallel_lse_stats(z, y, 5, None, None, False).shape == (7, 4)


def test_composite_stats_columns(built):
    q = links.sinh(alpha=0.8)
    spec = K.scaling_spec(q)
    pred, target = torch.randn(5, 11, generator=_rng(3), dtype=DT), torch.randn(5, 11, generator=_rng(4), dtype=DT)
    st = torch.ops.losslab.vocab_parallel_composite_stats(pred, target, *spec, 0.7)
    lh, ls = q.primitive(pred) / 0.7, q.primitive(target) / 0.7
    mh, ms = lh.amax(-1), ls.amax(-1)
    torch.testing.assert_close(st[:, 0], mh, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(st[:, 1], ms, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(st[:, 2], torch.exp(lh - mh[:, None]).sum(-1), rtol=1e-13, atol=0)
    es = torch.exp(ls - ms[:, None])
    torch.testing.assert_close(st[:, 3], es.sum(-1), rtol=1e-13, atol=0)
    torch.testing.assert_close(st[:, 4], ((pred - target) * q(target) * es).sum(-1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(), dict(eps=0.3), dict(weight=True), dict(weight=True, eps=0.2, ignore_index=2),
                                dict(alpha=0.4)], ids=str)
def test_gradcheck_lse_on_the_operators(built, kw):
    """float64 gradcheck of the class-parallel log-sum-exp Function on the fused operators
    with one process (the whole logits are one shard; no collective)."""
    z = torch.randn(4, 6, generator=_rng(5), dtype=DT, requires_grad=True)
    y = torch.tensor([0, 2, 5, 3])
    w = torch.rand(6, generator=_rng(6), dtype=DT) + 0.2 if kw.get("weight") else None

    def f(a):
        return lld._VocabParallelLSE.apply(a, y, 0, kw.get("alpha", 0.0), None, False, None, kw.get("eps", 0.0), w,
                                           kw.get("ignore_index"), True)[0]

    assert torch.autograd.gradcheck(f, (z,))
    ref = F.cross_entropy(z, y, weight=w, label_smoothing=kw.get("eps", 0.0), ignore_index=kw.get("ignore_index", -100),
                          reduction="none") + kw.get("alpha", 0.0) * torch.logsumexp(z, -1).square()
    torch.testing.assert_close(f(z), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(SCALINGS))
def test_gradcheck_composite_on_the_operators(built, name):
    q = SCALINGS[name]()
    pred = torch.randn(3, 7, generator=_rng(7), dtype=DT, requires_grad=True)
    target = torch.randn(3, 7, generator=_rng(8), dtype=DT, requires_grad=True)

    def f(p, t):
        return lld._VocabParallelCompositeSoftmax.apply(p, t, q, 0.9, None, K.scaling_spec(q))

    assert torch.autograd.gradcheck(f, (pred, target))
    torch.testing.assert_close(f(pred, target), ll.composite_softmax_loss(pred, target, q, gamma=0.9, impl="reference",
                                                                          reduction="none"), rtol=1e-12, atol=1e-12)


def test_opcheck(built):
    g = _rng(9)
    for dtype in (torch.float32, torch.float64):
        z = torch.randn(3, 10, generator=g, dtype=dtype)
        y = torch.tensor([1, 12, 4])
        v = torch.randn(3, generator=g, dtype=dtype)
        w = torch.rand(10, generator=g, dtype=dtype)
        torch.library.opcheck(torch.ops.losslab.vocab_parallel_lse_stats.default, (z, y, 2, 4, w, True))
        torch.library.opcheck(torch.ops.losslab.vocab_parallel_lse_bwd.default, (z, y, 2, v, v, v, v, w))
        torch.library.opcheck(torch.ops.losslab.vocab_parallel_lse_bwd.default, (z, y, 2, v, v, v, None, None))
        spec = ("sinh", 0.5, 0.0, 20.0, 1.0)
        torch.library.opcheck(torch.ops.losslab.vocab_parallel_composite_stats.default, (z, z * 0.5, *spec, 0.8))
        for need in [(True, True), (True, False), (False, True)]:
            torch.library.opcheck(torch.ops.losslab.vocab_parallel_composite_bwd.default,
                                  (z, z * 0.5, v, v, v, v, *spec, 0.8, *need))


def test_impl_errors_without_a_group():
    z, y = torch.randn(3, 4, dtype=DT), torch.tensor([0, 1, 3])
    for call in (lambda i: lld.vocab_parallel_cross_entropy(z, y, group=None, impl=i),
                 lambda i: lld.vocab_parallel_self_normalization(z, y, group=None, impl=i),
                 lambda i: lld.vocab_parallel_composite_softmax_loss(z, z, links.exp(), group=None, impl=i),
                 lambda i: lld.vocab_parallel_sampled_softmax_loss(z, z, None, y, group=None, sampled=y, impl=i)):
        with pytest.raises(ValueError, match="impl must be one of"):
            call("triton")
    with pytest.raises(ValueError, match="impl='fused' cannot run vocab_parallel_sampled_softmax_loss"):
        lld.vocab_parallel_sampled_softmax_loss(z, z, None, y, group=None, sampled=y, impl="fused")


def test_self_normalization_fused_without_a_group(built):
    z = torch.randn(5, 6, generator=_rng(10), dtype=DT, requires_grad=True)
    y = torch.tensor([0, 5, 2, 2, 1])
    out = lld.vocab_parallel_self_normalization(z, y, group=None, alpha=0.3, impl="fused")
    (g,) = torch.autograd.grad(out, z)
    zr = z.detach().clone().requires_grad_()
    ref = ll.self_normalization(zr, y, alpha=0.3)
    ref.backward()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, zr.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda g: lld.vocab_parallel_self_normalization(torch.randn(3, 2), torch.tensor([0, 1, 0]), group=g),
    lambda g: lld.vocab_parallel_composite_softmax_loss(torch.randn(3, 2), torch.randn(3, 2), links.exp(), group=g),
    lambda g: lld.vocab_parallel_sampled_softmax_loss(torch.randn(3, 2), torch.randn(4, 2), None,
                                                      torch.tensor([0, 1, 0]), group=g, sampled=torch.tensor([1])),
])
def test_group_without_init_process_group_raises(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="group=.*not initialised"):
        call(object())


def test_float32_operators_match_the_reference_path(built):
    """float32 (the benchmark's dtype): the operators' loss and gradients match the reference
    path's within float32 rounding, logits up to ±30."""
    z = (torch.randn(8, 300, generator=_rng(11)) * 10).clamp(-30, 30)
    y = torch.randint(300, (8,), generator=_rng(12))
    pred, target = torch.randn(8, 300, generator=_rng(13)), torch.randn(8, 300, generator=_rng(14))
    q = links.exp(alpha=0.5)
    calls = [lambda a, fused: lld._VocabParallelLSE.apply(a, y, 0, 0.1, None, False, None, 0.1, None, None, fused)[0],
             lambda a, fused: lld._VocabParallelCompositeSoftmax.apply(a, target, q, 1.0, None,
                                                                       K.scaling_spec(q) if fused else None)]
    for call, x in zip(calls, (z, pred)):
        res = []
        for fused in (True, False):
            a = x.clone().requires_grad_()
            out = call(a, fused)
            out.sum().backward()
            res.append((out.detach(), a.grad))
        torch.testing.assert_close(res[0][0], res[1][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(res[0][1], res[1][1], rtol=1e-5, atol=1e-6)
