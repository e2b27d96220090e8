"""``losslab distill``: distilling a teacher's ranking with selective vs standard losses.

Seed 000's motivating application (Sect. 1, App. F): a student should reproduce the
*top* of a teacher's score vector (which items rank first, and in which order) more than
its tail. A high-score-sensitive composite-Softmax matching loss (eq. 29, scaling
``q(z) = e^{α z}``) concentrates its gradient there; cross-entropy on the teacher's
softmax (KL distillation) and the squared error on logits spread it over all classes.

The set-up is generated (no download): inputs ``x ~ N(0, I_d)``, a fixed random teacher
``t(x) = tanh(x W₁) W₂`` (a one-hidden-layer network, its logits standardised per
example and scaled to ``--teacher-scale``), and a *linear* student, which cannot
represent the teacher exactly and so must choose where to be accurate. Each loss trains
the student with full-batch Adam for ``--steps`` steps at each learning rate of
``--lrs``; the rate with the best validation NDCG@10 is kept (the same criterion for
every loss). Test metrics against the teacher: top-1 agreement, top-k overlap
``|top_k(student) ∩ top_k(teacher)| / k`` and NDCG@10 with the teacher's top ten as
graded relevance (10 for its first, …, 1 for its tenth). Every cell is a mean with a 95%
Student-t interval over ``--seeds`` (each seed a new teacher, data and split); the
paired difference of each loss against ``kl`` per seed gives the verdict (better /
worse / no difference at 95%).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

METRICS = ("top1", "top5", "top10", "ndcg@10")


def _losses() -> dict:
    import losslab as ll
    from losslab import links

    def selective(alpha: float, gamma: float):
        q = links.exp(alpha=alpha)
        return lambda s, t: ll.composite_softmax_loss(s, t, q, gamma=gamma)

    return {
        "kl": ("cross-entropy on the teacher's softmax (KL distillation)",
               lambda s, t: ll.cross_entropy(s, torch.softmax(t, dim=-1))),
        "mse": ("squared error on the logits", lambda s, t: (s - t).pow(2).sum(-1).mean()),
        "selective_exp": ("composite Softmax, q = exp(0.5 z), γ = 1 (high-score sensitive)", selective(0.5, 1.0)),
        "selective_exp_soft": ("composite Softmax, q = exp(0.2 z), γ = 3 (high-score sensitive, flatter p)",
                               selective(0.2, 3.0)),
    }


LOSSES = ("kl", "mse", "selective_exp", "selective_exp_soft")


@dataclass
class DistillConfig:
    classes: int = 100
    features: int = 16
    hidden: int = 64
    train: int = 2000
    val: int = 500
    test: int = 1000
    teacher_scale: float = 3.0
    steps: int = 300
    lrs: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01)
    seeds: int = 5
    losses: tuple[str, ...] = LOSSES


def make_task(cfg: DistillConfig, seed: int) -> dict:
    """Inputs and the teacher's standardised logits for one seed, split train/val/test."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(cfg.features, cfg.hidden, generator=g) / math.sqrt(cfg.features)
    w2 = torch.randn(cfg.hidden, cfg.classes, generator=g) / math.sqrt(cfg.hidden)
    n = cfg.train + cfg.val + cfg.test
    x = torch.randn(n, cfg.features, generator=g)
    t = torch.tanh(x @ w1) @ w2
    t = (t - t.mean(1, keepdim=True)) / t.std(1, keepdim=True) * cfg.teacher_scale
    a, b = cfg.train, cfg.train + cfg.val
    return {"x_train": x[:a], "t_train": t[:a], "x_val": x[a:b], "t_val": t[a:b], "x_test": x[b:], "t_test": t[b:]}


def teacher_grades(t: torch.Tensor, top: int = 10) -> torch.Tensor:
    """Graded relevance from the teacher's ranking: ``top`` for its first item, … 1 for
    its ``top``-th, 0 below."""
    grades = torch.zeros_like(t)
    order = t.topk(min(top, t.shape[-1]), dim=-1).indices
    values = torch.arange(order.shape[-1], 0, -1, dtype=t.dtype).expand_as(order)
    return grades.scatter_(-1, order, values)


def agreement(student: torch.Tensor, teacher: torch.Tensor) -> dict:
    """Top-1 agreement, top-5/top-10 overlap and NDCG@10 of ``student`` against ``teacher``."""
    from losslab.metrics import ndcg_at_k

    out = {"top1": float((student.argmax(-1) == teacher.argmax(-1)).double().mean())}
    for k in (5, 10):
        s_top = torch.zeros_like(student, dtype=torch.bool).scatter_(-1, student.topk(k, -1).indices, True)
        t_top = torch.zeros_like(teacher, dtype=torch.bool).scatter_(-1, teacher.topk(k, -1).indices, True)
        out[f"top{k}"] = float((s_top & t_top).sum(-1).double().mean() / k)
    out["ndcg@10"] = float(ndcg_at_k(student, teacher_grades(teacher), 10).mean())
    return out


def train_student(loss_fn, task: dict, lr: float, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """A linear student ``x W + b`` trained with full-batch Adam (β = 0.9, 0.999); returns
    ``(W, b, diverged)``. Adam is written out: constructing a ``torch.optim`` optimiser
    imports ``torch._dynamo``, seconds of a quick run."""
    x, t = task["x_train"], task["t_train"]
    g = torch.Generator().manual_seed(seed + 7)
    w = (torch.randn(x.shape[1], t.shape[1], generator=g) * 0.01).requires_grad_()
    b = torch.zeros(t.shape[1], requires_grad=True)
    params = (w, b)
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        loss = loss_fn(x @ w + b, t)
        if not torch.isfinite(loss):
            return w.detach(), b.detach(), True
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, gr, m_i, v_i in zip(params, grads, m, v):
                m_i.mul_(0.9).add_(gr, alpha=0.1)
                v_i.mul_(0.999).addcmul_(gr, gr, value=0.001)
                p.sub_(lr * (m_i / (1 - 0.9**step)) / ((v_i / (1 - 0.999**step)).sqrt() + 1e-8))
    diverged = not (torch.isfinite(w).all() and torch.isfinite(b).all())
    return w.detach(), b.detach(), bool(diverged)


def run_experiment(cfg: DistillConfig, *, progress: bool = True) -> dict:
    from losslab.experiments._common import mean_ci95
    from losslab.experiments._common import progress as progress_bar

    table = _losses()
    bar = progress_bar(cfg.seeds * len(cfg.losses) * len(cfg.lrs), "distill", enabled=progress, unit="run")
    per_seed: dict[str, list[dict]] = {name: [] for name in cfg.losses}
    t0 = time.perf_counter()
    for seed in range(cfg.seeds):
        task = make_task(cfg, seed)
        for name in cfg.losses:
            fn = table[name][1]
            best = None
            for lr in cfg.lrs:
                bar.set_description(f"distill seed {seed} {name} lr {lr:g}")
                w, b, diverged = train_student(fn, task, lr, cfg.steps, seed)
                bar.update()
                if diverged:
                    continue
                val = agreement(task["x_val"] @ w + b, task["t_val"])["ndcg@10"]
                if best is None or val > best[0]:
                    best = (val, lr, w, b)
            if best is None:
                per_seed[name].append({m: float("nan") for m in METRICS} | {"lr": None})
                continue
            _, lr, w, b = best
            per_seed[name].append(agreement(task["x_test"] @ w + b, task["t_test"]) | {"lr": lr})
    bar.close()
    summary = {name: {m: mean_ci95([r[m] for r in rows]) for m in METRICS} for name, rows in per_seed.items()}
    paired = {}
    if "kl" in per_seed:
        for name, rows in per_seed.items():
            if name == "kl":
                continue
            paired[name] = {}
            for m in METRICS:
                diff = mean_ci95([r[m] - k[m] for r, k in zip(rows, per_seed["kl"])])
                verdict = ("no difference at 95%" if diff["low"] is None or diff["low"] <= 0 <= diff["high"]
                           else "better than kl" if diff["low"] > 0 else "worse than kl")
                paired[name][m] = diff | {"verdict": verdict}
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "losses": {name: table[name][0] for name in cfg.losses},
        "per_seed": per_seed,
        "summary": summary,
        "vs_kl": paired,
        "seconds": round(time.perf_counter() - t0, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def _cell(c: dict) -> str:
    if c["half_width"] is None:
        return f"{c['mean']:.3f}"
    return f"{c['mean']:.3f} ± {c['half_width']:.3f}"


def markdown_report(results: dict) -> str:
    cfg = results["config"]
    lines = [
        "# Distilling a teacher's ranking: selective vs standard losses (seed 000's application)",
        "",
        f"Teacher: a random one-hidden-layer network ({cfg['features']} → {cfg['hidden']} tanh → {cfg['classes']} "
        f"classes), logits standardised per example × {cfg['teacher_scale']}. Student: linear. "
        f"{cfg['train']}/{cfg['val']}/{cfg['test']} train/val/test inputs per seed; full-batch Adam, {cfg['steps']} "
        f"steps; learning rate per loss and seed from {cfg['lrs']} by validation NDCG@10. "
        f"Cells: test mean ± half-width of the 95% t-interval over {cfg['seeds']} seeds (higher is better). "
        f"Wall time {results['seconds']} s on {results['threads']} thread(s), torch {results['torch']}.",
        "",
        "| loss | " + " | ".join(METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for name, row in results["summary"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(row[m]) for m in METRICS) + " |")
    lines += ["", "Losses:", ""] + [f"- `{n}`: {d}" for n, d in results["losses"].items()]
    if results["vs_kl"]:
        lines += ["", "## Paired against `kl` (same seeds; difference, 95% interval, verdict)", "",
                  "| loss | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for name, row in results["vs_kl"].items():
            cells = [f"{row[m]['mean']:+.3f} ({row[m]['verdict']})" for m in METRICS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    d = DistillConfig()
    parser.add_argument("--losses", type=cli.names(LOSSES), default=d.losses, metavar="NAMES", choices=cli.Names(LOSSES),
                        help="comma list (default: all) of: %(choices)s")
    parser.add_argument("--classes", type=cli.int_range(10), default=d.classes, help=f"K >= 10 (default {d.classes})")
    parser.add_argument("--features", type=cli.positive_int, default=d.features, help=f"(default {d.features})")
    parser.add_argument("--train", type=cli.int_range(2), default=d.train, help=f"training inputs (default {d.train})")
    parser.add_argument("--teacher-scale", type=cli.positive_float, default=d.teacher_scale,
                        help=f"std of the teacher's logits per example (default {d.teacher_scale})")
    parser.add_argument("--steps", type=cli.positive_int, default=d.steps, help=f"Adam steps (default {d.steps})")
    parser.add_argument("--lrs", type=cli.comma_list(cli.positive_float, what="positive numbers"), default=d.lrs,
                        metavar="LR[,LR...]", help="learning-rate grid (default 1,0.3,0.1,0.03,0.01)")
    parser.add_argument("--seeds", type=cli.int_range(2), default=d.seeds,
                        help=f"seeds, each a new teacher and data; >= 2 for an interval (default {d.seeds})")
    parser.add_argument("--quick", action="store_true",
                        help="at most 3 seeds, 150 steps, 1000 training inputs and the rates 0.3,0.1,0.03 (a minute or two)")
    cli.add_common(parser)


def config_from_args(args: argparse.Namespace) -> DistillConfig:
    cfg = DistillConfig(classes=args.classes, features=args.features, train=args.train, teacher_scale=args.teacher_scale,
                        steps=args.steps, lrs=tuple(args.lrs), seeds=args.seeds, losses=tuple(args.losses))
    if args.quick:
        cfg.seeds, cfg.steps, cfg.train = min(cfg.seeds, 3), min(cfg.steps, 150), min(cfg.train, 1000)
        cfg.lrs = (0.3, 0.1, 0.03)
    return cfg


def write_outputs(results: dict, out: Path) -> list[Path]:
    from losslab import plots
    from losslab.experiments._common import draw

    j = out / "distill.json"
    j.write_text(json.dumps(results, indent=2, default=float) + "\n")
    md = out / "distill.md"
    text = markdown_report(results)
    png = draw(plots.plot_distill, out / "distill.png", results)
    if png is not None:
        text += "\n![test agreement with the teacher, mean and 95% interval over seeds](distill.png)\n"
    md.write_text(text)
    return [j, md] + ([png] if png is not None else [])


def run(args: argparse.Namespace) -> int:
    from losslab.cli import command_dir

    cfg = config_from_args(args)
    out = command_dir(args)
    results = run_experiment(cfg, progress=not args.no_progress)
    print(markdown_report(results))
    for p in write_outputs(results, out):
        print(f"wrote {p}")
    return 0
