"""``losslab plot``: a PNG gallery of the four sensitivity types of selective losses (seed 000).

Low norm, high score, low score and high norm sensitivity (Table 1, Table H.1),
for scalar matching losses (Figure 2, H.1), composite Sigmoid losses (Figure 3),
multi-class losses -- decomposed Sigmoid for low norm, composite Softmax for the
others (Figure 4) -- and two-class contours (Figure 5). An ``index.md`` lists
the files with what each shows.

Run ``losslab plot`` (it writes ``./report/plot/``; ``--out DIR`` writes ``DIR/plot/``),
or from Python :func:`write_gallery`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["GalleryEntry", "GALLERY", "write_gallery", "add_arguments", "run"]

DEFAULT_OUT = Path("report") / "gallery"


@dataclass(frozen=True)
class GalleryEntry:
    """One PNG of the gallery: its file name, a title, what it shows and the function drawing it."""

    filename: str
    title: str
    description: str
    make: Callable[[], object]  # () -> matplotlib Figure


# Link parameters: steep enough that the selective shape shows on ŝ ∈ [-6, 6], with s ∈ {-3, 0, 3}.
_A = 1.5  # sigmoid slope
# Sigmoid and SmeLU shift. The high-score picture (seed 000, Section 2: "steep losses on both
# sides of high observed scores, penalizing overestimation higher than underestimation") needs
# s = 3 on the convex, left part of the link: β > 3 for the sigmoid (inflection at β), and
# β + c > 4.5 for the SmeLU gradient (c = 1.5; linear, so symmetric about β, on [β − c, β + c]).
# β = 4: a 3 predicted as 6 costs 1.35 with the sigmoid, as 0 costs 0.41 (SmeLU: 1.46 vs 0.46).
_B = 4.0


def _scalar_overview():
    from losslab import links, plots

    return plots.plot_sensitivity_panel(
        [
            ("low norm: σ(αz)", links.sigmoid(alpha=_A)),
            ("high score: σ(α(z−β)), β>0", links.sigmoid(alpha=_A, beta=_B)),
            ("low score: σ(α(z−β)), β<0", links.sigmoid(alpha=_A, beta=-_B)),
            ("high norm: sinh(αz)", links.sinh(alpha=0.5)),
        ],
        suptitle="Scalar selective matching losses (eq. 2; seed Figure 2)",
    )


def _scalar_type(columns, ylims, name):
    def make():
        from losslab import plots

        return plots.plot_sensitivity_panel(columns(), ylims=ylims, suptitle=f"{name} sensitivity: scalar links (Table H.1)")

    return make


def _low_norm_links():
    from losslab import links

    return [
        ("sigmoid", links.sigmoid(alpha=_A)),
        ("tanh", links.tanh(alpha=0.75)),
        ("SmeLU gradient", links.smelu(c=1.5)),
        ("arcsinh", links.arcsinh(alpha=2.0)),
    ]


def _high_score_links():
    from losslab import links

    return [
        ("right-shifted sigmoid", links.sigmoid(alpha=_A, beta=_B)),
        ("exp", links.exp(alpha=0.7)),
        ("right-shifted SmeLU gradient", links.smelu(c=1.5, beta=_B)),
        ("left-shifted sinh", links.sinh(alpha=0.6, beta=-3.0)),
    ]


def _low_score_links():
    from losslab import links

    return [
        ("left-shifted sigmoid", links.sigmoid(alpha=_A, beta=-_B)),
        ("anti-exp", links.anti_exp(alpha=0.7)),
        ("left-shifted SmeLU gradient", links.smelu(c=1.5, beta=-_B)),
        ("right-shifted sinh", links.sinh(alpha=0.6, beta=3.0)),
    ]


def _high_norm_links():
    from losslab import links

    return [
        ("sinh", links.sinh(alpha=0.5)),
        ("sinh, capped", links.sinh(alpha=0.8, cap=2.5)),
        ("power d=3", links.power(d=3.0, alpha=0.5)),
    ]


def _composite_sigmoid_overview():
    from losslab import links, plots

    return plots.plot_sensitivity_panel(
        [
            ("low norm: q = tanh", links.tanh()),
            ("high score: q = exp", links.exp(alpha=0.7)),
            ("low score: q = anti-exp", links.anti_exp(alpha=0.7)),
            ("high norm: q = sinh", links.sinh(alpha=0.5)),
        ],
        kind="composite_sigmoid",
        ylims=[None, 20.0, 20.0, None],
        suptitle="Composite Sigmoid selective losses (eq. 22-24; seed Figure 3)",
    )


def _multiclass_overview():
    from losslab import links, plots

    return plots.plot_sensitivity_panel(
        [
            ("low norm: decomposed h = σ", links.sigmoid(alpha=_A)),
            ("high score: q = exp", links.exp(alpha=0.7)),
            ("low score: q = anti-exp", links.anti_exp(alpha=0.7)),
            ("high norm: q = sinh", links.sinh(alpha=0.5)),
        ],
        kind=["matching", "composite_sigmoid", "composite_sigmoid", "composite_sigmoid"],
        multiclass=["decomposed", "composite_softmax", "composite_softmax", "composite_softmax"],
        ylims=[None, 20.0, 20.0, None],
        suptitle="Multi-class selective losses, s = (−3, 0, 3) (eq. 28-29, Table 1; seed Figure 4)",
    )


def _two_class_contours():
    from losslab import links, plots

    q = links.exp(alpha=0.5).scaled(0.5)  # the paper's q(z) = α e^{αz}
    fig, axes = plots.new_figure(2, 3, width=3.5, height=3.0, margins=(0.55, 0.35, 0.45, 0.75))
    plots.plot_two_class_contours(q, kind="decomposed", axes=axes[0])
    plots.plot_two_class_contours(q, kind="composite_softmax", axes=axes[1])
    fig.suptitle("Two-class losses, h = q = αe^{αz}, s1 = 3, s2 ∈ {1, 3, 5}:\n"
                 "decomposed (top), composite Softmax (bottom); seed Figure 5", fontsize=11)
    return fig


GALLERY: tuple[GalleryEntry, ...] = (
    GalleryEntry(
        "scalar_overview.png",
        "The four sensitivity types, scalar (Figure 2)",
        "Sigmoid links shifted by β = 0, 4, −4 (low norm, high score, low score) and sinh (high norm): "
        "link h and sensitivity h′ (top), matching loss vs ŝ for s = −3 (red), 0 (green), 3 (blue) (bottom).",
        _scalar_overview,
    ),
    GalleryEntry(
        "scalar_low_norm.png",
        "Low norm sensitivity: sigmoid-shaped links",
        "sigmoid, tanh, SmeLU gradient, arcsinh: steep at 0, flat far out; losses flat for over-estimated "
        "high and under-estimated low scores.",
        _scalar_type(_low_norm_links, None, "Low norm"),
    ),
    GalleryEntry(
        "scalar_high_score.png",
        "High score sensitivity: exp-shaped links",
        "right-shifted sigmoid (β = 4), exp, right-shifted SmeLU gradient (β = 4, c = 1.5: caps scores above 5.5), "
        "left-shifted sinh: s = 3 sits on the convex part of each link, so its loss (blue) is steeper when "
        "over-estimated than when under-estimated by the same amount (sigmoid: 1.35 for 6 vs 0.41 for 0); "
        "low scores (red, green) cost little when under-estimated and a lot when over-estimated.",
        _scalar_type(_high_score_links, [None, 20.0, None, 20.0], "High score"),
    ),
    GalleryEntry(
        "scalar_low_score.png",
        "Low score sensitivity: anti-exp-shaped links",
        "left-shifted sigmoid (β = −4), −e^{−x}, left-shifted SmeLU gradient (β = −4), right-shifted sinh: the mirror "
        "image of high score; s = −3 (red) costs more when under-estimated than when over-estimated.",
        _scalar_type(_low_score_links, [None, 20.0, None, 20.0], "Low score"),
    ),
    GalleryEntry(
        "scalar_high_norm.png",
        "High norm sensitivity: sinh-shaped links",
        "sinh, capped sinh, sign(x)|x|^3: sharp losses at s = ±3, flat around 0.",
        _scalar_type(_high_norm_links, [None, None, 60.0], "High norm"),
    ),
    GalleryEntry(
        "composite_sigmoid_overview.png",
        "Composite Sigmoid losses (Figure 3)",
        "The four types as scalings q of a composite Sigmoid (eq. 24): link h = q·σ(Q) and h′ (top), losses (bottom).",
        _composite_sigmoid_overview,
    ),
    GalleryEntry(
        "multiclass_overview.png",
        "Multi-class losses (Figure 4, Table 1)",
        "Low norm by a decomposed sigmoid loss (eq. 28); high score, low score, high norm by composite Softmax "
        "with q = exp, anti-exp, sinh (eq. 29). Rows: link or scaling, scalar loss, class projection with "
        "ŝ_j = s_j for j ≠ k, s = (−3, 0, 3).",
        _multiclass_overview,
    ),
    GalleryEntry(
        "multiclass_contours.png",
        "Two-class loss contours (Figure 5)",
        "sqrt(loss) over (ŝ_1, ŝ_2) for s = (3, s2), s2 ∈ {1, 3, 5}, with h = q = αe^{αz}: decomposed loss (top) "
        "versus composite Softmax (bottom), whose ranking sensitivity makes the lower class's direction flat.",
        _two_class_contours,
    ),
)


def write_gallery(out_dir: str | Path = DEFAULT_OUT, *, dpi: int = 110, figures: dict | None = None,
                  only: Iterable[str] | None = None, on_figure: Callable[[str], None] | None = None) -> list[Path]:
    """Draw every :data:`GALLERY` entry to ``out_dir/<filename>`` and write ``out_dir/index.md``.

    Args:
        out_dir: the folder (created if missing).
        dpi: PNG resolution.
        figures: if a dict is given, it is filled with ``filename -> Figure`` for inspection.
        only: file names of the entries to draw (default: all), e.g. ``["scalar_overview.png"]``.
        on_figure: called with each file name once it is written (progress).

    Returns:
        The PNG paths in gallery order, then the index path.
    """
    from losslab import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    lines = [
        "# Selective loss gallery",
        "",
        "The four sensitivity types of selective matching losses (Shamir & Warmuth, seed 000):",
        "low norm, high score, low score, high norm. Observed scores s = −3, 0, 3 are red, green, blue.",
        "Made by `losslab plot --out DIR` (`losslab.experiments.gallery.write_gallery`), drawn with",
        "`losslab.plots` from the library's own loss functions.",
        "",
        "| file | shows |",
        "|---|---|",
    ]
    entries = GALLERY
    if only is not None:
        wanted = set(only)
        unknown = wanted - {e.filename for e in GALLERY}
        if unknown:
            raise ValueError(f"only names unknown gallery entries {sorted(unknown)}; known: {[e.filename for e in GALLERY]}")
        entries = tuple(e for e in GALLERY if e.filename in wanted)
    for entry in entries:
        fig = entry.make()
        path = out / entry.filename
        plots.save(fig, path, dpi=dpi)
        paths.append(path)
        lines.append(f"| [{entry.filename}]({entry.filename}) | **{entry.title}.** {entry.description} |")
        if figures is not None:
            figures[entry.filename] = fig
        if on_figure is not None:
            on_figure(entry.filename)
    index = out / "index.md"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths + [index]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    parser.add_argument("--dpi", type=cli.int_range(20, 600), default=110, help="PNG resolution in [20, 600] (default 110)")
    parser.add_argument("--only", type=cli.names([e.filename for e in GALLERY]), default=None, metavar="FILES",
                        choices=cli.Names(e.filename for e in GALLERY),
                        help="draw only these figures, a comma list of: %(choices)s")
    cli.add_common(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from losslab.cli import CLIError, command_dir
    from losslab.experiments._common import matplotlib_available, progress

    if not matplotlib_available():
        raise CLIError("losslab plot draws with matplotlib, which is not installed: pip install 'losslab[plot]'")
    out = command_dir(args)
    entries = [e for e in GALLERY if args.only is None or e.filename in args.only]
    bar = progress(len(entries), "plot", enabled=not args.no_progress, unit="figure")
    paths = write_gallery(out, dpi=args.dpi, only=[e.filename for e in entries], on_figure=lambda name: bar.update(1))
    bar.close()
    (out / "plot.json").write_text(json.dumps(
        {"experiment": "plot", "dpi": args.dpi,
         "figures": [{"file": e.filename, "title": e.title, "description": e.description} for e in entries]},
        indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for p in paths + [out / "plot.json"]:
        print(p)
    return 0
