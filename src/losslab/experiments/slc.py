"""``losslab slc``: single-logit classification on digits (or the user's MNIST),
Tables 1 and 2 of Keren, Sabato & Schuller (seed 001, Sect. 6.1-6.2).

One network per objective, all with the same architecture and initial weights: an
MLP shaped like the paper's MNIST net (two fully connected hidden layers, each
followed by batch normalisation and a ReLU, then the logit layer), scaled down for
8x8 digits; or (``--net cnn``, the default for SVHN and CIFAR colour images) the
paper's convolutional network for SVHN/CIFAR-10/100, :class:`SLCConvNet`. For each objective the learning rate is chosen from the paper's grid
{1, 0.1, 0.01, 0.001} by classification accuracy on a validation split; the chosen
network is then scored on the test split by single-logit classification: for each
class ``j`` the logit ``z_j`` alone ranks the test examples (``z_j > T``), and
1-AUPRC, 1-Precision@0.9 and 1-Precision@0.99 are averaged over classes.

Table 2 compares those SLC scores with "CE with all logits": the cross-entropy
network's softmax-normalised probabilities, which need every logit.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

MEASURES = ("1-AUPRC", "1-P@0.9", "1-P@0.99")
PAPER_LRS = (1.0, 0.1, 0.01, 0.001)


@dataclass
class SLCConfig:
    """What one ``slc`` run trains; the defaults are the command's defaults."""

    hidden: tuple[int, ...] = (128, 128)
    epochs: int = 30
    batch_size: int = 32
    lrs: tuple[float, ...] = PAPER_LRS
    momentum: float = 0.0
    seed: int = 0
    select: str = "accuracy"  # validation criterion for the learning rate, as in the paper
    net: str = "mlp"  # "mlp" (hidden widths) or "cnn" (SLCConvNet with conv_widths)
    conv_widths: tuple[int, ...] = (128, 256, 512, 1024)  # the paper's SVHN/CIFAR network
    objectives: tuple[str, ...] = field(default_factory=lambda: _table1())


def _table1() -> tuple[str, ...]:
    from losslab.slc import TABLE1_OBJECTIVES

    return TABLE1_OBJECTIVES


# --------------------------------------------------------------------------- model


class SLCNet(nn.Module):
    """MLP body (Linear -> BatchNorm -> ReLU per hidden layer) + :class:`SingleLogitHead`."""

    def __init__(self, num_features: int, hidden: Sequence[int], num_classes: int):
        super().__init__()
        from losslab.slc import SingleLogitHead

        layers: list[nn.Module] = []
        width = num_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = SingleLogitHead(width, num_classes)

    def forward(self, x: torch.Tensor, classes=None) -> torch.Tensor:
        return self.head(self.body(x), classes=classes)


class SLCConvNet(nn.Module):
    """The paper's network for SVHN, CIFAR-10 and CIFAR-100 (seed 001, Sect. 6.1) +
    :class:`SingleLogitHead`.

    Six convolutional layers in three pairs: a 5x5 convolution then a 1x1 convolution
    with ``widths[0]``, ``widths[1]``, ``widths[2]`` feature maps (paper: 128, 256, 512),
    each pair followed by 3x3 max-pooling with stride 2; then one dense layer of
    ``widths[3]`` units (paper: 1024). Batch normalisation and a ReLU follow every
    convolutional and dense layer. Inputs are flat rows reshaped to ``image_shape``.
    """

    def __init__(self, image_shape: Sequence[int], num_classes: int, widths: Sequence[int] = (128, 256, 512, 1024)):
        super().__init__()
        from losslab.slc import SingleLogitHead

        if len(widths) != 4:
            raise ValueError(f"widths must hold 4 numbers (three convolution widths and the dense width); got {widths!r}")
        self.image_shape = tuple(int(v) for v in image_shape)
        channels, height, width = self.image_shape
        layers: list[nn.Module] = []
        for w in widths[:3]:
            layers += [nn.Conv2d(channels, w, 5, padding=2), nn.BatchNorm2d(w), nn.ReLU(),
                       nn.Conv2d(w, w, 1), nn.BatchNorm2d(w), nn.ReLU(),
                       nn.MaxPool2d(3, stride=2, padding=1)]
            channels = w
            height, width = (height + 1) // 2, (width + 1) // 2  # floor((n + 2 - 3) / 2) + 1
        self.body = nn.Sequential(nn.Unflatten(1, self.image_shape), *layers, nn.Flatten(),
                                  nn.Linear(channels * height * width, widths[3]), nn.BatchNorm1d(widths[3]), nn.ReLU())
        self.head = SingleLogitHead(widths[3], num_classes)

    def forward(self, x: torch.Tensor, classes=None) -> torch.Tensor:
        return self.head(self.body(x), classes=classes)


def make_network(split, cfg: SLCConfig) -> nn.Module:
    """The network ``cfg.net`` names for ``split``'s data."""
    if cfg.net == "cnn":
        if split.image_shape is None:
            raise ValueError(f"net='cnn' needs image data; {split.name} has flat rows of {split.num_features} features")
        return SLCConvNet(split.image_shape, split.num_classes, cfg.conv_widths)
    return SLCNet(split.num_features, cfg.hidden, split.num_classes)


def network_description(cfg: dict) -> str:
    if cfg.get("net") == "cnn":
        w = cfg["conv_widths"]
        return (f"CNN (paper's SVHN/CIFAR net: 5x5+1x1 convolutions of {w[0]}, {w[1]}, {w[2]} maps, 3x3/2 max-pooling, "
                f"dense {w[3]}; BatchNorm + ReLU)")
    return f"MLP {cfg['hidden']} (BatchNorm + ReLU)"


# ------------------------------------------------------------------------- metrics


def slc_measures(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """Macro and per-class one-minus SLC measures of ``scores [N, K]`` (column ``j`` is
    the score that example ``n`` is of class ``j``), from :func:`losslab.metrics.slc_report`."""
    from losslab.metrics import slc_report

    report = slc_report(scores, labels)
    keys = {"1-AUPRC": "1-AUPRC", "1-P@0.9": "1-Precision@0.9", "1-P@0.99": "1-Precision@0.99"}
    per_class = {"1-AUPRC": report.one_minus_auprc.tolist(),
                 "1-P@0.9": report.one_minus_precision[0.9].tolist(),
                 "1-P@0.99": report.one_minus_precision[0.99].tolist()}
    return {"macro": {m: float(report.macro[k]) for m, k in keys.items()}, "per_class": per_class}


# ------------------------------------------------------------------------ training


@dataclass
class RunResult:
    objective: str
    lr: float
    diverged: bool
    final_loss: float
    val_accuracy: float
    seconds: float
    epochs: int
    model: nn.Module | None = None


def _batches(n: int, batch_size: int, generator: torch.Generator):
    perm = torch.randperm(n, generator=generator)
    # drop a last partial batch: the batch losses need m > 1 and equal-sized batches
    stop = n - (n % batch_size) if n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield perm[i : i + batch_size]


@torch.no_grad()
def _sgd_step(params, grads, velocity, lr: float, momentum: float) -> None:
    # torch.optim.SGD's update (no dampening, nesterov or weight decay), written out
    # because constructing a torch.optim optimizer imports torch._dynamo: ~20 s of the
    # demo's 5-minute budget on 2 slow cores.
    for i, (p, g) in enumerate(zip(params, grads)):
        if momentum:
            velocity[i] = g.clone() if velocity[i] is None else velocity[i].mul_(momentum).add_(g)
            g = velocity[i]
        p.add_(g, alpha=-lr)


def train_one(
    objective: str,
    fn: Callable[..., torch.Tensor],
    split,
    lr: float,
    cfg: SLCConfig,
    *,
    on_epoch: Callable[[], None] | None = None,
) -> RunResult:
    """Train one network with ``fn`` at learning rate ``lr``; stop at the first
    non-finite loss (reported as diverged)."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)  # same initial weights for every objective and lr
    model = make_network(split, cfg)
    params = list(model.parameters())
    velocity: list[torch.Tensor | None] = [None] * len(params)
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # same batch order too
    x, y = split.x_train, split.y_train
    diverged, last, epochs = False, float("nan"), 0
    for _ in range(cfg.epochs):
        epochs += 1
        model.train()
        for idx in _batches(len(y), cfg.batch_size, gen):
            loss = fn(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                diverged = True
                break
            grads = torch.autograd.grad(loss, params)
            _sgd_step(params, grads, velocity, lr, cfg.momentum)
            last = float(loss.detach())
        if on_epoch is not None:
            on_epoch()
        if diverged:
            break
    if not diverged and not all(torch.isfinite(p).all() for p in model.parameters()):
        diverged = True
    val_acc = float("-inf")
    if not diverged:
        model.eval()
        with torch.no_grad():
            logits = model(split.x_val)
        if torch.isfinite(logits).all():
            val_acc = float((logits.argmax(1) == split.y_val).float().mean())
        else:
            diverged = True
    return RunResult(objective, lr, diverged, last, val_acc, time.perf_counter() - start, epochs, model)


def _select(runs: list[RunResult], criterion: str, split) -> RunResult | None:
    ok = [r for r in runs if not r.diverged]
    if not ok:
        return None
    if criterion == "accuracy":
        return max(ok, key=lambda r: r.val_accuracy)  # first in grid order on ties
    if criterion == "auprc":
        def val_auprc(r):
            with torch.no_grad():
                return slc_measures(r.model(split.x_val), split.y_val)["macro"]["1-AUPRC"]

        return min(ok, key=val_auprc)
    raise ValueError(f"select must be 'accuracy' or 'auprc'; got {criterion!r}")


def run_experiment(split, cfg: SLCConfig, *, progress: bool = True, log=print) -> dict:
    """Train, select and score every objective of ``cfg``; return the results dict
    (JSON-serialisable) with Table 1, Table 2 and the mean relative improvement."""
    from losslab.experiments._common import progress as progress_bar
    from losslab.slc import is_pols_aligned, mean_relative_improvement, resolve_objective

    t0 = time.perf_counter()
    fns = {name: resolve_objective(name) for name in cfg.objectives}
    total = len(fns) * len(cfg.lrs) * cfg.epochs
    bar = progress_bar(total, "slc", enabled=progress)
    rows: dict[str, dict] = {}
    models: dict[str, nn.Module] = {}
    for name, fn in fns.items():
        runs = []
        for lr in cfg.lrs:
            bar.set_description(f"slc {name} lr={lr:g}")
            r = train_one(name, fn, split, lr, cfg, on_epoch=lambda: bar.update(1))
            bar.update(cfg.epochs - r.epochs)  # a diverged run stops early
            runs.append(r)
        best = _select(runs, cfg.select, split)
        sweep = [
            {"lr": r.lr, "diverged": r.diverged, "val_accuracy": None if r.diverged else r.val_accuracy,
             "final_train_loss": r.final_loss if math.isfinite(r.final_loss) else None, "seconds": round(r.seconds, 2)}
            for r in runs
        ]
        row = {"objective": name, "pols_aligned": is_pols_aligned(name), "sweep": sweep}
        if best is None:
            row.update(best_lr=None, test=None, note="every learning rate diverged")
        else:
            best.model.eval()
            with torch.no_grad():
                feats = best.model.body(split.x_test)
                # single-logit classification: each class's logit computed on its own
                scores = torch.stack([best.model.head(feats, classes=j) for j in range(split.num_classes)], dim=1)
                test_acc = float((scores.argmax(1) == split.y_test).float().mean())
            m = slc_measures(scores, split.y_test)
            row.update(best_lr=best.lr, val_accuracy=best.val_accuracy, test_accuracy=test_acc,
                       test=m["macro"], test_per_class=m["per_class"])
            models[name] = best.model
        rows[name] = row
    bar.close()

    trained = [r for r in rows.values() if r["test"] is not None]
    aligned = [r for r in trained if r["pols_aligned"]]
    not_aligned = [r for r in trained if not r["pols_aligned"]]
    improvement = {
        m: mean_relative_improvement([r["test"][m] for r in aligned], [r["test"][m] for r in not_aligned])
        for m in MEASURES
    }
    means = {
        "aligned": {m: _mean([r["test"][m] for r in aligned]) for m in MEASURES},
        "not_aligned": {m: _mean([r["test"][m] for r in not_aligned]) for m in MEASURES},
    }
    table2 = []
    if aligned:
        table2.append({"method": "Mean PoLS methods (SLC)", **means["aligned"]})
    if "batch_cross_entropy" in rows and rows["batch_cross_entropy"]["test"]:
        table2.append({"method": "batch CE (SLC)", **rows["batch_cross_entropy"]["test"]})
    if "cross_entropy" in models:
        with torch.no_grad():
            probs = torch.softmax(models["cross_entropy"](split.x_test), dim=1)
        table2.append({"method": "CE with all logits (softmax)", **slc_measures(probs, split.y_test)["macro"]})
    return {
        "experiment": "slc",
        "reference": "Keren, Sabato & Schuller (2019), Tables 1-2",
        "dataset": split.describe(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "table1": [rows[n] for n in rows],
        "means": means,
        "mean_relative_improvement": improvement,
        "table2": table2,
        "seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


# ------------------------------------------------------------------------- output


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}"


def _pct(v) -> str:
    return "–" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def table1_markdown(results: dict) -> str:
    lines = [
        "| objective | PoLS | lr | val acc | " + " | ".join(MEASURES) + " |",
        "|---|---|---|---|" + "---|" * len(MEASURES),
    ]
    rows = results["table1"]
    for aligned in (False, True):
        group = [r for r in rows if r["pols_aligned"] == aligned]
        if aligned and group and len(group) < len(rows):
            lines.append("| *— PoLS-aligned below —* | | | | " + " | ".join("" for _ in MEASURES) + " |")
        for r in group:
            test = r["test"] or {}
            lines.append(
                f"| {r['objective']} | {'yes' if aligned else 'no'} | "
                f"{'–' if r['best_lr'] is None else format(r['best_lr'], 'g')} | "
                f"{_fmt(r.get('val_accuracy'))} | " + " | ".join(_fmt(test.get(m)) for m in MEASURES) + " |"
            )
    imp = results["mean_relative_improvement"]
    lines.append("| **Mean relative improvement** | | | | " + " | ".join(_pct(imp[m]) for m in MEASURES) + " |")
    return "\n".join(lines)


def table2_markdown(results: dict) -> str:
    lines = ["| method | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    for r in results["table2"]:
        lines.append(f"| {r['method']} | " + " | ".join(_fmt(r[m]) for m in MEASURES) + " |")
    return "\n".join(lines)


def markdown_report(results: dict) -> str:
    cfg = results["config"]
    parts = [
        "# Single-logit classification (seed 001, Tables 1–2)",
        "",
        f"Data: {results['dataset']}. Network: {network_description(cfg)}, "
        f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, SGD momentum {cfg['momentum']}, "
        f"learning rate chosen from {cfg['lrs']} by validation {cfg['select']}, seed {cfg['seed']}. "
        f"Wall time {results['seconds']} s on {results['threads']} thread(s), torch {results['torch']}.",
        "",
        "## Table 1 — SLC with each objective (lower is better)",
        "",
        table1_markdown(results),
        "",
        "Mean relative improvement = (mean of non-aligned − mean of PoLS-aligned) / mean of non-aligned.",
    ]
    parts += ["", "## Table 2 — one logit (SLC) vs all logits", "", table2_markdown(results), ""]
    return "\n".join(parts)


def write_outputs(results: dict, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j = out / "slc.json"
    j.write_text(json.dumps(results, indent=2, default=float) + "\n")
    md = out / "slc.md"
    md.write_text(markdown_report(results))
    return [j, md]


# ---------------------------------------------------------------------------- CLI


def objectives_arg(text: str) -> tuple[str, ...]:
    """``--objectives``: 'table1', 'all' or a comma list of :data:`losslab.slc.SLC_OBJECTIVES`."""
    from losslab.cli import names
    from losslab.slc import SLC_OBJECTIVES, TABLE1_OBJECTIVES

    return names(SLC_OBJECTIVES, aliases={"table1": TABLE1_OBJECTIVES, "all": SLC_OBJECTIVES})(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli
    from losslab.slc import SLC_OBJECTIVES

    d = SLCConfig()
    parser.add_argument("--data", metavar="PATH", type=cli.existing_path,
                        help="a directory of MNIST's four IDX files (gz or not), CIFAR-10's or CIFAR-100's binary "
                        "batches or SVHN's train_32x32.mat/test_32x32.mat, or an .npz with x_train, y_train, "
                        "x_test, y_test (default: scikit-learn's digits)")
    parser.add_argument("--objectives", type=objectives_arg, default=d.objectives, metavar="NAMES",
                        choices=cli.Names(SLC_OBJECTIVES + ("table1", "all")),
                        help="'table1' (the paper's 7, default), 'all' (11) or a comma list of: %(choices)s")
    parser.add_argument("--epochs", type=cli.positive_int, default=d.epochs, help=f"(default {d.epochs})")
    parser.add_argument("--hidden", type=cli.comma_list(cli.positive_int, what="positive integers"), default=d.hidden,
                        metavar="W[,W...]", help="hidden widths (default 128,128; paper's MNIST net: 500,500)")
    parser.add_argument("--net", choices=("auto", "mlp", "cnn"), default="auto",
                        help="'mlp' (--hidden), 'cnn' (the paper's SVHN/CIFAR network, --conv-widths) or 'auto' "
                        "(default: cnn for colour images, as in the paper, else mlp)")
    parser.add_argument("--conv-widths", type=cli.comma_list(cli.positive_int, what="positive integers", length=4),
                        default=d.conv_widths, metavar="C1,C2,C3,D",
                        help="cnn: feature maps of the three convolution pairs and the dense width "
                        "(default = paper: 128,256,512,1024)")
    parser.add_argument("--batch-size", type=cli.int_range(2), default=d.batch_size,
                        help=f"(default {d.batch_size}; >= 2: batch norm and the batch losses need it)")
    parser.add_argument("--lrs", type=cli.comma_list(cli.positive_float, what="positive numbers"), default=d.lrs,
                        metavar="LR[,LR...]", help="learning-rate grid (default = paper: 1,0.1,0.01,0.001)")
    parser.add_argument("--momentum", type=cli.momentum, default=d.momentum, help="SGD momentum in [0, 1) (default 0)")
    parser.add_argument("--select", choices=("accuracy", "auprc"), default=d.select,
                        help="validation criterion for the learning rate (paper: accuracy)")
    parser.add_argument("--seed", type=cli.nonnegative_int, default=d.seed)
    parser.add_argument("--seeds", type=cli.positive_int, default=1, metavar="N",
                        help="repeat over seeds --seed .. --seed+N-1 (data split and initial weights) and "
                        "report mean and 95%% t-interval per cell (default 1: one run, no interval)")
    parser.add_argument("--limit", type=cli.int_range(20), default=None, metavar="N",
                        help="digits only: use N examples (smoke runs)")
    cli.add_common(parser)


def config_from_args(args: argparse.Namespace, split=None) -> SLCConfig:
    """The run's configuration; ``--net auto`` resolves against ``split``'s data."""
    net = getattr(args, "net", "mlp")
    if net == "auto":
        colour = split is not None and split.image_shape is not None and split.image_shape[0] == 3
        net = "cnn" if colour else "mlp"
    elif net == "cnn" and split is not None and split.image_shape is None:
        from losslab.cli import CLIError

        raise CLIError(f"argument --net: 'cnn' needs image data; {split.name} has flat rows of {split.num_features} features")
    return SLCConfig(hidden=tuple(args.hidden), epochs=args.epochs, batch_size=args.batch_size, lrs=tuple(args.lrs),
                     momentum=args.momentum, seed=args.seed, select=args.select, objectives=tuple(args.objectives),
                     net=net, conv_widths=tuple(getattr(args, "conv_widths", SLCConfig.conv_widths)))


def load_split(path, seed: int, limit: int | None = None):
    """The dataset for ``--data`` (digits when ``None``); a missing or malformed path is a
    :class:`losslab.cli.CLIError` naming ``--data`` and the path."""
    from losslab import data
    from losslab.cli import CLIError

    if path is None:
        return data.load_digits(seed=seed, limit=limit)
    if limit is not None:
        raise CLIError(f"argument --limit: {limit} examples of the built-in digits; it does not apply to --data {str(path)!r}")
    try:
        return data.load_dataset(path, seed=seed)
    except (OSError, data.DataError) as e:
        msg = str(e)
        for prefix in (f"--data {path}: ", f"{path}: "):  # the path is named once, in front
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        raise CLIError(f"argument --data {str(path)!r}: {msg}") from None


def run(args: argparse.Namespace) -> int:
    from losslab import plots
    from losslab.cli import command_dir
    from losslab.experiments._common import draw

    split = load_split(args.data, args.seed, args.limit)
    cfg = config_from_args(args, split)
    out = command_dir(args)
    print(split.describe())
    if args.seeds == 1:
        results = run_experiment(split, cfg, progress=not args.no_progress)
        print()
        print(markdown_report(results))
        paths = write_outputs(results, out)
    else:
        results = run_seeds(args, cfg, split, out)
        print()
        print(seeds_markdown_report(results))
        paths = write_seeds_outputs(results, out)
    png = draw(plots.plot_slc_table1, out / "slc.png", results)
    if png is not None:
        with open(paths[1], "a") as f:
            f.write(f"\n![Table 1 as bars](slc.png)\n")
        paths.append(png)
    for p in paths:
        print(f"wrote {p}")
    return 0


# ------------------------------------------------------------------ over seeds


def run_seeds(args: argparse.Namespace, cfg: SLCConfig, first_split, out: Path | None = None, *, log=print) -> dict:
    """``--seeds N``: :func:`run_experiment` for seeds ``cfg.seed .. cfg.seed + N - 1``, each
    with its own data split (the loader's ``seed``) and initial weights, then
    :func:`aggregate_seeds`. With ``out``, the aggregate so far is written after each seed,
    so an interrupted run keeps the seeds it finished."""
    from dataclasses import replace

    runs = []
    for i in range(args.seeds):
        seed = cfg.seed + i
        split = first_split if i == 0 else load_split(args.data, seed, args.limit)
        log(f"seed {seed} ({i + 1}/{args.seeds})")
        runs.append(run_experiment(split, replace(cfg, seed=seed), progress=not args.no_progress))
        if out is not None and i + 1 < args.seeds and len(runs) >= 2:
            write_seeds_outputs(aggregate_seeds(runs), out)
    return aggregate_seeds(runs)


def aggregate_seeds(runs: list[dict]) -> dict:
    """Mean and 95% t-interval over seeds (:func:`losslab.experiments._common.mean_ci95`) of
    every Table 1 and Table 2 cell and of the mean relative improvement, which is computed
    per seed and then averaged. The result keeps the one-seed layout (``table1[i]["test"]``,
    ``mean_relative_improvement``, ``means``, ``table2`` hold the means) and adds
    ``*_ci`` entries and ``per_seed`` (every seed's full result)."""
    from losslab.experiments._common import mean_ci95

    first = runs[0]
    table1 = []
    for j, row in enumerate(first["table1"]):
        name = row["objective"]
        per = [r["table1"][j] for r in runs]
        assert all(p["objective"] == name for p in per)
        trained = [p for p in per if p["test"] is not None]
        cis = {m: mean_ci95([p["test"][m] for p in trained]) for m in MEASURES}
        table1.append({
            "objective": name, "pols_aligned": row["pols_aligned"], "seeds_trained": len(trained),
            "best_lr": [p["best_lr"] for p in per],
            "val_accuracy": mean_ci95([p["val_accuracy"] for p in trained])["mean"] if trained else None,
            "test_accuracy": mean_ci95([p["test_accuracy"] for p in trained]),
            "test": {m: c["mean"] for m, c in cis.items()} if trained else None,
            "test_ci": cis,
        })
    imp = {m: mean_ci95([r["mean_relative_improvement"][m] for r in runs]) for m in MEASURES}
    means = {g: {m: mean_ci95([r["means"][g][m] for r in runs])["mean"] for m in MEASURES}
             for g in ("aligned", "not_aligned")}
    table2 = []
    for k, row in enumerate(first["table2"]):
        per = [r["table2"][k] for r in runs if k < len(r["table2"]) and r["table2"][k]["method"] == row["method"]]
        cis = {m: mean_ci95([p[m] for p in per]) for m in MEASURES}
        table2.append({"method": row["method"], **{m: c["mean"] for m, c in cis.items()}, "ci": cis})
    return {
        "experiment": "slc",
        "reference": first["reference"],
        "dataset": first["dataset"],
        "seeds": [r["config"]["seed"] for r in runs],
        "interval": "two-sided 95% Student-t over seeds: mean ± t(0.975, n-1)·sd/√n",
        "config": {**first["config"], "seed": [r["config"]["seed"] for r in runs]},
        "table1": table1,
        "means": means,
        "mean_relative_improvement": {m: c["mean"] for m, c in imp.items()},
        "mean_relative_improvement_ci": imp,
        "table2": table2,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "torch": first["torch"],
        "threads": first["threads"],
        "per_seed": runs,
    }


def _ci(c: dict, pct: bool = False) -> str:
    f = _pct if pct else _fmt
    if c["n"] == 0:
        return "–"
    if c["half_width"] is None:
        return f(c["mean"])
    return f"{f(c['mean'])} ± {f(c['half_width'])}"


def seeds_markdown_report(results: dict) -> str:
    cfg = results["config"]
    n = len(results["seeds"])
    lines = [
        "# Single-logit classification (seed 001, Tables 1–2) over seeds",
        "",
        f"Data: {results['dataset']} (the split of seed {results['seeds'][0]}; each seed draws its own split "
        f"where the loader supports it, and its own initial weights). Network: {network_description(cfg)}, "
        f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, SGD momentum {cfg['momentum']}, learning rate chosen "
        f"per seed from {cfg['lrs']} by validation {cfg['select']}. Seeds {results['seeds']} ({n}). "
        f"Cells: mean ± half-width of the {results['interval']}. "
        f"Wall time {results['seconds']} s on {results['threads']} thread(s), torch {results['torch']}.",
        "",
        "## Table 1 — SLC with each objective (lower is better)",
        "",
        "| objective | PoLS | lr per seed | test acc | " + " | ".join(MEASURES) + " |",
        "|---|---|---|---|" + "---|" * len(MEASURES),
    ]
    for aligned in (False, True):
        for r in (r for r in results["table1"] if r["pols_aligned"] == aligned):
            lrs = ",".join("–" if v is None else format(v, "g") for v in r["best_lr"])
            lines.append(f"| {r['objective']} | {'yes' if aligned else 'no'} | {lrs} | {_ci(r['test_accuracy'])} | "
                         + " | ".join(_ci(r["test_ci"][m]) for m in MEASURES) + " |")
    imp = results["mean_relative_improvement_ci"]
    lines.append("| **Mean relative improvement** | | | | " + " | ".join(_ci(imp[m], pct=True) for m in MEASURES) + " |")
    lines += [
        "",
        "Mean relative improvement = (mean of non-aligned − mean of PoLS-aligned) / mean of non-aligned, "
        "computed per seed; the row gives its mean and 95% interval over seeds.",
        "",
        "## Table 2 — one logit (SLC) vs all logits",
        "",
        "| method | " + " | ".join(MEASURES) + " |",
        "|---|" + "---|" * len(MEASURES),
    ]
    for r in results["table2"]:
        lines.append(f"| {r['method']} | " + " | ".join(_ci(r["ci"][m]) for m in MEASURES) + " |")
    return "\n".join(lines) + "\n"


def write_seeds_outputs(results: dict, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j = out / "slc.json"
    j.write_text(json.dumps(results, indent=2, default=float) + "\n")
    md = out / "slc.md"
    md.write_text(seeds_markdown_report(results))
    return [j, md]
