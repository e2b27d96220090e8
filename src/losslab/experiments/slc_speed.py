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
    from losslab.experiments._common import progress as progress_bar
    from losslab.slc import SingleLogitHead

    torch.manual_seed(seed)
    dev = torch.device(device)
    backbone = make_backbone(in_features, width, depth).to(dev).eval()
    x = torch.randn(batch, in_features, device=dev)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    rows = []
    bar = progress_bar(len(log2k), "slc-speed", enabled=progress, unit="K")
    for e in log2k:
        bar.set_description(f"slc-speed K=2^{e:g}")
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
        bar.update(1)
    bar.close()
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
    from losslab import cli

    log2k = cli.comma_list(cli_log2k, what="numbers in [0, 24]")
    parser.add_argument("--log2-classes", type=log2k, default=DEFAULT_LOG2K, metavar="E[,E...]",
                        help="comma list of log2 K (default 10,14,16,18; 18.5 is the paper's largest)")
    parser.add_argument("--in-features", type=cli.positive_int, default=1024, help="backbone input size (default 1024)")
    parser.add_argument("--width", type=cli.positive_int, default=512,
                        help="backbone width = the head's input size (default 512)")
    parser.add_argument("--depth", type=cli.positive_int, default=3, help="backbone hidden layers (default 3)")
    parser.add_argument("--batch", type=cli.positive_int, default=32, help="mini-batch size (default = paper: 32)")
    parser.add_argument("--repeats", type=cli.positive_int, default=20, help="timed forwards per head (default 20; paper: 100)")
    parser.add_argument("--device", type=cli.device, default="cpu", help="cpu (default), cuda, cuda:N or mps")
    cli.add_common(parser)


def cli_log2k(text: str) -> float:
    """One ``--log2-classes`` entry: a number in [0, 24] (2^24 classes is a 32 GiB head at width 512)."""
    import argparse as _argparse

    from losslab.cli import nonnegative_float

    value = nonnegative_float(text)
    if value > 24:
        raise _argparse.ArgumentTypeError(f"expected log2 K in [0, 24], got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from losslab import plots
    from losslab.cli import command_dir
    from losslab.experiments._common import draw

    out = command_dir(args)
    result = measure(tuple(args.log2_classes), in_features=args.in_features, width=args.width, depth=args.depth,
                     batch=args.batch, repeats=args.repeats, device=args.device, progress=not args.no_progress)
    print(markdown(result))
    (out / "slc_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    md = "# SLC speed-up (Table 3 shape)\n\n" + markdown(result) + "\n"
    png = draw(plots.plot_slc_speed, out / "slc_speed.png", result)
    if png is not None:
        md += "\n![time vs K](slc_speed.png)\n"
    (out / "slc_speed.md").write_text(md)
    print(f"wrote {out / 'slc_speed.json'}, {out / 'slc_speed.md'}" + (f" and {png}" if png else ""))
    return 0
