"""``losslab slc-speed``: the shape of Table 3 of Keren, Sabato & Schuller (seed 001,
Sect. 6.3) on this machine.

A randomly initialised backbone (an MLP on random-noise inputs: forward time does
not depend on the data or on training, as the paper notes) is followed either by a
full output layer of ``K`` classes or by a :class:`~losslab.slc.SingleLogitHead`
queried for one class. Both are timed side by side in one run, interleaved, per
``K``; the per-example forward time is the median over repeats of a mini-batch
forward divided by the batch size. The speed-up is full time / SLC time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

DEFAULT_LOG2K = (10, 14, 16, 18)


def make_backbone(in_features: int, width: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    d = in_features
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers)


def _time(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def measure(
    log2k: tuple[float, ...] = DEFAULT_LOG2K,
    *,
    in_features: int = 1024,
    width: int = 512,
    depth: int = 3,
    batch: int = 32,
    repeats: int = 20,
    warmup: int = 2,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    log=print,
) -> dict:
    """Time backbone + full head vs backbone + single logit for each ``K = 2**log2k``."""
    from tqdm.auto import tqdm

    from losslab.slc import SingleLogitHead

    torch.manual_seed(seed)
    dev = torch.device(device)
    backbone = make_backbone(in_features, width, depth).to(dev).eval()
    x = torch.randn(batch, in_features, device=dev)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    rows = []
    for e in tqdm(log2k, desc="slc-speed", unit="K", disable=not progress, file=sys.stderr, leave=False):
        k = int(round(2**e))
        head = SingleLogitHead(width, k).to(dev).eval()
        query = k // 2  # any class: the cost is one row of the weight

        def full():
            with torch.inference_mode():
                head(backbone(x))
            sync()

        def single():
            with torch.inference_mode():
                head(backbone(x), classes=query)
            sync()

        with torch.inference_mode():  # the single logit is the full head's column
            feats = backbone(x)
            err = float((head(feats, classes=query) - head(feats)[:, query]).abs().max())
        # interleave full / single in rounds so drifts in machine load hit both alike
        t_full, t_single = [], []
        for fn in (full, single):
            _time(fn, 0, warmup)
        for _ in range(repeats):
            t_full += _time(full, 1, 0)
            t_single += _time(single, 1, 0)
        full_s = statistics.median(t_full) / batch
        single_s = statistics.median(t_single) / batch
        rows.append({
            "log2_classes": e, "classes": k, "full_s_per_example": full_s, "slc_s_per_example": single_s,
            "speedup": full_s / single_s, "head_weight_mb": k * (width + 1) * 4 / 2**20, "max_abs_diff": err,
        })
        del head
    return {
        "experiment": "slc-speed",
        "reference": "Keren, Sabato & Schuller (2019), Table 3",
        "backbone": f"MLP {in_features} -> {depth} x {width} (ReLU)",
        "batch": batch, "repeats": repeats, "device": str(dev),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "rows": rows,
    }


def markdown(result: dict) -> str:
    lines = [
        f"Backbone {result['backbone']}, batch {result['batch']}, median of {result['repeats']} forwards, "
        f"device {result['device']}, {result['threads']} thread(s), torch {result['torch']}.",
        "",
        "| classes | full head (s / example) | single logit (s / example) | SLC speed-up | head weight (MB) |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| 2^{r['log2_classes']:g} = {r['classes']} | {r['full_s_per_example']:.2e} | "
            f"{r['slc_s_per_example']:.2e} | ×{r['speedup']:.2f} | {r['head_weight_mb']:.0f} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log2-classes", default=",".join(str(e) for e in DEFAULT_LOG2K),
                        help="comma list of log2 K (default 10,14,16,18; 18.5 is the paper's largest)")
    parser.add_argument("--in-features", type=int, default=1024)
    parser.add_argument("--width", type=int, default=512, help="backbone width = the head's input size")
    parser.add_argument("--depth", type=int, default=3, help="backbone hidden layers")
    parser.add_argument("--batch", type=int, default=32, help="mini-batch size (paper: 32)")
    parser.add_argument("--repeats", type=int, default=20, help="timed forwards per head (paper: 100)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="also write slc_speed.json and slc_speed.md here")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        log2k = tuple(float(t) for t in args.log2_classes.split(",") if t.strip())
    except ValueError:
        raise SystemExit(f"error: --log2-classes must be comma-separated numbers; got {args.log2_classes!r}")
    if not log2k or any(e < 0 or e > 24 for e in log2k):
        raise SystemExit(f"error: --log2-classes must lie in [0, 24]; got {args.log2_classes!r}")
    for name in ("in_features", "width", "depth", "batch", "repeats"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(log2k, in_features=args.in_features, width=args.width, depth=args.depth, batch=args.batch,
                     repeats=args.repeats, device=args.device, progress=not args.no_progress)
    print(markdown(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "slc_speed.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "slc_speed.md").write_text("# SLC speed-up (Table 3 shape)\n\n" + markdown(result) + "\n")
        print(f"wrote {out / 'slc_speed.json'} and {out / 'slc_speed.md'}")
    return 0
