"""Sparse mappings and margin objectives against their fastest peers, side by side.

    .venv/bin/python benchmarks/bench_fast_paths.py                   # every case, 5 rounds
    .venv/bin/python benchmarks/bench_fast_paths.py --only sparsemax --rounds 3

Each case times forward + backward of losslab's function and of its peer on the same
float32 tensors, in interleaved rounds (ours, peer, peer, ours, ...), and prints the
median of the per-round ratios ours / peer; memory is the peak RSS growth of one
forward + backward each (``_common.PeakRSS``, median of 3), as a ratio too, taken in a
child process with a fixed glibc mmap threshold so that every large temporary is returned
to the OS on free and each live ``[N, K]`` buffer shows in the RSS peak (the default
threshold adapts upwards and recycles heap memory, hiding allocations; it stays in force
for the timings, as in normal use). Peers: the ``entmax`` package (its partial sort,
``k=100``) for sparsemax / 1.5-entmax and their losses, and ``F.cross_entropy`` for the
single-logit objectives (the issue's yardstick: a loss that costs no more than
cross-entropy). A peer that is not installed is skipped and said so. Run it with another
``losslab`` on ``PYTHONPATH`` (e.g. an older checkout) to measure that one instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from _common import PeakRSS

import losslab as ll


def _cases(only: str | None):
    try:
        import entmax
    except ImportError:  # pragma: no cover - optional peer
        entmax = None
        print("entmax not installed: the Fenchel-Young cases are skipped")

    def mapping(fn):
        def run(x, y, g):
            fn(x).backward(g)

        return run

    def loss(fn):
        def run(x, y, g):
            fn(x, y).sum().backward()

        return run

    cases = []
    if entmax is not None:
        for size in ((4096, 1000), (256, 32768)):
            cases += [
                ("sparsemax", size, mapping(ll.sparsemax), mapping(lambda x: entmax.sparsemax(x, -1, k=100))),
                ("entmax15", size, mapping(ll.entmax15), mapping(lambda x: entmax.entmax15(x, -1, k=100))),
                (
                    "sparsemax_loss",
                    size,
                    loss(lambda x, y: ll.sparsemax_loss(x, y, reduction="none")),
                    loss(lambda x, y: entmax.sparsemax_loss(x, y, k=100)),
                ),
                (
                    "entmax15_loss",
                    size,
                    loss(lambda x, y: ll.entmax15_loss(x, y, reduction="none")),
                    loss(lambda x, y: entmax.entmax15_loss(x, y, k=100)),
                ),
            ]
    ce = loss(lambda x, y: F.cross_entropy(x, y, reduction="sum"))
    for name in ("max_margin", "batch_max_margin", "softmax_cauchy_schwarz", "sigmoid_cauchy_schwarz",
                 "softmax_tanimoto", "sigmoid_tanimoto"):
        fn = getattr(ll, name)
        cases.append((name, (4096, 1000), loss(lambda x, y, fn=fn: fn(x, y, reduction="sum")), ce))
    return [c for c in cases if only is None or c[0] in only.split(",")]


def _time(run, x, y, g) -> float:
    x.grad = None
    t0 = time.perf_counter()
    run(x, y, g)
    return time.perf_counter() - t0


def _peak(run, x, y, g) -> int:
    x.grad = None
    with PeakRSS() as m:
        run(x, y, g)
    return m.growth


def _memory_ratios(args) -> dict:
    out = {}
    for name, (n, k), ours, peer in _cases(args.only):
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(n, k, generator=gen) * 2).requires_grad_()
        y = torch.randint(k, (n,), generator=gen)
        g = torch.randn(n, k, generator=gen)
        _peak(ours, x, y, g), _peak(peer, x, y, g)  # warm-up
        a = statistics.median(_peak(ours, x, y, g) for _ in range(3))
        b = statistics.median(_peak(peer, x, y, g) for _ in range(3))
        out[f"{name} {n}x{k}"] = (a / max(b, 1), a / x.numel() / 4, b / x.numel() / 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_only:
        print(json.dumps(_memory_ratios(args)))
        return
    child = [sys.executable, __file__, "--memory-only", "--threads", str(args.threads)]
    child += ["--only", args.only] if args.only else []
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    mem = json.loads(subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} interleaved rounds; "
          "ratios ours / peer (time: median of per-round ratios [min, max]; memory: peak RSS growth)")
    print(f"{'case':24s} {'size':>10s} {'time':>7s} {'[min, max]':>15s} {'memory':>7s} "
          f"{'ours ms':>8s} {'peer ms':>8s} {'ours/in':>8s} {'peer/in':>8s}")
    for name, (n, k), ours, peer in _cases(args.only):
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(n, k, generator=gen) * 2).requires_grad_()
        y = torch.randint(k, (n,), generator=gen)
        g = torch.randn(n, k, generator=gen)
        _time(ours, x, y, g), _time(peer, x, y, g)  # warm-up
        ratios, t_ours, t_peer = [], [], []
        for r in range(args.rounds):
            if r % 2:
                b, a = _time(peer, x, y, g), _time(ours, x, y, g)
            else:
                a, b = _time(ours, x, y, g), _time(peer, x, y, g)
            ratios.append(a / b)
            t_ours.append(a)
            t_peer.append(b)
        m, m_ours, m_peer = mem[f"{name} {n}x{k}"]
        print(f"{name:24s} {n:>5d}x{k:<5d} {statistics.median(ratios):6.2f}x [{min(ratios):5.2f}, {max(ratios):5.2f}] "
              f"{m:6.2f}x {1e3 * statistics.median(t_ours):8.1f} {1e3 * statistics.median(t_peer):8.1f} "
              f"{m_ours:7.2f}x {m_peer:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
