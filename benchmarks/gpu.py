"""GPU benchmark: every fused operator's Triton kernel vs PyTorch eager and torch.compile.

Side by side in one process, on the same CUDA tensors (the differentiable input requires
grad), forward+backward of a mean loss, for each case:

* ``triton``    -- the losslab loss with ``impl="fused"``: on a CUDA tensor, the operator's
  Triton kernel (losslab.kernels.triton_kernels, registered as its CUDA kernel);
* ``eager``     -- the same loss with ``impl="reference"`` (pure PyTorch, eager);
* ``compiled``  -- the naive formula (composite Softmax: eq. 29 term by term) or the reference
  under ``torch.compile`` (inductor, ``dynamic=False``, compiled during warm-up);
* ``baseline``  -- the PyTorch loss being replaced: ``F.cross_entropy`` (soft target for the
  composite Softmax, the same arguments for the cross-entropies, labels for the single-logit
  objectives) or ``F.binary_cross_entropy_with_logits`` for the elementwise losses.

Cases (``--cases``): ``cs_identity``, ``cs_exp0.5``, ``cs_sinh1.0`` (composite_softmax_loss),
``ce_labels`` (integer labels, ``ignore_index``, label smoothing 0.1), ``ce_probs`` (probability
targets), ``ce_weighted`` (class weights + smoothing + ``ignore_index``), ``self_norm``
(self_normalization, α = 0.1), ``batch_ce`` (batch_cross_entropy) at each ``--sizes`` B×K;
``match_sigmoid``, ``match_tanh`` (matching_loss, the sigmoid and a shifted tanh link) and
``csig_sinh0.5`` (composite_sigmoid_loss, γ = 0.8) on ``--elements`` elements.

Time: CUDA events around ``--iters`` calls, ``--rounds`` rounds after a warm-up, the methods'
order rotated every round. Each method's time is divided by the baseline's of the same round;
the table gives the median of those per-round ratios, their range, and the median time.

Bandwidth: the operator alone (``kernel``: forward with the gradient, no autograd) against the
bytes that must move at the least: every input read once and the gradient written once
(composite Softmax and probability targets: ``3·B·K·itemsize``; labels: ``2·B·K·itemsize``;
elementwise: ``3·N·itemsize``), in GB/s and as a share of the device's HBM peak
(``--peak-gbps``, default from a table of known devices). Target for the composite Softmax:
≥ 70% (Liger-Kernel's cross-entropy reaches ~84%). Memory: the peak of
``torch.cuda.max_memory_allocated`` during one forward+backward above what was allocated
before, as a multiple of the input's bytes.

Run on a machine with an NVIDIA GPU and triton::

    .venv/bin/python benchmarks/gpu.py --out bench-gpu
    .venv/bin/python benchmarks/gpu.py --sizes 1024x32768 --cases cs_exp0.5,ce_labels --rounds 3 --dtype bfloat16

Prints a markdown table and writes ``gpu.json`` under ``--out``. Without a CUDA device it says
so and exits 0 having measured nothing. ``--dry-run`` builds every case on the CPU at a small
shape (``--dry-run-size``, ``--dry-run-elements``) and runs each eager method and the operator
once (on the CPU the operator is the C++ kernel), without CUDA, to check the script itself.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from _common import naive_composite_softmax_loss  # noqa: E402  (benchmarks/ is on sys.path)

ROW_CASES = ("cs_identity", "cs_exp0.5", "cs_sinh1.0", "ce_labels", "ce_probs", "ce_weighted", "self_norm", "batch_ce")
ELEMENT_CASES = ("match_sigmoid", "match_tanh", "csig_sinh0.5")
CASES = ROW_CASES + ELEMENT_CASES

# HBM peaks (GB/s) of devices we know, by a substring of torch.cuda.get_device_name().
_PEAK_GBPS = {"H200": 4800.0, "H100 SXM": 3350.0, "H100 PCIe": 2000.0, "H100": 3350.0, "A100-SXM4-80GB": 2039.0,
              "A100": 1555.0, "L40S": 864.0, "A10G": 600.0, "L4": 300.0, "RTX 4090": 1008.0}


@dataclass
class Case:
    """One operator on fixed tensors: methods ``name -> (x -> scalar loss)``, the operator alone
    (``kernel``, no autograd) and the bytes it must move at the least (``floor_bytes``)."""

    name: str
    shape: str
    x: torch.Tensor
    methods: dict[str, Callable] = field(default_factory=dict)
    kernel: Callable | None = None
    floor_bytes: int = 0
    input_bytes: int = 0


def _naive_self_normalization(x, y, alpha):
    lse = torch.logsumexp(x, -1)
    return (lse - x.gather(-1, y.unsqueeze(-1)).squeeze(-1) + alpha * lse * lse).mean()


def _naive_batch_cross_entropy(x, y):
    L = torch.logsumexp(x.flatten(), 0)
    return (L - x.gather(-1, y.unsqueeze(-1)).squeeze(-1) - math.log(x.shape[0])).mean()


def build_case(name: str, B: int, K: int, n: int, dtype: torch.dtype, device: str, compile_: bool) -> Case:
    """The tensors, the four methods and the operator of one case (nothing is run or compiled here)."""
    import losslab as ll
    from losslab import kernels, links

    g = torch.Generator(device=device).manual_seed(0)
    item = torch.empty((), dtype=dtype).element_size()
    ops = torch.ops.losslab
    comp = (lambda f: torch.compile(f, dynamic=False)) if compile_ else (lambda f: None)  # noqa: E731

    if name in ROW_CASES:
        x = torch.randn(B, K, device=device, generator=g).mul_(2).to(dtype).requires_grad_(True)
        shape = f"{B}x{K}"
        labels = torch.randint(0, K, (B,), device=device, generator=g)
        labels[::17] = -100  # some ignored rows
    else:
        x = torch.randn(n, device=device, generator=g).mul_(2).to(dtype).requires_grad_(True)
        shape = f"{n}"
    case = Case(name, shape, x, input_bytes=x.numel() * item)
    t = torch.randn(x.shape, device=device, generator=g).mul_(2).to(dtype)
    xd = x.detach()

    if name.startswith("cs_"):
        q = {"cs_identity": links.identity(), "cs_exp0.5": links.exp(alpha=0.5),
             "cs_sinh1.0": links.sinh(alpha=1.0)}[name]
        spec = kernels.scaling_spec(q)
        probs = torch.softmax(t.float(), -1).to(dtype)
        compiled = comp(naive_composite_softmax_loss)
        case.methods = {
            "triton": lambda x: ll.composite_softmax_loss(x, t, q, impl="fused"),
            "eager": lambda x: ll.composite_softmax_loss(x, t, q, impl="reference"),
            "compiled": compiled and (lambda x: compiled(x, t, q)),
            "baseline": lambda x: F.cross_entropy(x, probs),
        }
        case.kernel = lambda: ops.composite_softmax_fwd(xd, t, *spec, 1.0, True, False)
        case.floor_bytes = 3 * B * K * item  # read ŝ and s, write the gradient
    elif name.startswith("ce_"):
        if name == "ce_probs":
            target, kw = torch.softmax(t.float(), -1).to(dtype), {}
        elif name == "ce_weighted":
            target = labels
            kw = dict(weight=(torch.rand(K, device=device, generator=g) + 0.5).to(dtype), label_smoothing=0.1)
        else:
            target, kw = labels, dict(label_smoothing=0.1)
        ref = functools.partial(ll.cross_entropy, impl="reference", **kw)
        compiled = comp(functools.partial(F.cross_entropy, **kw))
        case.methods = {
            "triton": lambda x: ll.cross_entropy(x, target, impl="fused", **kw),
            "eager": lambda x: ref(x, target),
            "compiled": compiled and (lambda x: compiled(x, target)),
            "baseline": lambda x: F.cross_entropy(x, target, **kw),
        }
        eps = kw.get("label_smoothing", 0.0)
        if "weight" in kw:
            case.kernel = lambda: ops.cross_entropy_weighted_fwd(xd, target, kw["weight"], -100, eps, True, False)
        else:
            case.kernel = lambda: ops.cross_entropy_fwd(xd, target, -100, eps, True, False)
        case.floor_bytes = (3 if name == "ce_probs" else 2) * B * K * item  # (+ the target) read once, gradient written
    elif name == "self_norm":
        y = labels.clamp_min(0)
        compiled = comp(_naive_self_normalization)
        case.methods = {
            "triton": lambda x: ll.self_normalization(x, y, alpha=0.1, impl="fused"),
            "eager": lambda x: ll.self_normalization(x, y, alpha=0.1, impl="reference"),
            "compiled": compiled and (lambda x: compiled(x, y, 0.1)),
            "baseline": lambda x: F.cross_entropy(x, y),
        }
        case.kernel = lambda: ops.self_normalization_fwd(xd, y, 0.1, True)
        case.floor_bytes = 2 * B * K * item
    elif name == "batch_ce":
        y = labels.clamp_min(0)
        compiled = comp(_naive_batch_cross_entropy)
        case.methods = {
            "triton": lambda x: ll.batch_cross_entropy(x, y, impl="fused"),
            "eager": lambda x: ll.batch_cross_entropy(x, y, impl="reference"),
            "compiled": compiled and (lambda x: compiled(x, y)),
            "baseline": lambda x: F.cross_entropy(x, y),
        }
        case.kernel = lambda: ops.batch_cross_entropy_fwd(xd, y, True)
        case.floor_bytes = 2 * B * K * item  # read the logits, write Q_B (the kernel also parks exp in it)
    else:
        if name == "csig_sinh0.5":
            q, gamma = links.sinh(alpha=0.5), 0.8
            fn = functools.partial(ll.composite_sigmoid_loss, scaling=q, gamma=gamma)
            spec = kernels.composite_sigmoid_spec(q)
            case.kernel = lambda: ops.composite_sigmoid_fwd(xd, t, *spec, gamma, True, False, False)
        else:
            q = links.sigmoid() if name == "match_sigmoid" else links.tanh(alpha=2.0, beta=0.5)
            fn = functools.partial(ll.matching_loss, link=q)
            if name == "match_sigmoid":
                spec = kernels.sigmoid_link_spec(q)
                case.kernel = lambda: ops.matching_sigmoid_fwd(xd, t, *spec, True, False)
            else:
                spec = kernels.link_spec(q)
                case.kernel = lambda: ops.matching_link_fwd(xd, t, *spec, True, False, False)
        probs = torch.sigmoid(t.float()).to(dtype)
        compiled = comp(functools.partial(fn, impl="reference"))
        case.methods = {
            "triton": lambda x: fn(x, t, impl="fused"),
            "eager": lambda x: fn(x, t, impl="reference"),
            "compiled": compiled and (lambda x: compiled(x, t)),
            "baseline": lambda x: F.binary_cross_entropy_with_logits(x, probs),
        }
        case.floor_bytes = 3 * n * item  # read ŝ and s, write the gradient
    case.methods = {k: v for k, v in case.methods.items() if v}
    return case


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


def _steps(case: Case) -> dict:
    def step(fn):
        def run():
            fn(case.x).backward()
            case.x.grad = None

        return run

    timed = {m: step(fn) for m, fn in case.methods.items()}
    timed["kernel"] = case.kernel
    return timed


def bench(case: Case, rounds: int, iters: int, peak_gbps) -> dict:
    timed = _steps(case)
    for run in timed.values():  # warm-up: compile and autotune outside the timing
        run()
        run()
    torch.cuda.synchronize()
    names = list(timed)
    per_round = {m: [] for m in names}
    for r in range(rounds):
        for m in names[r % len(names):] + names[: r % len(names)]:
            per_round[m].append(_time(timed[m], iters))
    base = per_round["baseline"]
    out = {}
    for m in names:
        ratios = [a / b for a, b in zip(per_round[m], base)]
        row = {"seconds": statistics.median(per_round[m]), "ratio_to_baseline": statistics.median(ratios),
               "ratio_range": [min(ratios), max(ratios)]}
        if m == "kernel":
            gbps = case.floor_bytes / row["seconds"] / 1e9
            row.update(floor_bytes=case.floor_bytes, achieved_gbps=gbps,
                       fraction_of_peak=gbps / peak_gbps if peak_gbps else None)
        else:
            row["peak_extra_memory_x_input"] = _peak_extra(timed[m]) / case.input_bytes
        out[m] = row
    return out


def dry_run(cases, size, elements, dtype) -> int:
    """Build every case on the CPU at a small shape and run each eager method and the operator
    once: checks the script's plumbing without CUDA (no timing, nothing compiled)."""
    import losslab.kernels

    B, K = size
    have_ops = losslab.kernels.available().cpu
    for name in cases:
        case = build_case(name, B, K, elements, dtype, "cpu", compile_=True)
        ran = []
        for m, fn in case.methods.items():
            if m == "compiled" or (m == "triton" and not have_ops):
                continue  # built, not run: inductor on 2 loaded cores; impl='fused' needs the C++ build
            fn(case.x).backward()
            case.x.grad = None
            ran.append("triton (the C++ kernel here)" if m == "triton" else m)
        if have_ops:
            case.kernel()
            ran.append("kernel")
        print(f"dry run: {name:14s} {case.shape:>10s}  floor {case.floor_bytes:>9d} B  ran on cpu: {', '.join(ran)}")
    print(f"dry run: built {len(cases)} cases without CUDA (the compiled method built, not run)"
          + ("" if have_ops else f" (C++ operators not built: {losslab.kernels.available().reason})"))
    return 0


def _peak_for(device_name: str):
    for key, value in _PEAK_GBPS.items():
        if key in device_name:
            return value
    return None


def _size(text: str) -> tuple[int, int]:
    try:
        B, K = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BxK such as 1024x32768, got {text!r}") from None
    if B < 1 or K < 1:
        raise argparse.ArgumentTypeError(f"B and K must be >= 1, got {text!r}")
    return B, K


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024x32768,4096x32768", help="comma-separated BxK (default: %(default)s)")
    parser.add_argument("--elements", type=_positive, default=10**7, help="elements of the elementwise cases (default: %(default)s)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--rounds", type=_positive, default=7, help="timed rounds (default: %(default)s)")
    parser.add_argument("--iters", type=_positive, default=10, help="calls per method per round (default: %(default)s)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile method")
    parser.add_argument("--peak-gbps", type=float, default=None, help="HBM peak for the fraction (default: known devices)")
    parser.add_argument("--out", default="bench-gpu", help="directory for gpu.json (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="build every case on the CPU at a small shape, run each once, time nothing")
    parser.add_argument("--dry-run-size", type=_size, default=(8, 64), help="BxK of the dry run (default: 8x64)")
    parser.add_argument("--dry-run-elements", type=_positive, default=512, help="elements of the dry run (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [_size(s) for s in args.sizes.split(",") if s]
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument --sizes: {exc}")
    args.cases = [c for c in args.cases.split(",") if c]
    for c in args.cases:
        if c not in CASES:
            parser.error(f"argument --cases: unknown {c!r}; choose from {', '.join(CASES)}")
    if args.peak_gbps is not None and not args.peak_gbps > 0:
        parser.error(f"argument --peak-gbps: must be > 0, got {args.peak_gbps}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    dtype = getattr(torch, args.dtype)
    if args.dry_run:
        return dry_run(args.cases, args.dry_run_size, args.dry_run_elements, dtype)
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device here (torch.cuda.is_available() is False): nothing measured. "
              "Use --dry-run to check the script on the CPU.")
        return 0
    try:
        import triton
    except ImportError as exc:
        print(f"benchmarks/gpu.py: triton is not installed ({exc}): nothing measured")
        return 0
    import losslab.kernels

    status = losslab.kernels.available()
    if not status.gpu:
        print(f"benchmarks/gpu.py: the Triton kernels are not registered (CPU build: {status.cpu} {status.reason}): "
              "nothing measured")
        return 0
    device = torch.cuda.get_device_name()
    peak = args.peak_gbps or _peak_for(device)

    results = []
    print(f"{device}, torch {torch.__version__}, triton {triton.__version__}, {args.dtype}, {args.rounds} rounds x "
          f"{args.iters} calls; ratios: median per-round time / the baseline's (F.cross_entropy or BCE-with-logits)\n")
    print("| case | shape | method | ms/call | x baseline (range) | GB/s on floor | % of peak | extra peak mem (x input) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    shapes = [(B, K, args.elements) for B, K in args.sizes]
    for name in args.cases:
        for B, K, n in (shapes if name in ROW_CASES else shapes[:1]):
            case = build_case(name, B, K, n, dtype, "cuda", compile_=not args.no_compile)
            res = bench(case, args.rounds, args.iters, peak)
            results.append({"case": name, "shape": case.shape, "methods": res})
            for m, row in res.items():
                lo, hi = row["ratio_range"]
                gbps = f"{row['achieved_gbps']:.0f}" if "achieved_gbps" in row else ""
                frac = f"{100 * row['fraction_of_peak']:.0f}%" if row.get("fraction_of_peak") else ""
                mem = f"{row['peak_extra_memory_x_input']:.2f}" if "peak_extra_memory_x_input" in row else ""
                print(f"| {name} | {case.shape} | {m} | {1e3 * row['seconds']:.3f} | {row['ratio_to_baseline']:.2f} "
                      f"({lo:.2f}-{hi:.2f}) | {gbps} | {frac} | {mem} |")
            del case
            torch.cuda.empty_cache()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device, "peak_gbps": peak, "torch": torch.__version__, "triton": triton.__version__,
        "dtype": args.dtype, "rounds": args.rounds, "iters": args.iters, "results": results,
    }
    (out / "gpu.json").write_text(json.dumps(record, indent=2))
    print(f"\nwrote {out / 'gpu.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
