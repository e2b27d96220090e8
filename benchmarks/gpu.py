"""GPU benchmark: the Triton composite-Softmax kernel vs PyTorch eager, torch.compile and cross-entropy.

Side by side in one process, on the same CUDA tensors ``pred`` (requires grad) and
``target`` of shape ``[B, K]``, forward+backward of a mean loss, for each scaling:

* ``triton``          -- losslab.kernels.triton_kernels.composite_softmax_fwd_triton
  (loss and gradient in one launch), its backward one multiply by the saved gradient;
* ``reference``       -- ``losslab.composite_softmax_loss`` (pure PyTorch, eager);
* ``naive compiled``  -- eq. (29) written with torch ops under ``torch.compile``
  (inductor, ``dynamic=False``, compiled during warm-up, outside the timing);
* ``F.cross_entropy`` -- PyTorch's soft-target ``F.cross_entropy(pred, softmax(target))``
  (the probability target made once, outside the timing): the loss being replaced.

Time: CUDA events around ``--iters`` calls of a method, ``--rounds`` rounds after a
warm-up, the methods' order rotated every round. Each method's time is divided by
F.cross_entropy's time of the same round; the table gives the median of those
per-round ratios and the median time per call.

Bandwidth: the Triton launch alone (``triton kernel``: forward with the gradient,
no autograd) against the 3-pass floor, ``3 * B * K * itemsize`` bytes (read ŝ, read s,
write the gradient), in GB/s and, with ``--peak-gbps`` (default: a table of known
devices), as a fraction of the HBM peak. the target is >= 70% (Liger-Kernel's
cross-entropy reaches ~84%). Memory: the peak of torch.cuda.max_memory_allocated during
one forward+backward above what was allocated before, as a multiple of ``B*K*itemsize``.

Run on a machine with an NVIDIA GPU and triton::

    .venv/bin/python benchmarks/gpu.py --out bench-gpu
    .venv/bin/python benchmarks/gpu.py --sizes 1024x32768 --rounds 3 --scalings exp0.5 --dtype bfloat16

Prints a markdown table and writes ``gpu.json`` under ``--out``. Without a CUDA device
it prints one line saying so and exits with status 1.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import naive_composite_softmax_loss  # noqa: E402  (benchmarks/ is on sys.path)

SCALINGS = ("identity", "exp0.5", "sinh1.0")

# HBM peaks (GB/s) of devices we know, by a substring of torch.cuda.get_device_name().
_PEAK_GBPS = {"H200": 4800.0, "H100 SXM": 3350.0, "H100 PCIe": 2000.0, "H100": 3350.0, "A100-SXM4-80GB": 2039.0,
              "A100": 1555.0, "L40S": 864.0, "A10G": 600.0, "L4": 300.0, "RTX 4090": 1008.0}


def _scaling(name: str):
    from losslab import links

    return {"identity": links.identity, "exp0.5": lambda: links.exp(alpha=0.5), "sinh1.0": lambda: links.sinh(alpha=1.0)}[name]()


def _spec(link) -> tuple:
    ctor, _, scales = link.recipe
    return ctor, float(link.alpha), float(link.beta), math.inf if link.cap is None else float(link.cap), float(math.prod(scales))


class _TritonCompositeSoftmax(torch.autograd.Function):
    """The Triton launcher with the autograd rule the custom operator has: backward
    multiplies the gradient saved by the forward launch by the incoming one (in place)."""

    @staticmethod
    def forward(ctx, pred, target, spec, gamma):
        from losslab.kernels.triton_kernels import composite_softmax_fwd_triton

        loss, grad, _ = composite_softmax_fwd_triton(pred, target, *spec, gamma, True, False)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return grad.mul_(g.unsqueeze(-1)), None, None, None


def _methods(target, q, compile_naive: bool) -> dict:
    import losslab

    spec = _spec(q)
    probs = torch.softmax(target.float(), -1).to(target.dtype)
    methods = {
        "triton": lambda x: _TritonCompositeSoftmax.apply(x, target, spec, 1.0).mean(),
        "reference": lambda x: losslab.composite_softmax_loss(x, target, q),
        "F.cross_entropy": lambda x: F.cross_entropy(x, probs),
    }
    if compile_naive:
        compiled = torch.compile(naive_composite_softmax_loss, dynamic=False)
        methods["naive compiled"] = lambda x: compiled(x, target, q)
    return methods


def _time(fn, iters: int) -> float:
    """Mean seconds per call of ``fn`` over ``iters`` back-to-back calls, by CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / iters


def _peak_extra(fn) -> int:
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def bench(B: int, K: int, name: str, dtype: torch.dtype, rounds: int, iters: int, compile_naive: bool, peak_gbps):
    from losslab.kernels.triton_kernels import composite_softmax_fwd_triton

    g = torch.Generator(device="cuda").manual_seed(0)
    pred = torch.randn(B, K, device="cuda", generator=g).mul_(2).to(dtype).requires_grad_(True)
    target = torch.randn(B, K, device="cuda", generator=g).mul_(2).to(dtype)
    q = _scaling(name)
    methods = _methods(target, q, compile_naive)

    def step(fn):
        def run():
            fn(pred).backward()
            pred.grad = None

        return run

    spec = _spec(q)
    kernel_only = lambda: composite_softmax_fwd_triton(pred.detach(), target, *spec, 1.0, True, False)  # noqa: E731
    timed = {m: step(fn) for m, fn in methods.items()}
    timed["triton kernel"] = kernel_only
    for run in timed.values():  # warm-up: compile and autotune outside the timing
        run()
        run()
    torch.cuda.synchronize()

    names = list(timed)
    per_round = {m: [] for m in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for m in order:
            per_round[m].append(_time(timed[m], iters))
    base = per_round["F.cross_entropy"]
    floor_bytes = 3 * B * K * pred.element_size()
    logits_bytes = B * K * pred.element_size()
    out = {}
    for m in names:
        t = statistics.median(per_round[m])
        row = {
            "seconds": t,
            "ratio_to_ce": statistics.median(a / b for a, b in zip(per_round[m], base)),
            "ratio_range": [min(a / b for a, b in zip(per_round[m], base)), max(a / b for a, b in zip(per_round[m], base))],
        }
        if m == "triton kernel":
            gbps = floor_bytes / t / 1e9
            row["floor_bytes"] = floor_bytes
            row["achieved_gbps"] = gbps
            row["fraction_of_peak"] = gbps / peak_gbps if peak_gbps else None
        else:
            row["peak_extra_memory_x_logits"] = _peak_extra(timed[m]) / logits_bytes
        out[m] = row
    return out


def _peak_for(device_name: str):
    for key, value in _PEAK_GBPS.items():
        if key in device_name:
            return value
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024x32768,4096x32768", help="comma-separated BxK (default: %(default)s)")
    parser.add_argument("--scalings", default=",".join(SCALINGS), help="comma-separated, from: " + ", ".join(SCALINGS))
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default: %(default)s)")
    parser.add_argument("--iters", type=int, default=10, help="calls per method per round (default: %(default)s)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile of the naive formula")
    parser.add_argument("--peak-gbps", type=float, default=None, help="HBM peak for the fraction (default: known devices)")
    parser.add_argument("--out", default="bench-gpu", help="directory for gpu.json (default: %(default)s)")
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device here (torch.cuda.is_available() is False); nothing measured", file=sys.stderr)
        return 1
    try:
        import triton
    except ImportError as exc:
        print(f"benchmarks/gpu.py: triton is not installed ({exc}); nothing measured", file=sys.stderr)
        return 1
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    scalings = [s for s in args.scalings.split(",") if s]
    for s in scalings:
        if s not in SCALINGS:
            parser.error(f"--scalings: unknown {s!r}; choose from {', '.join(SCALINGS)}")
    dtype = getattr(torch, args.dtype)
    device = torch.cuda.get_device_name()
    peak = args.peak_gbps or _peak_for(device)

    results = []
    print(f"{device}, torch {torch.__version__}, triton {triton.__version__}, {args.dtype}, "
          f"{args.rounds} rounds x {args.iters} calls; ratios: median per-round time / F.cross_entropy's\n")
    print("| B x K | scaling | method | ms/call | x F.cross_entropy (range) | GB/s on 3-pass floor | % of peak | extra peak mem (x logits) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for B, K in sizes:
        for s in scalings:
            res = bench(B, K, s, dtype, args.rounds, args.iters, not args.no_compile, peak)
            results.append({"B": B, "K": K, "scaling": s, "methods": res})
            for m, row in res.items():
                lo, hi = row["ratio_range"]
                gbps = f"{row['achieved_gbps']:.0f}" if "achieved_gbps" in row else ""
                frac = f"{100 * row['fraction_of_peak']:.0f}%" if row.get("fraction_of_peak") else ""
                mem = f"{row['peak_extra_memory_x_logits']:.2f}" if "peak_extra_memory_x_logits" in row else ""
                print(f"| {B}x{K} | {s} | {m} | {1e3 * row['seconds']:.3f} | {row['ratio_to_ce']:.2f} ({lo:.2f}-{hi:.2f}) | {gbps} | {frac} | {mem} |")
            torch.cuda.empty_cache()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "peak_gbps": peak,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "dtype": args.dtype,
        "rounds": args.rounds,
        "iters": args.iters,
        "results": results,
    }
    (out / "gpu.json").write_text(json.dumps(record, indent=2))
    print(f"\nwrote {out / 'gpu.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
