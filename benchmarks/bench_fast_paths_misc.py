"""Benchmark: the fast paths of listnet, the in-batch contrastive losses, the quadrature
matching loss and SingleLogitHead, each against a plain PyTorch implementation.

Forward+backward (SingleLogitHead: forward only, as at inference), float32, the same tensors
for every method of a case, in one process. Within a round the methods run one after another
in an order rotated every round; each time is divided by the plain implementation's time of
the same round and the table gives the median of those per-round ratios with their range (the
spread). Memory: peak RSS growth during one call (``benchmarks/_common.PeakRSS``; torch keeps
no allocator statistics for CPU tensors), as a multiple of the plain implementation's growth
and, for the matching loss, of the input's bytes.

Cases (``--cases``, comma-separated):

* ``listnet`` -- ``ll.listnet(s, l)`` (no mask: the fast path), ``ll.listnet(s, l, mask)`` with
  an all-true mask (the masked path, which unmasked calls took before), plain
  ``-(softmax(l) * log_softmax(s)).sum(-1).mean()``; 1024 lists x 128 items, ``--listnet-calls``
  calls per timing (its 0.5 MB tensors are below what RSS sampling resolves: see
  ``tests/test_fast_paths.py`` for its op count).
* ``contrastive`` -- ``ll.nt_xent``, ``ll.info_nce`` (in-batch) and
  ``ll.multiple_negatives_ranking`` against the usual formulation (normalise,
  ``z @ z.T / t``, ``fill_diagonal_(-inf)`` for NT-Xent, ``F.cross_entropy``); B = 4096, d = 256.
  pytorch-metric-learning's ``NTXentLoss``, when installed, at ``--pml-batch`` (default 256:
  at B = 4096 it asks for hundreds of GB).
* ``quadrature`` -- ``ll.matching_loss`` with ``links.custom(torch.sigmoid)`` (no primitive:
  Gauss-Legendre quadrature) against the same link given its primitive ``softplus`` (the
  closed form), at 10^7 elements.
* ``head`` -- ``SingleLogitHead(x, classes=tensor)`` (default: no value check) and with
  ``validate_args=True`` against ``F.linear(x, W[idx], b[idx])``; B = 256, d = 512, K = 10^4,
  8 classes; ``--head-calls`` calls per timing.

For memory figures, run with ``MALLOC_MMAP_THRESHOLD_=65536``: glibc's default threshold adapts
upwards and recycles freed heap, hiding temporaries from the RSS; a fixed threshold returns
every large block to the OS (and makes each page-fault afresh, so read such a run for memory,
not time).

Run::

    PYTHONPATH=src python benchmarks/bench_fast_paths_misc.py --threads 2 --rounds 5
    PYTHONPATH=src python benchmarks/bench_fast_paths_misc.py --cases listnet,head --rounds 3

Targets (issue 13): each losslab method <= 1.2x its plain peer's time and <= 1.5x its memory;
the quadrature path <= 5x the closed form's time and <= 2x the input's bytes in peak memory.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import losslab as ll
from losslab import links
from losslab.slc import SingleLogitHead

from _common import PeakRSS  # noqa: E402  (benchmarks/ is on sys.path)


def _fb(fn, *leaves, calls=1):
    def call():
        for _ in range(calls):
            fn().backward()
            for x in leaves:
                x.grad = None

    return call


def _plain_nt_xent(z1, z2, t):
    N = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = z @ z.T / t
    sim.fill_diagonal_(float("-inf"))
    return F.cross_entropy(sim, torch.cat([torch.arange(N, 2 * N), torch.arange(N)]))


def _plain_in_batch(q, k, scale):
    logits = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T * scale
    return F.cross_entropy(logits, torch.arange(q.shape[0]))


def case_listnet(args):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(1024, 128, generator=g).requires_grad_(True)
    lab = torch.randint(0, 5, (1024, 128), generator=g).float()
    mask = torch.ones_like(lab, dtype=torch.bool)
    c = args.listnet_calls
    return f"listnet, 1024 lists x 128 items, x{c} calls", "plain", {
        "plain": _fb(lambda: -(torch.softmax(lab, -1) * torch.log_softmax(s, -1)).sum(-1).mean(), s, calls=c),
        "ll.listnet (no mask)": _fb(lambda: ll.listnet(s, lab), s, calls=c),
        "ll.listnet (all-true mask)": _fb(lambda: ll.listnet(s, lab, mask), s, calls=c),
    }, None


def case_contrastive(args):
    g = torch.Generator().manual_seed(0)
    B, D = args.batch, 256
    z1 = torch.randn(B, D, generator=g).requires_grad_(True)
    z2 = torch.randn(B, D, generator=g).requires_grad_(True)
    methods = {
        "plain NT-Xent": _fb(lambda: _plain_nt_xent(z1, z2, 0.5), z1, z2),
        "ll.nt_xent": _fb(lambda: ll.nt_xent(z1, z2, temperature=0.5), z1, z2),
        "plain InfoNCE": _fb(lambda: _plain_in_batch(z1, z2, 1 / 0.1), z1, z2),
        "ll.info_nce": _fb(lambda: ll.info_nce(z1, z2, temperature=0.1), z1, z2),
        "ll.multiple_negatives_ranking": _fb(lambda: ll.multiple_negatives_ranking(z1, z2, scale=10.0), z1, z2),
    }
    peers = {"ll.nt_xent": "plain NT-Xent", "ll.info_nce": "plain InfoNCE",
             "ll.multiple_negatives_ranking": "plain InfoNCE"}  # same formula as InfoNCE at scale 1/τ
    return f"in-batch contrastive, B = {B}, d = {D}", "plain NT-Xent", methods, peers


def case_pml(args):
    try:
        from pytorch_metric_learning.losses import NTXentLoss
    except ImportError:
        print("pytorch-metric-learning is not installed: skipped\n")
        return None
    g = torch.Generator().manual_seed(0)
    B, D = args.pml_batch, 256
    z1 = torch.randn(B, D, generator=g).requires_grad_(True)
    z2 = torch.randn(B, D, generator=g).requires_grad_(True)
    pml = NTXentLoss(temperature=0.5)
    labels = torch.cat([torch.arange(B), torch.arange(B)])
    return f"NT-Xent vs pytorch-metric-learning, B = {B}, d = {D}", "pml NTXentLoss", {
        "pml NTXentLoss": _fb(lambda: pml(torch.cat([z1, z2]), labels), z1, z2),
        "plain NT-Xent": _fb(lambda: _plain_nt_xent(z1, z2, 0.5), z1, z2),
        "ll.nt_xent": _fb(lambda: ll.nt_xent(z1, z2, temperature=0.5), z1, z2),
    }, None


def case_quadrature(args):
    g = torch.Generator().manual_seed(0)
    n = args.elements
    pred = torch.randn(n, generator=g).requires_grad_(True)
    target = torch.randn(n, generator=g)
    quad = links.custom(torch.sigmoid)
    closed = links.custom(torch.sigmoid, primitive=F.softplus)
    return f"matching_loss, custom sigmoid link, {n:.0e} elements", "closed form", {
        "closed form": _fb(lambda: ll.matching_loss(pred, target, closed), pred),
        "quadrature": _fb(lambda: ll.matching_loss(pred, target, quad), pred),
    }, None, pred.nbytes


def case_head(args):
    torch.manual_seed(0)
    head = SingleLogitHead(512, 10_000).eval()
    checked = SingleLogitHead(head.linear, validate_args=True).eval()
    x, idx = torch.randn(256, 512), torch.randint(0, 10_000, (8,))
    W, b = head.linear.weight, head.linear.bias

    def repeat(fn):
        def call():
            with torch.no_grad():
                for _ in range(args.head_calls):
                    fn()
        return call

    return f"SingleLogitHead forward, B = 256, d = 512, K = 10^4, 8 classes, x{args.head_calls} calls", "plain", {
        "plain": repeat(lambda: F.linear(x, W[idx], b[idx])),
        "head (default)": repeat(lambda: head(x, classes=idx)),
        "head (validate_args=True)": repeat(lambda: checked(x, classes=idx)),
    }, None


CASES = {"listnet": case_listnet, "contrastive": case_contrastive, "pml": case_pml,
         "quadrature": case_quadrature, "head": case_head}


def run(title, base, methods, peers, input_bytes, rounds):
    names = list(methods)
    mem = {}
    # The RSS sampler is a Python thread: a method that loops in Python (the chunked
    # quadrature) holds the GIL for the default 5 ms between switches and starves it, so
    # the memory pass switches every 0.1 ms.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    for name in names:  # warm-up, then the memory pass
        methods[name]()
        gc.collect()
        with PeakRSS() as m:
            methods[name]()
        mem[name] = m.growth
    sys.setswitchinterval(switch)
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            gc.collect()
            t0 = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - t0)
    print(title, flush=True)
    extra = "  x input" if input_bytes else ""
    print(f"  {'method':32s} {'median s':>9s} {'time / peer, median [spread]':>30s} {'peak MB':>8s} {'/ peer':>7s}{extra}")
    for name in names:
        peer = (peers or {}).get(name, base)
        ratios = [a / b for a, b in zip(times[name], times[peer])]
        mratio = mem[name] / mem[peer] if mem[peer] > 0 else float("nan")
        line = (f"  {name:32s} {statistics.median(times[name]):9.4f} "
                f"{statistics.median(ratios):12.3g} [{min(ratios):.3g}-{max(ratios):.3g}] vs {peer[:10]:10s}"
                f" {mem[name] / 2**20:8.1f} {mratio:7.2f}")
        if input_bytes:
            line += f" {mem[name] / input_bytes:8.2f}"
        print(line, flush=True)
    print(flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="listnet,contrastive,pml,quadrature,head")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4096, help="contrastive batch size B")
    parser.add_argument("--pml-batch", type=int, default=256)
    parser.add_argument("--elements", type=int, default=10**7, help="matching-loss elements")
    parser.add_argument("--head-calls", type=int, default=200)
    parser.add_argument("--listnet-calls", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {' '.join(load)}, "
          f"{args.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n", flush=True)
    for case in args.cases.split(","):
        if case not in CASES:
            parser.error(f"argument --cases: unknown case {case!r} (choose from {', '.join(CASES)})")
        spec = CASES[case](args)
        if spec is None:
            continue
        title, base, methods, peers, *rest = spec
        run(title, base, methods, peers, rest[0] if rest else None, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
