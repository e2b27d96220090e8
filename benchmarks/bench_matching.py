"""Benchmark: composite_softmax_loss forward+backward vs soft-target cross-entropy and naive autograd.

Measured side by side in one run, on the same float32 tensors ``pred`` (requires grad)
and ``target`` of shape ``[B, K]``:

* ``composite_softmax_loss(pred, target, q)`` -- losslab, analytic gradient (eq. 29-30);
* ``F.cross_entropy(pred, softmax(target))`` -- PyTorch's soft-target cross-entropy (the
  probability target is computed once, outside the timing);
* naive eq. (29) written with torch ops and differentiated by autograd.

Time: best of ``--repeats`` forward+backward passes after one warm-up, methods interleaved.
Memory: peak resident-set growth during one forward+backward, sampled from
``/proc/self/statm`` every ~0.2 ms by a thread, relative to the RSS just before the call
(inputs already allocated; glibc returns these large blocks to the OS on free, so RSS
tracks live tensors). It includes ``pred.grad`` (one ``[B, K]`` tensor) and is reported
in MB and as a multiple of the logits' size ``B*K*4`` bytes. torch has no allocator
statistics for CPU tensors, hence the RSS sampling.

Run::

    PYTHONPATH=src python benchmarks/bench_matching.py                      # 1024x32768, 4096x32768
    PYTHONPATH=src python benchmarks/bench_matching.py --sizes 256x4096 --repeats 2

Targets: <= 1.5x the cross-entropy time, >= 4x faster than naive autograd,
extra peak memory <= 2x the logits.
"""
from __future__ import annotations

import argparse
import gc
import os
import threading
import time

import torch
import torch.nn.functional as F

import losslab
from losslab import links

from _common import PeakRSS, naive_composite_softmax_loss  # noqa: E402  (benchmarks/ is on sys.path)

def _methods(target, q, naive=True):
    probs = torch.softmax(target, -1)  # the cross-entropy's probability target, made once
    methods = {
        "losslab composite_softmax_loss": lambda x: losslab.composite_softmax_loss(x, target, q),
        "F.cross_entropy (soft target)": lambda x: F.cross_entropy(x, probs),
    }
    if naive:
        methods["naive autograd eq. (29)"] = lambda x: naive_composite_softmax_loss(x, target, q)
    return methods


def _step(fn, x):
    loss = fn(x)
    loss.backward()
    x.grad = None
    return loss


def bench(B: int, K: int, repeats: int, q, naive: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(B, K, generator=g).requires_grad_(True)
    target = torch.randn(B, K, generator=g)
    methods = _methods(target, q, naive)
    times = {name: float("inf") for name in methods}
    mem = {}
    for name, fn in methods.items():  # warm-up, and the memory pass
        _step(fn, pred)
        with PeakRSS() as m:
            _step(fn, pred)
        mem[name] = m.growth
    for _ in range(repeats):
        for name, fn in methods.items():
            gc.collect()
            t0 = time.perf_counter()
            _step(fn, pred)
            times[name] = min(times[name], time.perf_counter() - t0)
    return {"times": times, "mem": mem, "logits_bytes": B * K * 4}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024x32768,4096x32768", help="comma-separated BxK (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per method (best is kept)")
    parser.add_argument("--scaling", default="exp", choices=["exp", "sinh", "anti_exp", "identity"], help="the scaling q")
    parser.add_argument("--alpha", type=float, default=0.5, help="the scaling's alpha")
    parser.add_argument("--skip-naive", action="store_true",
                        help="time only ours and cross-entropy (the naive pass is ~10x slower)")
    args = parser.parse_args(argv)
    q = getattr(links, args.scaling)(alpha=args.alpha)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, scaling q = {q}", flush=True)
    print("time: best of %d forward+backward passes; memory: peak RSS growth during one pass" % args.repeats, flush=True)
    print("(sampled from /proc/self/statm; includes pred.grad), x = multiple of the logits' bytes B*K*4\n", flush=True)
    for size in args.sizes.split(","):
        B, K = (int(v) for v in size.lower().split("x"))
        r = bench(B, K, args.repeats, q, naive=not args.skip_naive)
        t, m, lb = r["times"], r["mem"], r["logits_bytes"]
        ours = t["losslab composite_softmax_loss"]
        print(f"B x K = {B} x {K}  (logits {lb / 2**20:.0f} MB)", flush=True)
        print(f"  {'method':32s} {'time s':>8s} {'vs ours':>8s} {'peak MB':>8s} {'x logits':>8s}", flush=True)
        for name in t:
            print(f"  {name:32s} {t[name]:8.3f} {t[name] / ours:7.2f}x {m[name] / 2**20:8.0f} {m[name] / lb:7.2f}x", flush=True)
        ce, naive = t["F.cross_entropy (soft target)"], t.get("naive autograd eq. (29)")
        vs_naive = "not run" if naive is None else f"{naive / ours:.2f}"
        print(
            f"  -> ours / cross-entropy = {ours / ce:.2f} (target <= 1.5); naive / ours = {vs_naive} "
            f"(target >= 4); ours extra peak = {m['losslab composite_softmax_loss'] / lb:.2f}x logits (target <= 2)\n",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
