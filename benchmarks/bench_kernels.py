"""Benchmark: the fused composite_softmax_loss kernel vs the reference, cross-entropy and naive eq. (29).

Side by side in one process, on the same float32 tensors ``pred`` (requires grad) and
``target`` of shape ``[B, K]``, forward+backward of a mean loss, for each scaling:

* ``fused``      -- ``composite_softmax_loss(..., impl="fused")`` (losslab.kernels, C++);
* ``reference``  -- ``composite_softmax_loss(..., impl="reference")`` (pure PyTorch);
* ``F.cross_entropy`` -- PyTorch's soft-target cross-entropy ``F.cross_entropy(pred, softmax(target))``
  (the probability target is made once, outside the timing): the loss being replaced;
* ``naive eager`` -- eq. (29) written with torch ops, differentiated by autograd (``--naive``);
* ``naive compiled`` -- the same function under ``torch.compile`` (inductor, ``dynamic=False``;
  compiled during warm-up, outside the timing).

Time: ``--rounds`` rounds after one warm-up call of each method; within a round the
methods run one after the other in an order rotated every round, so that load from
other processes hits all of them alike. Each method's time is divided by the
cross-entropy's time *of the same round*; the table gives the median of those
per-round ratios and their range (min-max) as the spread.

Memory: peak resident-set growth during one forward+backward, sampled from
``/proc/self/statm`` every ~0.2 ms by a thread, relative to the RSS just before the call
(inputs already allocated; glibc returns large blocks to the OS on free, so RSS follows
live tensors). It includes ``pred.grad`` (one ``[B, K]`` tensor) and is given as a
multiple of the logits' bytes ``B*K*4``. torch keeps no allocator statistics for CPU
tensors, hence the RSS sampling.

Run::

    PYTHONPATH=src python benchmarks/bench_kernels.py --threads 2
    PYTHONPATH=src python benchmarks/bench_kernels.py --sizes 256x4096 --rounds 3 --scalings exp0.5 --matching-elements 100000

Also ``matching_loss`` with the sigmoid link, fused and reference, against
``F.binary_cross_entropy_with_logits(pred, sigmoid(target))`` on ``--matching-elements``
elements (the same rounds and ratios; memory as a multiple of the input's bytes).

Targets: fused <= 0.5x soft-target F.cross_entropy (identity, exp), <= 0.6x
(sinh); >= 10x faster than naive autograd of eq. (29); extra peak memory <= 1x the logits;
matching_loss (sigmoid) <= 1.0x BCE-with-logits, memory <= 1x the input; our fused
cross_entropy <= 0.5x eager F.cross_entropy and <= 1.0x torch.compile(F.cross_entropy) at
4096x32768 (``--ce-sizes``: integer labels, forward+backward, compiled outside the timing).

``--load-other-core``: a busy loop in a second Python process for the whole run, so that the
figures "with the other core busy" can be taken (it is killed at exit, also on Ctrl-C).

``--single-logit-sizes``: ``self_normalization`` and ``batch_cross_entropy`` (seed 001) and
``cross_entropy`` with class weights, ``ignore_index`` and label smoothing, fused vs reference vs
``F.cross_entropy`` (for the weighted one with the same arguments), forward+backward of the mean.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import os
import statistics
import sys
import threading
import time

import torch
import torch.nn.functional as F

import losslab
import losslab.kernels
from losslab import links

from _common import PeakRSS, naive_composite_softmax_loss  # noqa: E402  (benchmarks/ is on sys.path)

SCALINGS = {
    "identity": lambda: links.identity(),
    "exp0.5": lambda: links.exp(alpha=0.5),
    "sinh1.0": lambda: links.sinh(alpha=1.0),
}


def _methods(target, q, naive_eager: bool, naive_compiled: bool, reference: bool = True) -> dict:
    probs = torch.softmax(target, -1)
    methods = {
        "fused": lambda x: losslab.composite_softmax_loss(x, target, q, impl="fused"),
        "reference": lambda x: losslab.composite_softmax_loss(x, target, q, impl="reference"),
        "F.cross_entropy": lambda x: F.cross_entropy(x, probs),
    }
    if not reference:
        del methods["reference"]
    if naive_eager:
        methods["naive eager"] = lambda x: naive_composite_softmax_loss(x, target, q)
    if naive_compiled:
        compiled = torch.compile(naive_composite_softmax_loss, dynamic=False)
        methods["naive compiled"] = lambda x: compiled(x, target, q)
    return methods


def _step(fn, x) -> float:
    t0 = time.perf_counter()
    loss = fn(x)
    loss.backward()
    elapsed = time.perf_counter() - t0
    x.grad = None
    return elapsed


def bench(B: int, K: int, q, rounds: int, naive_eager: bool, naive_compiled: bool, reference: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(B, K, generator=g).requires_grad_(True)
    target = torch.randn(B, K, generator=g)
    methods = _methods(target, q, naive_eager, naive_compiled, reference)
    names = list(methods)
    mem = {}
    for name in names:  # warm-up (compiles the compiled one), then the memory pass
        _step(methods[name], pred)
        with PeakRSS() as m:
            _step(methods[name], pred)
        mem[name] = m.growth
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            gc.collect()
            times[name].append(_step(methods[name], pred))
    ce = times["F.cross_entropy"]
    ratios = {name: [t / c for t, c in zip(times[name], ce)] for name in names}
    return {"times": times, "ratios": ratios, "mem": mem, "logits_bytes": B * K * 4}


# --matching-links: elementwise losses timed against BCE-with-logits; "csl-" is composite_sigmoid_loss.
MATCHING_LINKS = {
    "sigmoid": lambda: links.sigmoid(),
    "tanh": lambda: links.tanh(),
    "exp0.5": lambda: links.exp(alpha=0.5),
    "huber1": lambda: links.huber(delta=1.0),
    "csl-sinh0.5": lambda: links.sinh(alpha=0.5),
}


def bench_matching(n: int, rounds: int, link: str = "sigmoid") -> dict:
    """matching_loss (or composite_sigmoid_loss) fused vs reference vs F.binary_cross_entropy_with_logits, n elements."""
    g = torch.Generator().manual_seed(0)
    pred = (torch.randn(n, generator=g) * 2).requires_grad_(True)
    target = torch.randn(n, generator=g) * 2
    probs = torch.sigmoid(target)  # BCE's probability target, made once
    h = MATCHING_LINKS[link]()
    loss = losslab.composite_sigmoid_loss if link.startswith("csl-") else losslab.matching_loss
    methods = {
        "fused": lambda x: loss(x, target, h, impl="fused"),
        "reference": lambda x: loss(x, target, h, impl="reference"),
        "F.bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, probs),
    }
    r = _interleaved(methods, pred, rounds, "F.bce_with_logits")
    r["input_bytes"] = n * 4
    return r


def _interleaved(methods: dict, x, rounds: int, base: str) -> dict:
    """Warm-up and memory pass per method, then ``rounds`` interleaved timed rounds; ratios vs ``base``."""
    names = list(methods)
    mem = {}
    for name in names:
        _step(methods[name], x)
        with PeakRSS() as m:
            _step(methods[name], x)
        mem[name] = m.growth
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            times[name].append(_step(methods[name], x))
    ratios = {name: [t / b for t, b in zip(times[name], times[base])] for name in names}
    return {"times": times, "ratios": ratios, "mem": mem}


def bench_cross_entropy(B: int, K: int, rounds: int) -> dict:
    """losslab.cross_entropy (integer labels) fused vs reference vs F.cross_entropy, eager and compiled."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, K, generator=g).requires_grad_(True)
    labels = torch.randint(0, K, (B,), generator=g)
    compiled = torch.compile(F.cross_entropy, dynamic=False)
    methods = {
        "fused": lambda x: losslab.cross_entropy(x, labels, impl="fused"),
        "reference": lambda x: losslab.cross_entropy(x, labels, impl="reference"),
        "F.cross_entropy": lambda x: F.cross_entropy(x, labels),
        "compiled F.ce": lambda x: compiled(x, labels),
    }
    r = _interleaved(methods, logits, rounds, "F.cross_entropy")
    r["logits_bytes"] = B * K * 4
    return r


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024x32768,4096x32768", help="comma-separated BxK (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--scalings", default=",".join(SCALINGS), help="comma-separated, from: " + ", ".join(SCALINGS))
    parser.add_argument("--naive", action="store_true", help="also time naive eager autograd of eq. (29) (slow)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile of the naive formula")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip composite_softmax_loss's reference implementation (slow on a loaded machine)")
    parser.add_argument("--matching-elements", type=int, default=10**7,
                        help="elements for matching_loss (sigmoid link) vs BCE-with-logits; 0 skips (default: %(default)s)")
    parser.add_argument("--matching-links", default="sigmoid",
                        help="comma-separated links for the matching section, from: " + ", ".join(MATCHING_LINKS)
                        + " (csl-: composite_sigmoid_loss with that scaling) (default: %(default)s)")
    parser.add_argument("--ce-sizes", default="4096x32768",
                        help="comma-separated BxK for cross_entropy with integer labels; empty skips (default: %(default)s)")
    parser.add_argument("--single-logit-sizes", default="4096x32768",
                        help="comma-separated BxK for self_normalization, batch_cross_entropy and class-weighted "
                             "cross_entropy; empty skips (default: %(default)s)")
    parser.add_argument("--load-other-core", action="store_true",
                        help="run a busy loop in a second Python process (one core) for the whole run")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1; got {args.rounds}")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)
    scalings = [s.strip() for s in args.scalings.split(",") if s.strip()]
    for s in scalings:
        if s not in SCALINGS:
            parser.error(f"--scalings: unknown scaling {s!r}; choose from {', '.join(SCALINGS)}")
    status = losslab.kernels.available()
    if not status:
        print(f"error: the fused kernels are not available: {status.reason}", file=sys.stderr)
        return 1
    if args.load_other_core:
        print(f"other core busy: busy-loop process {_BUSY.start()} (killed at exit)", flush=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{now}; torch {torch.__version__}, {torch.get_num_threads()} threads, kernels {status.capability}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"forward+backward, float32, mean loss; {args.rounds} rounds, methods interleaved (order rotated per round);", flush=True)
    print("ratio = time / F.cross_entropy time of the same round: median [min-max] over rounds;", flush=True)
    print("peak = peak RSS growth during one call (includes pred.grad), x = multiple of the logits' bytes\n", flush=True)
    for size in filter(None, (v.strip() for v in args.sizes.split(","))):
        try:
            B, K = (int(v) for v in size.lower().split("x"))
        except ValueError:
            parser.error(f"--sizes: expected BxK such as 1024x32768; got {size!r}")
        for s in scalings:
            r = bench(B, K, SCALINGS[s](), args.rounds, args.naive, not args.no_compile, not args.no_reference)
            lb = r["logits_bytes"]
            print(f"B x K = {B} x {K} (logits {lb / 2**20:.0f} MB), scaling {s}", flush=True)
            print(f"  {'method':18s} {'median s':>9s} {'ratio vs CE':>12s} {'spread':>15s} {'peak MB':>8s} {'x logits':>8s}", flush=True)
            for name, ts in r["times"].items():
                rs = r["ratios"][name]
                print(f"  {name:18s} {statistics.median(ts):9.3f} {statistics.median(rs):11.2f}x "
                      f"  [{min(rs):5.2f}-{max(rs):5.2f}] {r['mem'][name] / 2**20:8.0f} {r['mem'][name] / lb:7.2f}x", flush=True)
            fused = r["times"]["fused"]
            for other in ("naive eager", "naive compiled", "reference"):
                if other in r["times"]:
                    sp = [o / f for o, f in zip(r["times"][other], fused)]
                    print(f"  -> {other} / fused = {statistics.median(sp):.1f}x [{min(sp):.1f}-{max(sp):.1f}]", flush=True)
            print(flush=True)
    matching_links = [v.strip() for v in args.matching_links.split(",") if v.strip()]
    for v in matching_links:
        if v not in MATCHING_LINKS:
            parser.error(f"--matching-links: unknown link {v!r}; choose from {', '.join(MATCHING_LINKS)}")
    for link in matching_links if args.matching_elements > 0 else ():
        n = args.matching_elements
        r = bench_matching(n, args.rounds, link)
        ib = r["input_bytes"]
        what = f"composite_sigmoid_loss, scaling {link[4:]}" if link.startswith("csl-") else f"matching_loss, {link} link"
        print(f"{what}, {n} elements (input {ib / 2**20:.0f} MB) vs F.binary_cross_entropy_with_logits", flush=True)
        print(f"  {'method':18s} {'median s':>9s} {'ratio vs BCE':>12s} {'spread':>15s} {'peak MB':>8s} {'x input':>8s}", flush=True)
        for name, ts in r["times"].items():
            rs = r["ratios"][name]
            print(f"  {name:18s} {statistics.median(ts):9.3f} {statistics.median(rs):11.2f}x "
                  f"  [{min(rs):5.2f}-{max(rs):5.2f}] {r['mem'][name] / 2**20:8.0f} {r['mem'][name] / ib:7.2f}x", flush=True)
        print(flush=True)
    for size in filter(None, (v.strip() for v in args.ce_sizes.split(","))):
        try:
            B, K = (int(v) for v in size.lower().split("x"))
        except ValueError:
            parser.error(f"--ce-sizes: expected BxK such as 4096x32768; got {size!r}")
        r = bench_cross_entropy(B, K, args.rounds)
        lb = r["logits_bytes"]
        print(f"cross_entropy, integer labels, B x K = {B} x {K} (logits {lb / 2**20:.0f} MB)", flush=True)
        print(f"  {'method':18s} {'median s':>9s} {'ratio vs CE':>12s} {'spread':>15s} {'peak MB':>8s} {'x logits':>8s}", flush=True)
        for name, ts in r["times"].items():
            rs = r["ratios"][name]
            print(f"  {name:18s} {statistics.median(ts):9.3f} {statistics.median(rs):11.2f}x "
                  f"  [{min(rs):5.2f}-{max(rs):5.2f}] {r['mem'][name] / 2**20:8.0f} {r['mem'][name] / lb:7.2f}x", flush=True)
        fused, comp = r["times"]["fused"], r["times"]["compiled F.ce"]
        sp = [f / c for f, c in zip(fused, comp)]
        print(f"  -> fused / compiled F.cross_entropy = {statistics.median(sp):.2f}x [{min(sp):.2f}-{max(sp):.2f}]\n", flush=True)
    for size in filter(None, (v.strip() for v in args.single_logit_sizes.split(","))):
        try:
            B, K = (int(v) for v in size.lower().split("x"))
        except ValueError:
            parser.error(f"--single-logit-sizes: expected BxK such as 4096x32768; got {size!r}")
        _print_single_logit(B, K, args.rounds)
    return 0


def bench_single_logit(B: int, K: int, rounds: int) -> dict:
    """self_normalization, batch_cross_entropy and cross_entropy with class weights (+ ignore_index,
    label smoothing): fused vs reference vs F.cross_entropy (the same arguments where it has them)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, K, generator=g).requires_grad_(True)
    labels = torch.randint(0, K, (B,), generator=g)
    labels[::16] = -100  # ignored rows for the weighted cross-entropy
    kept = labels.clamp_min(0)  # the single-logit losses take every row
    w = torch.rand(K, generator=g) + 0.5
    ce_kw = dict(weight=w, ignore_index=-100, label_smoothing=0.1)
    out = {}
    for loss, methods in {
        "self_normalization": {
            "fused": lambda x: losslab.self_normalization(x, kept, impl="fused"),
            "reference": lambda x: losslab.self_normalization(x, kept, impl="reference"),
            "F.cross_entropy": lambda x: F.cross_entropy(x, kept),
        },
        "batch_cross_entropy": {
            "fused": lambda x: losslab.batch_cross_entropy(x, kept, impl="fused"),
            "reference": lambda x: losslab.batch_cross_entropy(x, kept, impl="reference"),
            "F.cross_entropy": lambda x: F.cross_entropy(x, kept),
        },
        "cross_entropy weight+ignore+smoothing": {
            "fused": lambda x: losslab.cross_entropy(x, labels, impl="fused", **ce_kw),
            "reference": lambda x: losslab.cross_entropy(x, labels, impl="reference", **ce_kw),
            "F.cross_entropy": lambda x: F.cross_entropy(x, labels, **ce_kw),
        },
    }.items():
        out[loss] = _interleaved(methods, logits, rounds, "F.cross_entropy")
    return out


def _print_single_logit(B: int, K: int, rounds: int) -> None:
    lb = B * K * 4
    for loss, r in bench_single_logit(B, K, rounds).items():
        print(f"{loss}, B x K = {B} x {K} (logits {lb / 2**20:.0f} MB) vs F.cross_entropy (integer labels)", flush=True)
        print(f"  {'method':18s} {'median s':>9s} {'ratio vs CE':>12s} {'spread':>15s} {'peak MB':>8s} {'x logits':>8s}", flush=True)
        for name, ts in r["times"].items():
            rs = r["ratios"][name]
            print(f"  {name:18s} {statistics.median(ts):9.3f} {statistics.median(rs):11.2f}x "
                  f"  [{min(rs):5.2f}-{max(rs):5.2f}] {r['mem'][name] / 2**20:8.0f} {r['mem'][name] / lb:7.2f}x", flush=True)
        sp = [ref / f for ref, f in zip(r["times"]["reference"], r["times"]["fused"])]
        print(f"  -> reference / fused = {statistics.median(sp):.1f}x [{min(sp):.1f}-{max(sp):.1f}]\n", flush=True)


# --load-other-core: a second process spinning on one core, as another user's job would. Stopped in
# main's caller (finally), at exit (atexit), on SIGTERM (turned into SystemExit) and on Ctrl-C
# (KeyboardInterrupt unwinds through the finally); if this process is killed outright, the loop
# sees its parent change and exits by itself.
_BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(2_000_000):
        pass
"""


class _BusyLoop:
    def __init__(self):
        self.proc = None

    def start(self) -> int:
        import atexit
        import signal
        import subprocess

        self.proc = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL)
        atexit.register(self.stop)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


_BUSY = _BusyLoop()


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    finally:
        _BUSY.stop()
