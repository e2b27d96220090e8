"""``losslab reproduce PAPER``: one report per seed paper, every claim beside what losslab measures.

Writes ``<--out>/reproduce-<paper>/README.md`` (and ``claims.json``): per claim of
:mod:`losslab.experiments.claims`, the paper's statement with its section or equation,
what losslab measured (numbers, with 95% intervals where they are statistics over
seeds), the figures beside (PNG in the same folder, drawn by ``losslab figure``'s
registry) and a verdict, "reproduced" or "differs: how".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Expected wall time (seconds, 2 cores, unloaded) of a full / quick run per paper, said up front:
# 000's full run is dominated by the distillation (100 student trainings of 300 steps).
EXPECTED_S = {"000": (1500, 120), "001": (420, 60), "003": (300, 30)}


def _paper(text: str) -> str:
    from losslab.experiments.claims import PAPERS

    if text not in PAPERS:
        raise argparse.ArgumentTypeError(f"unknown paper {text!r}; valid: {', '.join(PAPERS)}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    # optional for argparse so that a bad option is reported as such; run() requires it
    parser.add_argument("paper", type=_paper, metavar="PAPER", nargs="?", default=None,
                        help="the seed paper: 000 (selective matching losses), 001 (single-logit classification), "
                             "003 (Softmax-family losses)")
    parser.add_argument("--quick", action="store_true",
                        help="small experiments and coarse figures: a few minutes on 2 cores")
    parser.add_argument("--out", type=cli.output_root, default=cli.DEFAULT_OUT, metavar="DIR",
                        help="report root: files go to DIR/reproduce-PAPER/ (default ./report/)")
    parser.add_argument("--threads", type=cli.positive_int, default=None, metavar="N",
                        help="torch intra-op threads (default 1: the models are small, and extra threads "
                             "only wait on each other)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")


def _cell(text: str) -> str:
    # a markdown table cell: one line, no bar
    return " ".join(str(text).replace("|", "\\|").split())


def draw_figures(ids, out: Path, quick: bool, *, on_figure=None) -> dict[str, str]:
    """Draw ``ids`` of the figure registry into ``out`` as ``<id>.png``; ``{id: file name}``
    (empty without matplotlib: the report then says the figures were skipped)."""
    from losslab.experiments._common import matplotlib_available

    if not matplotlib_available():
        print("skipped the figures: matplotlib is not installed (pip install 'losslab[plot]')", file=sys.stderr)
        return {}
    import matplotlib.pyplot as plt

    from losslab.experiments.figures import FIGURES
    from losslab.plots import save

    files = {}
    for key in ids:
        fig = FIGURES[key].draw(quick=quick)
        name = key.replace(":", "_") + ".png"
        save(fig, out / name)
        plt.close(fig)
        files[key] = name
        if on_figure is not None:
            on_figure(key)
    return files


def paper_figures(paper: str) -> list[str]:
    from losslab.experiments.figures import FIGURES

    return [k for k in FIGURES if k.startswith(paper + ":")]


TITLES = {
    "000": "Shamir & Warmuth, *Selective Matching Losses* (seed 000)",
    "001": "Keren, Sabato & Schuller, *Loss functions for fast single-class classification* (seed 001)",
    "003": "Pu, Lian & Chen, *Is Softmax Loss All You Need?* (seed 003, abstract)",
}


def markdown(paper: str, rows: list[dict], figures: dict[str, str], *, size: str, seconds: float) -> str:
    from losslab.experiments.figures import FIGURES

    n_rep = sum(r["verdict"] == "reproduced" for r in rows)
    cmd = f"losslab reproduce {paper}" + (" --quick" if size == "quick" else "")
    lines = [
        f"# Reproducing {TITLES[paper]}",
        "",
        f"Made by `{cmd}` ({'quick' if size != 'full' else 'full'} run, {seconds:.0f} s). "
        f"**{n_rep} of {len(rows)} claims reproduced**, {len(rows) - n_rep} differ.",
        "Intervals are two-sided 95% Student-t intervals over seeds.",
        "",
        "| # | claim | section | verdict |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | [{r['key']}](#{i}-{r['key']}) | {_cell(r['section'])} | {_cell(r['verdict'])} |")
    for i, r in enumerate(rows, 1):
        lines += ["", f"## {i}. {r['key']}", "", f"**Paper ({r['section']}):** {r['statement']}", "",
                  "**Measured by losslab:**", "", r["measured"], "", f"**Verdict:** {r['verdict']}"]
        figs = [f for f in r["figures"] if f in figures]
        if figs:
            lines.append("")
            for f in figs:
                lines += [f"![Figure {f}]({figures[f]})", "", f"*Figure {f}: {FIGURES[f].title}.* "
                          f"Redraw: `losslab figure {f}`.", ""]
    rest = [f for f in figures if not any(f in r["figures"] for r in rows)]
    if rest:
        lines += ["", "## Other figures of the paper", ""]
        for f in rest:
            lines += [f"![Figure {f}]({figures[f]})", "", f"*Figure {f}: {FIGURES[f].title}.*", ""]
    if not figures:
        lines += ["", "(Figures skipped: matplotlib is not installed.)"]
    return "\n".join(lines).rstrip() + "\n"


def reproduce(paper: str, out_root, *, size: str = "full", progress: bool = True, figures=None) -> Path:
    """Measure every claim of ``paper``, draw its figures (``figures``: the ids, default all
    of the paper's) and write ``<out_root>/reproduce-<paper>/README.md`` and ``claims.json``;
    returns the README's path."""
    from losslab.experiments import claims as cl
    from losslab.experiments._common import progress as progress_bar

    out = Path(out_root) / f"reproduce-{paper}"
    out.mkdir(parents=True, exist_ok=True)
    fig_ids = paper_figures(paper) if figures is None else list(figures)
    t0 = time.perf_counter()
    bar = progress_bar(len(cl.CLAIMS[paper]) + len(fig_ids), f"reproduce {paper}", enabled=progress, unit="step")
    rows = []
    for c in cl.CLAIMS[paper]:
        bar.set_description(f"reproduce {paper}: {c.key}")
        t1 = time.perf_counter()
        m = c.measure(size)
        rows.append({"key": c.key, "section": c.section, "statement": c.statement, "measured": m.text,
                     "holds": m.holds, "verdict": cl.verdict(m), "expected": c.expected,
                     "figures": [f for f in c.figures if f in fig_ids], "data": m.data,
                     "seconds": round(time.perf_counter() - t1, 2)})
        bar.update(1)

    def on_figure(key):
        bar.set_description(f"reproduce {paper}: figure {key}")
        bar.update(1)

    files = draw_figures(fig_ids, out, size != "full", on_figure=on_figure)
    bar.close()
    seconds = time.perf_counter() - t0
    (out / "README.md").write_text(markdown(paper, rows, files, size=size, seconds=seconds), encoding="utf-8")
    (out / "claims.json").write_text(json.dumps({"paper": paper, "size": size, "seconds": round(seconds, 1),
                                                 "claims": rows, "figures": files}, indent=2, default=str,
                                                ensure_ascii=False) + "\n", encoding="utf-8")
    return out / "README.md"


def run(args: argparse.Namespace) -> int:
    from losslab.cli import CLIError

    if args.paper is None:
        from losslab.experiments.claims import PAPERS

        raise CLIError(f"argument PAPER: missing; valid: {', '.join(PAPERS)}")
    size = "quick" if args.quick else "full"
    if not args.threads:
        import torch

        torch.set_num_threads(1)
    full_s, quick_s = EXPECTED_S[args.paper]
    expect = quick_s if args.quick else full_s
    print(f"losslab reproduce {args.paper}{' --quick' if args.quick else ''}: expected about "
          f"{expect // 60} min {expect % 60} s on 2 cores" + ("" if args.quick else " (--quick: a few minutes)"),
          flush=True)
    try:
        readme = reproduce(args.paper, args.out, size=size, progress=not args.no_progress)
    except OSError as e:
        raise CLIError(f"argument --out: cannot write under {str(args.out)!r}: {e.strerror or e}") from None
    data = json.loads((readme.parent / "claims.json").read_text(encoding="utf-8"))
    for r in data["claims"]:
        print(f"{r['key']}: {r['verdict']}")
    n = sum(r["verdict"] == "reproduced" for r in data["claims"])
    print(f"{n}/{len(data['claims'])} claims reproduced in {data['seconds']} s")
    print(f"wrote {readme}")
    return 0
