"""losslab.distributed on real processes: gloo on 127.0.0.1, world sizes 2 and 3, uneven rows.

One spawn per world size (a module-scoped fixture) runs every check inside the workers;
each worker builds the whole batch from a fixed seed, runs the distributed loss on its own
rows, computes the single-process loss on the concatenated batch itself and reports the
largest difference (value and every gradient). The tests in the main process assert on
those numbers, so a failing check names itself.
"""
from __future__ import annotations

import os
import time

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

import losslab as ll
from losslab import distributed as lld

from _gloo import free_port, spawn

TOL = 1e-10
ROWS = {2: [2, 3], 3: [3, 1, 2]}  # uneven rows per rank
DT = torch.float64


# ---------------------------------------------------------------------------------
# Helpers run inside the workers


def _rng(seed):
    return torch.Generator().manual_seed(seed)


def _split(x, sizes, rank):
    start = sum(sizes[:rank])
    return x[start:start + sizes[rank]]


def _avg(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().clone()
    dist.all_reduce(t)
    return t / dist.get_world_size()


def _err(a, b) -> float:
    return float((a.detach() - b.detach()).abs().max()) if a.numel() else 0.0


def _global_check(dist_fn, single_fn, rows, row_sizes, replicated=(), reduction="mean", empty_value=0.0):
    """``rows``: full tensors split over ranks along dim 0 (``row_sizes[i]`` per input, or the
    batch sizes); ``replicated``: tensors every rank holds whole. Returns the worst error of the
    averaged value, of the row gradients (÷ W, DDP's convention) and of the replicated
    gradients (averaged over ranks)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    full = [r.clone().requires_grad_(r.is_floating_point()) for r in rows]
    rep_full = [p.clone().requires_grad_() for p in replicated]
    ref = single_fn(*full, *rep_full, reduction=reduction)
    grads = torch.autograd.grad(ref.sum(), [t for t in full + rep_full if t.requires_grad])
    local = [_split(r, s, rank).clone().requires_grad_(r.is_floating_point()) for r, s in zip(rows, row_sizes)]
    rep = [p.clone().requires_grad_() for p in replicated]
    out = dist_fn(*local, *rep, reduction=reduction)
    if reduction == "none":
        errs = [_err(out, _split(ref, row_sizes[0], rank))]
        (out.sum() * world).backward()
    else:
        errs = [_err(_avg(out), ref)]
        if local[0].shape[0] == 0 and empty_value is not None:  # documented: a rank without rows returns 0
            errs.append(float(out.detach().abs()))
        out.backward()
    gi = iter(grads)
    for r, loc, s in zip(full, local, row_sizes):
        if r.requires_grad:
            errs.append(_err(loc.grad / world, _split(next(gi), s, rank)))
    for p in rep:
        errs.append(_err(_avg(p.grad), next(gi)))
    return max(errs)


def _data(seed, *shape):
    return torch.randn(*shape, generator=_rng(seed), dtype=DT)


def _check_batch_ce(sizes):
    B, K = sum(sizes), 4
    z, y = _data(1, B, K) * 2, torch.randint(K, (B,), generator=_rng(2))
    return max(_global_check(lld.batch_cross_entropy, ll.batch_cross_entropy, [z, y], [sizes, sizes], reduction=r)
               for r in ("mean", "sum", "none"))


def _check_batch_mm(sizes):
    B, K = sum(sizes), 5
    z, y = _data(3, B, K) * 2, torch.randint(K, (B,), generator=_rng(4))
    return max(_global_check(lambda a, b, **k: lld.batch_max_margin(a, b, margin=3.0, **k),
                             lambda a, b, **k: ll.batch_max_margin(a, b, margin=3.0, **k), [z, y], [sizes, sizes],
                             reduction=r, empty_value=None) for r in ("mean", "sum"))


def _check_info_nce(sizes):
    B, D = sum(sizes), 3
    q, k = _data(5, B, D), _data(6, B, D)
    w = torch.rand(B, generator=_rng(7), dtype=DT)
    errs = [_global_check(lld.info_nce, ll.info_nce, [q, k], [sizes, sizes], reduction=r) for r in ("mean", "none")]
    errs.append(_global_check(lambda a, b, **kw: lld.info_nce(a, b, sample_weight=_split(w, sizes, dist.get_rank()), **kw),
                              lambda a, b, **kw: ll.info_nce(a, b, sample_weight=w, **kw), [q, k], [sizes, sizes]))
    neg = _data(18, B, 2, D)  # per-query negatives: no in-batch coupling, the mean is global
    errs.append(_global_check(lld.info_nce, ll.info_nce, [q, k, neg], [sizes, sizes, sizes]))
    return max(errs)


def _check_nt_xent(sizes):
    B, D = sum(sizes), 3
    return max(_global_check(lld.nt_xent, ll.nt_xent, [_data(8, B, D), _data(9, B, D)], [sizes, sizes], reduction=r)
               for r in ("mean", "sum"))


def _check_mnr(sizes):
    B, D = sum(sizes), 3
    neg_sizes = [1] * len(sizes)
    neg_sizes[-1] = 2  # uneven hard negatives too
    a, p, n = _data(10, B, D), _data(11, B, D), _data(12, sum(neg_sizes), D)
    e1 = _global_check(lambda x, y, **k: lld.multiple_negatives_ranking(x, y, scale=3.0, **k),
                       lambda x, y, **k: ll.multiple_negatives_ranking(x, y, scale=3.0, **k), [a, p], [sizes, sizes])
    e2 = _global_check(lambda x, y, z, **k: lld.multiple_negatives_ranking(x, y, z, scale=3.0, **k),
                       lambda x, y, z, **k: ll.multiple_negatives_ranking(x, y, z, scale=3.0, **k),
                       [a, p, n], [sizes, sizes, neg_sizes])
    return max(e1, e2)


def _check_in_batch(sizes):
    B, K, d = sum(sizes), 3, 4  # K < B: duplicate labels, so accidental hits and batch frequencies matter
    h, W, b = _data(13, B, d), _data(14, K, d), _data(15, K)
    y = torch.randint(K, (B,), generator=_rng(16))

    def dist_fn(h, y, W, b, **k):
        return lld.in_batch_negatives_loss(h, W, b, y, **k)

    def single_fn(h, y, W, b, **k):
        return ll.in_batch_negatives_loss(h, W, b, y, **k)

    return max(_global_check(dist_fn, single_fn, [h, y], [sizes, sizes], replicated=[W, b], reduction=r)
               for r in ("mean", "none"))


def _check_ge2e(sizes):
    N, M, D = sum(sizes), 3, 4
    e = _data(17, N, M, D)
    w = torch.tensor(4.0, dtype=DT)
    errs = [_global_check(lambda x, ww, **k: lld.ge2e(x, w=ww, b=-1.0, variant=v, **k),
                          lambda x, ww, **k: ll.ge2e(x, w=ww, b=-1.0, variant=v, **k), [e], [sizes], replicated=[w])
            for v in ("softmax", "contrast")]
    return max(errs)


def _model(seed, d_in, d_out):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, 6), torch.nn.Tanh(), torch.nn.Linear(6, d_out)).to(DT)


def _ddp_check(sizes, loss_dist, loss_single, two_inputs):
    """Parameters' gradients under DistributedDataParallel equal the single-process ones."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank = dist.get_rank()
    B = sum(sizes)
    x1, x2 = _data(20, B, 5), _data(21, B, 5)
    y = torch.randint(4, (B,), generator=_rng(22))
    single = _model(0, 5, 4)
    ref = loss_single(single, x1, x2, y)
    ref.backward()
    ddp = DDP(_model(0, 5, 4))
    out = loss_dist(ddp, _split(x1, sizes, rank), _split(x2, sizes, rank), _split(y, sizes, rank))
    out.backward()
    errs = [_err(_avg(out), ref)]
    errs += [_err(p.grad, q.grad) for p, q in zip(ddp.module.parameters(), single.parameters())]
    return max(errs)


def _check_ddp_batch_ce(sizes):
    return _ddp_check(sizes, lambda m, a, b, y: lld.batch_cross_entropy(m(a), y),
                      lambda m, a, b, y: ll.batch_cross_entropy(m(a), y), False)


def _check_ddp_info_nce(sizes):
    return _ddp_check(sizes, lambda m, a, b, y: lld.info_nce(m(a), m(b)),
                      lambda m, a, b, y: ll.info_nce(m(a), m(b)), True)


def _check_per_rank_differs(sizes):
    """The loss of each rank's own shard (today's loss under DDP) is a different loss: its
    averaged value and gradients miss the global ones by far more than TOL."""
    B, D = sum(sizes), 3
    return _global_check(ll.info_nce, ll.info_nce, [_data(5, B, D), _data(6, B, D)], [sizes, sizes])


def _vocab_check(dist_fn, single_fn, full, labels_or_target, k_sizes, *, target_grad=False, sum_numbers=3):
    rank = dist.get_rank()
    start = sum(k_sizes[:rank])
    cols = slice(start, start + k_sizes[rank])
    errs = []
    for reduction in ("mean", "none"):
        zf = full.clone().requires_grad_()
        if target_grad:
            tf = labels_or_target.clone().requires_grad_()
            ref = single_fn(zf, tf, reduction=reduction)
            gz, gt = torch.autograd.grad(ref.sum(), [zf, tf])
            zl = full[:, cols].clone().requires_grad_()
            tl = labels_or_target[:, cols].clone().requires_grad_()
            lld.reset_communication()
            out = dist_fn(zl, tl, reduction=reduction)
            comm = lld.communication()
            out.sum().backward()
            # two collectives of O(B) numbers forward (2B, then 3B), none backward
            if comm["collectives"] != 2 or comm["bytes"] > 5 * full.shape[0] * 8 or lld.communication() != comm:
                return float("inf")
            errs += [_err(out, ref), _err(zl.grad, gz[:, cols]), _err(tl.grad, gt[:, cols])]
        else:
            ref = single_fn(zf, labels_or_target, reduction=reduction)
            (gz,) = torch.autograd.grad(ref.sum(), [zf])
            zl = full[:, cols].clone().requires_grad_()
            lld.reset_communication()
            out = dist_fn(zl, labels_or_target, reduction=reduction)
            comm = lld.communication()
            out.sum().backward()
            # two collectives of O(B) numbers forward (the class_start given: no layout gather):
            # B for the MAX, sum_numbers·B (+ 2 scalars) for the fused SUM
            if comm["collectives"] != 2 or comm["bytes"] > ((1 + sum_numbers) * full.shape[0] + 2) * 8:
                return float("inf")
            if lld.communication() != comm:  # local backward
                return float("inf")
            errs += [_err(out, ref), _err(zl.grad, gz[:, cols])]
    return max(errs)


def _k_sizes(world):
    return [5, 3, 4][:world]


def _check_vocab_ce(sizes):
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    B, K = 6, sum(ks)
    z, y = _data(30, B, K) * 3, torch.randint(K, (B,), generator=_rng(31))
    start = sum(ks[:rank])
    return _vocab_check(lambda a, b, **k: lld.vocab_parallel_cross_entropy(a, b, group=None, class_start=start, **k),
                        ll.cross_entropy, z, y, ks)


def _check_vocab_ce_options(sizes):
    """ignore_index, label_smoothing (ε/K over the global K) and a class-weight shard against
    F.cross_entropy on the unsharded logits (weight: PyTorch's mean over Σ w_y)."""
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    B, K = 6, sum(ks)
    start = sum(ks[:rank])
    z, y = _data(36, B, K) * 3, torch.randint(K, (B,), generator=_rng(37))
    w = torch.rand(K, generator=_rng(38), dtype=DT) + 0.1
    y_ign = y.clone()
    y_ign[[1, 4]] = 7  # a valid class id used as ignore_index
    y_def = y.clone()
    y_def[2] = -100
    cases = [(dict(label_smoothing=0.3), y, 4), (dict(weight=w), y, 4), (dict(ignore_index=7), y_ign, 3),
             (dict(), y_def, 3), (dict(weight=w, label_smoothing=0.2, ignore_index=7), y_ign, 5),
             (dict(label_smoothing=1.0, ignore_index=7), y_ign, 4)]
    errs = []
    for kw, labels, n in cases:
        dkw = dict(kw, weight=w[start:start + ks[rank]]) if "weight" in kw else kw
        errs.append(_vocab_check(
            lambda a, b, **k: lld.vocab_parallel_cross_entropy(a, b, group=None, class_start=start, **dkw, **k),
            lambda a, b, **k: F.cross_entropy(a, b, **kw, **k), z, labels, ks, sum_numbers=n))
    return max(errs)


def _check_vocab_selfnorm(sizes):
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    B, K = 6, sum(ks)
    z, y = _data(32, B, K) * 3, torch.randint(K, (B,), generator=_rng(33))
    start = sum(ks[:rank])
    return _vocab_check(lambda a, b, **k: lld.vocab_parallel_self_normalization(a, b, group=None, class_start=start, alpha=0.3, **k),
                        lambda a, b, **k: ll.self_normalization(a, b, alpha=0.3, **k), z, y, ks)


def _check_vocab_composite(sizes):
    ks = _k_sizes(dist.get_world_size())
    B, K = 4, sum(ks)
    errs = []
    for q in (ll.links.exp(alpha=0.7), ll.links.sinh(), ll.links.sigmoid(alpha=2.0, beta=0.5)):
        pred, target = _data(34, B, K), _data(35, B, K)
        errs.append(_vocab_check(
            lambda a, b, **k: lld.vocab_parallel_composite_softmax_loss(a, b, q, group=None, gamma=0.8, **k),
            lambda a, b, **k: ll.composite_softmax_loss(a, b, q, gamma=0.8, **k), pred, target, ks, target_grad=True))
    return max(errs)


def _check_comm_counts(sizes):
    """The documented bytes per step (docs/distributed.md): batch cross-entropy reduces 3 tiny
    tensors forward and one number backward, whatever B and K; InfoNCE gathers the keys once.
    Returns 0 when the counts match, else inf."""
    rank, world = dist.get_rank(), dist.get_world_size()
    z = _split(_data(1, sum(sizes), 4), sizes, rank).requires_grad_()
    y = _split(torch.randint(4, (sum(sizes),), generator=_rng(2)), sizes, rank)
    lld.reset_communication()
    loss = lld.batch_cross_entropy(z, y)
    fwd = lld.communication()
    loss.backward()
    bwd = lld.communication()
    ok = fwd == {"collectives": 3, "bytes": 16 + 8 + 8} and bwd == {"collectives": 4, "bytes": 16 + 8 + 8 + 8}
    q = _split(_data(5, sum(sizes), 3), sizes, rank).requires_grad_()
    lld.reset_communication()
    lld.info_nce(q, q).backward()
    n_max = max(sizes)
    ok &= lld.communication() == {"collectives": 3, "bytes": 24 + n_max * 3 * 8 + world * n_max * 3 * 8}
    return 0.0 if ok else float("inf")


def _check_vocab_sampled(sizes):
    """Class-parallel sampled softmax: value on every rank, the local weight/bias rows and the
    hidden gradient summed over ranks equal the unsharded layer's."""
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    B, K, d = 6, sum(ks), 3
    start = sum(ks[:rank])
    h, W, b = _data(50, B, d), _data(51, K, d), _data(52, K)
    y = torch.randint(K, (B,), generator=_rng(53))
    cases = [dict(sampled=torch.tensor([0, 3, 3, 7, int(y[0])])),  # duplicates and an accidental hit
             dict(num_sampled=4, proposal="log_uniform", generator=7),
             dict(sampled=torch.randint(K, (B, 3), generator=_rng(54)), logq_correction=False)]
    errs = []
    for kw in cases:
        hf, Wf, bf = (t.clone().requires_grad_() for t in (h, W, b))
        ref = ll.sampled_softmax_loss(hf, Wf, bf, y, **kw)
        ref.backward()
        hl = h.clone().requires_grad_()
        Wl, bl = (t[start:start + ks[rank]].clone().requires_grad_() for t in (W, b))
        lld.reset_communication()
        out = lld.vocab_parallel_sampled_softmax_loss(hl, Wl, bl, y, group=None, class_start=start, num_classes=K, **kw)
        comm = lld.communication()
        out.backward()
        if comm["collectives"] != 2 or lld.communication() != comm:
            return float("inf")
        errs += [_err(out, ref), _err(_avg(hl.grad) * world, hf.grad),
                 _err(Wl.grad, Wf.grad[start:start + ks[rank]]), _err(bl.grad, bf.grad[start:start + ks[rank]])]
    return max(errs)


def _raises(fn, word) -> str:
    """'ok' if fn raises a ValueError whose message names ``word``, else what happened."""
    try:
        fn()
    except ValueError as e:
        return "ok" if word in str(e) else f"ValueError without {word!r}: {e}"
    except Exception as e:  # noqa: BLE001 - reported to the test
        return f"{type(e).__name__}: {e}"
    return "no error"


def _check_bad_inputs(sizes):
    world, rank = dist.get_world_size(), dist.get_rank()
    ks = _k_sizes(world)
    K, start = sum(ks), sum(ks[:rank])
    z = _data(40, 3, ks[rank])
    out = {}
    out["labels_out_of_range"] = _raises(
        lambda: lld.vocab_parallel_cross_entropy(z, torch.tensor([0, K, 1]), group=None, class_start=start), "labels")
    # every rank says it starts one class late: a gap at class 0
    out["layout_gap"] = _raises(
        lambda: lld.vocab_parallel_cross_entropy(z, torch.tensor([1, 2, 3]), group=None, class_start=start + 1,
                                                 validate_args=True), "class_start")
    out["rows_disagree"] = _raises(
        lambda: lld.vocab_parallel_cross_entropy(_data(41, 3 + rank, ks[rank]), torch.zeros(3 + rank, dtype=torch.long),
                                                 group=None), "rows")
    d = 4 if rank == 0 else 5
    out["d_disagrees"] = _raises(lambda: lld.info_nce(_data(42, 2, d), _data(43, 2, d)), "disagree")
    out["negatives_on_some_ranks"] = _raises(
        lambda: lld.info_nce(_data(45, 2, 3), _data(46, 2, 3), _data(47, 2, 2, 3) if rank == 0 else None), "disagree")
    k = 3 if rank == 0 else 4
    out["K_disagrees"] = _raises(lambda: lld.batch_cross_entropy(_data(44, 2, k), torch.tensor([0, 1])), "disagree")
    # the group is still usable after the errors: every rank raised at the same point
    out["still_in_sync"] = "ok" if float(_avg(torch.ones(1, dtype=DT))) == 1.0 else "out of sync"
    return out


# A rank holding no rows (rank 1 at world size 3, rank 0 at 2): the global-batch losses
# still equal the single-process loss of the concatenated batch, and that rank returns 0.
EMPTY_ROWS = {2: [0, 5], 3: [3, 0, 2]}


def _empty_rank(check):
    return lambda sizes: check(EMPTY_ROWS[dist.get_world_size()])


CHECKS = {
    "batch_cross_entropy": _check_batch_ce,
    "batch_max_margin": _check_batch_mm,
    "info_nce": _check_info_nce,
    "nt_xent": _check_nt_xent,
    "multiple_negatives_ranking": _check_mnr,
    "in_batch_negatives_loss": _check_in_batch,
    "ge2e": _check_ge2e,
    "ddp_batch_cross_entropy": _check_ddp_batch_ce,
    "ddp_info_nce": _check_ddp_info_nce,
    **{f"{name}[empty rank]": _empty_rank(check) for name, check in [
        ("batch_cross_entropy", _check_batch_ce), ("batch_max_margin", _check_batch_mm), ("info_nce", _check_info_nce),
        ("nt_xent", _check_nt_xent), ("multiple_negatives_ranking", _check_mnr),
        ("in_batch_negatives_loss", _check_in_batch), ("ge2e", _check_ge2e),
        ("ddp_batch_cross_entropy", _check_ddp_batch_ce), ("ddp_info_nce", _check_ddp_info_nce)]},
    "vocab_parallel_cross_entropy": _check_vocab_ce,
    "vocab_parallel_cross_entropy[ignore_index, label_smoothing, weight]": _check_vocab_ce_options,
    "vocab_parallel_self_normalization": _check_vocab_selfnorm,
    "vocab_parallel_composite_softmax_loss": _check_vocab_composite,
    "vocab_parallel_sampled_softmax_loss": _check_vocab_sampled,
    "communication_counts": _check_comm_counts,
    "per_rank_loss": _check_per_rank_differs,
    "bad_inputs": _check_bad_inputs,
}


@pytest.fixture(scope="module", params=[2, 3], ids=lambda w: f"world{w}")
def results(request, tmp_path_factory):
    return spawn(__name__, request.param, tmp_path_factory.mktemp(f"dist{request.param}"), rows=ROWS)


EQUAL = [n for n in CHECKS if n not in ("per_rank_loss", "bad_inputs")]


@pytest.mark.parametrize("name", EQUAL)
def test_equals_single_process(results, name):
    """Value and every gradient equal the single-process loss on the concatenated batch
    (class-parallel: on the unsharded logits), on every rank."""
    for rank, res in enumerate(results):
        err = res[name]
        assert not isinstance(err, str), f"rank {rank}: {err}"
        assert err < TOL, f"rank {rank}: {name} differs from the single-process loss by {err:.3g}"


def test_per_rank_loss_differs(results):
    """The check above can fail: each rank's own-shard batch loss is not the global loss."""
    for rank, res in enumerate(results):
        assert not isinstance(res["per_rank_loss"], str), res["per_rank_loss"]
        assert res["per_rank_loss"] > 1e-3


@pytest.mark.parametrize("case", ["labels_out_of_range", "layout_gap", "rows_disagree", "d_disagrees", "K_disagrees",
                                  "negatives_on_some_ranks", "still_in_sync"])
def test_bad_input_raises_on_every_rank(results, case):
    for rank, res in enumerate(results):
        assert not isinstance(res["bad_inputs"], str), res["bad_inputs"]
        assert res["bad_inputs"][case] == "ok", f"rank {rank}: {res['bad_inputs'][case]}"


# ---------------------------------------------------------------------------------
# Without a process group


def test_no_process_group_is_the_single_process_loss():
    z, y = torch.randn(5, 4, generator=_rng(0), dtype=DT), torch.tensor([0, 1, 2, 3, 0])
    assert torch.equal(lld.batch_cross_entropy(z, y), ll.batch_cross_entropy(z, y))
    assert torch.equal(lld.batch_max_margin(z, y), ll.batch_max_margin(z, y))
    assert torch.equal(lld.info_nce(z, z.flip(0)), ll.info_nce(z, z.flip(0)))
    assert torch.equal(lld.vocab_parallel_cross_entropy(z, y, group=None), ll.cross_entropy(z, y))


@pytest.mark.parametrize("call", [
    lambda g: lld.batch_cross_entropy(torch.randn(3, 2), torch.tensor([0, 1, 0]), group=g),
    lambda g: lld.nt_xent(torch.randn(3, 2), torch.randn(3, 2), group=g),
    lambda g: lld.vocab_parallel_cross_entropy(torch.randn(3, 2), torch.tensor([0, 1, 0]), group=g),
])
def test_group_without_init_process_group_raises(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="group=.*not initialised"):
        call(object())


def test_class_parallel_argument_errors_without_a_group():
    z, y = torch.randn(3, 4), torch.tensor([0, 1, 3])
    with pytest.raises(TypeError, match="validate_args"):
        lld.vocab_parallel_cross_entropy(z, y, group=None, validate_args="yes")
    with pytest.raises(ValueError, match="class_start"):
        lld.vocab_parallel_cross_entropy(z, y, group=None, class_start=4)
    with pytest.raises(ValueError, match="labels"):
        lld.vocab_parallel_self_normalization(z, torch.tensor([0, 1, 4]), group=None)
    with pytest.raises(ValueError, match="label_smoothing"):
        lld.vocab_parallel_cross_entropy(z, y, group=None, label_smoothing=1.5)
    with pytest.raises(TypeError, match="ignore_index"):
        lld.vocab_parallel_cross_entropy(z, y, group=None, ignore_index=0.5)
    with pytest.raises(ValueError, match="weight"):
        lld.vocab_parallel_cross_entropy(z, y, group=None, weight=torch.ones(3))


@pytest.mark.slow
def test_ddp_example_runs_under_torchrun(tmp_path):
    """examples/ddp_slc.py under torchrun with 2 processes (1 epoch, ~11 s) prints both Table-1 rows."""
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not found next to the interpreter")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.path.join(root, "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(free_port()),
                          os.path.join(root, "examples", "ddp_slc.py"), "--epochs", "1"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines if line.startswith(("global", "per-rank"))}
    assert set(rows) == {"global", "per-rank"} and all(len(v) == 3 and all(0 <= x <= 1 for x in v) for v in rows.values())
