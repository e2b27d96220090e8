"""Benchmark: fused linear + loss vs the materialised logits, forward+backward time and peak memory.

Methods, on the same float32 ``hidden [B, d]`` and ``weight [K, d]`` (both require grad) and
``bias [K]``:

* ``ce``:  ``ll.linear_cross_entropy(hidden, weight, labels, linear_bias=bias)`` vs
  ``F.cross_entropy(F.linear(hidden, weight, bias), labels)``;
* ``composite``: ``ll.linear_composite_softmax_loss(hidden, weight, scores, q, linear_bias=bias)``
  vs ``ll.composite_softmax_loss(F.linear(hidden, weight, bias), scores, q)`` with ``q = exp(0.5)``;
  ``scores [B, K]`` is the loss's own input (a teacher's logits), allocated in both.

Time: one process, one warm-up per method, then ``--rounds`` rounds in which the methods run
in alternating order; the figure is the median over rounds of the per-round ratio
fused / materialised (and the median seconds of each).

Memory: each (loss, K, method) runs once in its own subprocess (``--memory-child``), which
builds the inputs, reads its RSS, runs one forward+backward and reads the process's peak RSS
(``VmHWM`` of ``/proc/self/status``, reset with ``/proc/self/clear_refs`` once the inputs
exist). Reported: the peak RSS, and the peak growth over the
RSS with the inputs allocated (what the method itself adds: logits, their gradient, the
parameter gradients). torch has no allocator statistics for CPU tensors, hence RSS.

Run::

    PYTHONPATH=src python benchmarks/bench_linear.py --threads 2                 # B=4096, d=1024, K=32768 and 131072
    PYTHONPATH=src python benchmarks/bench_linear.py --threads 2 --sizes 512x256x8192 --rounds 2

Targets: peak memory <= 1/8 of the materialised path at K=131072, time <= 1.2x.
Writes ``<out>/bench_linear.json`` and ``<out>/bench_linear.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import losslab as ll
from losslab import links

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _inputs(B, d, K, loss, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(B, d, generator=g) / d ** 0.5).requires_grad_()
    weight = torch.randn(K, d, generator=g).requires_grad_()
    bias = torch.zeros(K).requires_grad_()
    if loss == "ce":
        target = torch.randint(0, K, (B,), generator=g)
    else:
        target = torch.randn(B, K, generator=g)
    return hidden, weight, bias, target


_Q = links.exp(alpha=0.5)


def _run(method, loss, hidden, weight, bias, target):
    for t in (hidden, weight, bias):
        t.grad = None
    if method == "fused":
        if loss == "ce":
            out = ll.linear_cross_entropy(hidden, weight, target, linear_bias=bias)
        else:
            out = ll.linear_composite_softmax_loss(hidden, weight, target, _Q, linear_bias=bias)
    else:
        logits = F.linear(hidden, weight, bias)
        if loss == "ce":
            out = F.cross_entropy(logits, target)
        else:
            out = ll.composite_softmax_loss(logits, target, _Q)
        del logits
    out.backward()
    return out.item()


def _hwm() -> int:
    """The process's peak RSS (VmHWM). Not ``getrusage``'s ru_maxrss: Linux carries that across
    exec, so a child started by a big parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _memory_child(loss, B, d, K, method, threads):
    torch.set_num_threads(threads)
    inputs = _inputs(B, d, K, loss)
    base = _rss()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS: the peak below is this method's
    _run(method, loss, *inputs)
    print(json.dumps({"base": base, "peak": _hwm()}))


def _memory(loss, B, d, K, method, threads):
    cmd = [sys.executable, __file__, "--memory-child", loss, str(B), str(d), str(K), method, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _time(loss, B, d, K, rounds, progress):
    inputs = _inputs(B, d, K, loss)
    for m in ("fused", "materialised"):
        _run(m, loss, *inputs)  # warm-up
    secs = {"fused": [], "materialised": []}
    for r in range(rounds):
        order = ("fused", "materialised") if r % 2 == 0 else ("materialised", "fused")
        for m in order:
            t0 = time.perf_counter()
            _run(m, loss, *inputs)
            secs[m].append(time.perf_counter() - t0)
        if progress:
            print(f"  {loss} K={K} round {r + 1}/{rounds}: fused {secs['fused'][-1]:.2f}s, "
                  f"materialised {secs['materialised'][-1]:.2f}s", file=sys.stderr, flush=True)
    ratios = [f / m for f, m in zip(secs["fused"], secs["materialised"])]
    return secs, ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="4096x1024x32768,4096x1024x131072", help="BxdxK, comma-separated")
    p.add_argument("--losses", default="ce,composite")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", default="report/bench_linear")
    p.add_argument("--memory-child", nargs=5, metavar=("LOSS", "B", "d", "K", "METHOD"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.memory_child:
        loss, B, d, K, method = a.memory_child
        return _memory_child(loss, int(B), int(d), int(K), method, a.threads)
    torch.set_num_threads(a.threads)
    try:
        sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
        assert all(len(s) == 3 for s in sizes)
    except (ValueError, AssertionError):
        p.error(f"--sizes must be BxdxK[,BxdxK...]; got {a.sizes!r}")
    losses = a.losses.split(",")
    if not set(losses) <= {"ce", "composite"}:
        p.error(f"--losses must be a comma-separated subset of ce,composite; got {a.losses!r}")
    rows = []
    header = (f"torch {torch.__version__}, {a.threads} threads, float32, {a.rounds} rounds, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(header)
    print(f"{'loss':10s} {'B x d x K':>18s} {'fused s':>8s} {'mat. s':>8s} {'ratio (min-max)':>20s} "
          f"{'peak MB f/m':>14s} {'extra MB f/m':>16s} {'extra ratio':>11s}")
    for loss in losses:
        for B, d, K in sizes:
            secs, ratios = _time(loss, B, d, K, a.rounds, not a.no_progress)
            row = dict(loss=loss, B=B, d=d, K=K, seconds=secs, ratios=ratios,
                       ratio_median=statistics.median(ratios))
            mem = ""
            if not a.no_memory:
                mf = _memory(loss, B, d, K, "fused", a.threads)
                mm = _memory(loss, B, d, K, "materialised", a.threads)
                row["memory"] = {"fused": mf, "materialised": mm}
                ef, em = mf["peak"] - mf["base"], mm["peak"] - mm["base"]
                row["extra_ratio"] = ef / em
                mem = (f"{mf['peak'] / 2**20:6.0f}/{mm['peak'] / 2**20:<7.0f} {ef / 2**20:7.0f}/{em / 2**20:<8.0f} "
                       f"{ef / em:11.3f}")
            rows.append(row)
            print(f"{loss:10s} {f'{B}x{d}x{K}':>18s} {statistics.median(secs['fused']):8.2f} "
                  f"{statistics.median(secs['materialised']):8.2f} "
                  f"{row['ratio_median']:7.2f} ({min(ratios):.2f}-{max(ratios):.2f})     {mem}", flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_linear.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    print(f"wrote {out / 'bench_linear.json'}")


if __name__ == "__main__":
    main()
