"""Pictures of selective matching losses (seed 000, Figures 2-5).

Every function draws with the library's own functions -- :meth:`Link.__call__`,
:meth:`Link.derivative`, :func:`~losslab.matching_loss`,
:func:`~losslab.composite_sigmoid_loss`, :func:`~losslab.composite_softmax_loss`,
:func:`~losslab.decomposed_matching_loss` -- never a re-typed formula, so a
picture shows exactly what the loss computes. Each returns a
:class:`matplotlib.figure.Figure` (built without ``pyplot``, so no global
state and no display is needed; PNGs go through the Agg canvas) and saves it
when ``path`` is given.

matplotlib is imported inside the functions (DESIGN.md principle 10): install
the ``plot`` extra to use this module.

Colours follow the paper: observed score ``s = -3`` red, ``0`` green, ``3`` blue.
Every loss curve carries a ``gid`` of the form ``"loss:<kind>:s=<s>"`` so that
tests (and users) can read the plotted values back from the Figure.

Example:
    >>> from losslab import links, plots
    >>> fig = plots.plot_losses(links.sigmoid(alpha=2.0, beta=1.0))     # high-score sensitivity
    >>> [line.get_gid() for line in fig.axes[0].lines][:3]
    ['loss:matching:s=-3', 'loss:matching:s=0', 'loss:matching:s=3']
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import torch

from .links import Link
from .matching import (
    composite_sigmoid_link,
    composite_sigmoid_loss,
    composite_softmax_loss,
    decomposed_matching_loss,
    matching_loss,
)

__all__ = [
    "SCORE_COLORS",
    "LOSS_KINDS",
    "new_figure",
    "plot_link",
    "plot_losses",
    "plot_softmax_projection",
    "plot_two_class_contours",
    "plot_sensitivity_panel",
    "save",
    "plot_slc_table1",
    "plot_slc_speed",
    "plot_rank_ndcg",
    "plot_bias_variance",
    "plot_training_curves",
]

# The paper's colours for observed scores (Figures 2-5, H.1-H.6).
SCORE_COLORS = {-3.0: "tab:red", 0.0: "tab:green", 3.0: "tab:blue"}
_FALLBACK_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")

# Scalar loss kinds: how a Link becomes a loss of (s_hat, s).
LOSS_KINDS = ("matching", "composite_sigmoid")

_DTYPE = torch.float64  # pictures are computed in float64: no plotting noise near the minimum


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 3.4, height: float = 2.8,
               margins: tuple[float, float, float, float] = (0.55, 0.12, 0.45, 0.9), **subplot_kw):
    """A ``Figure`` with an ``nrows x ncols`` grid of axes (no pyplot; Agg canvas).

    ``margins`` are ``(left, right, bottom, top)`` in inches; the default top leaves room
    for a two-line axes title under a suptitle.

    Returns:
        ``(fig, axes)`` with ``axes`` a 2-D list ``[row][col]``.
    """
    from matplotlib.figure import Figure

    W, H = width * ncols, height * nrows
    fig = Figure(figsize=(W, H))
    # Fixed margins in inches (room for tick labels, axis labels, an axes title and a
    # suptitle) instead of layout="constrained": the constraint solver measured every
    # tick label and took ~40% of the gallery's drawing time on 2 slow cores.
    left, right, bottom, top = margins
    fig.subplots_adjust(left=left / W, right=1 - right / W, bottom=bottom / H, top=1 - top / H,
                        wspace=0.34, hspace=0.42 if nrows > 1 else 0.2)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, [list(row) for row in axes]


def save(fig, path: str | Path | None, *, dpi: int = 110):
    """Save ``fig`` to ``path`` (PNG/SVG/PDF by suffix; parent folders created). Returns ``fig``."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def _color(s: float, i: int) -> str:
    return SCORE_COLORS.get(float(s), _FALLBACK_COLORS[i % len(_FALLBACK_COLORS)])


def _grid(lo: float, hi: float, n: int, must_include: Iterable[float] = ()) -> torch.Tensor:
    z = torch.linspace(lo, hi, n, dtype=_DTYPE)
    extra = [v for v in must_include if lo <= v <= hi]
    if extra:  # the minimum at s_hat = s is on the grid exactly
        z = torch.unique(torch.cat([z, torch.tensor(extra, dtype=_DTYPE)]))
    return z


def _np(t: torch.Tensor):
    return t.detach().cpu().numpy()


def _label(link: Link) -> str:
    return repr(link).removeprefix("Link(").removesuffix(")")


def _scalar_link(link: Link, kind: str, gamma: float) -> Link:
    if kind == "matching":
        return link
    if kind == "composite_sigmoid":
        return composite_sigmoid_link(link, gamma)
    raise ValueError(f"kind must be one of {LOSS_KINDS}; got {kind!r}")


def _scalar_loss(pred: torch.Tensor, target: torch.Tensor, link: Link, kind: str, gamma: float) -> torch.Tensor:
    if kind == "matching":
        return matching_loss(pred, target, link, reduction="none")
    if kind == "composite_sigmoid":
        return composite_sigmoid_loss(pred, target, link, gamma=gamma, reduction="none")
    raise ValueError(f"kind must be one of {LOSS_KINDS}; got {kind!r}")


def plot_link(
    link: Link,
    *,
    kind: str = "matching",
    gamma: float = 1.0,
    z_range: tuple[float, float] = (-6.0, 6.0),
    ax=None,
    title: str | None = None,
    names: tuple[str, str] | None = None,
    path: str | Path | None = None,
):
    """The link ``h(z)`` (solid) and its derivative ``h'(z)``, the sensitivity (dashed), vs ``z``.

    Args:
        link: a link ``h`` (``kind='matching'``) or a scaling ``q`` (``kind='composite_sigmoid'``:
            the plotted link is the composite Sigmoid's ``h = q·p``, eq. 22-23).
        kind: ``'matching'`` | ``'composite_sigmoid'``.
        gamma: composite Sigmoid regularisation ``γ``.
        z_range: the ``z`` interval.
        ax: draw into these axes (else a new one-panel figure).
        title: panel title (default: the link's repr).
        names: legend names of the two curves (default ``h(z)``, ``h'(z)``; e.g. ``q(z)``, ``q'(z)``
            when the Link is shown as a scaling).
        path: save the figure there.

    Returns:
        The Figure; the curves' ``gid`` are ``"link"`` and ``"sensitivity"``.
    """
    if names is None:
        names = ("h(z) = q·p", "h'(z)") if kind == "composite_sigmoid" else ("h(z)", "h'(z)")
    h = _scalar_link(link, kind, gamma)
    if ax is None:
        fig, axes = new_figure()
        ax = axes[0][0]
    else:
        fig = ax.figure
    z = _grid(*z_range, 401)
    ax.plot(_np(z), _np(h(z)), color="black", lw=1.6, label=names[0], gid="link")
    ax.plot(_np(z), _np(h.derivative(z)), color="tab:orange", lw=1.4, ls="--", label=names[1], gid="sensitivity")
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("z")
    ax.set_title(title if title is not None else _label(link), fontsize=9)
    ax.legend(fontsize=7, loc="upper left")  # a fixed spot: loc="best" scans every point (slow)
    return save(fig, path)


def _finish_loss_axes(ax, xlabel: str, ylim: float | None) -> None:
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    if ylim is not None:
        ax.set_ylim(-0.03 * ylim, ylim)
    ax.legend(fontsize=7, loc="upper center")


def plot_losses(
    link: Link,
    *,
    kind: str = "matching",
    gamma: float = 1.0,
    targets: Sequence[float] = (-3.0, 0.0, 3.0),
    s_hat_range: tuple[float, float] = (-6.0, 6.0),
    ylim: float | None = None,
    ax=None,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Scalar selective loss vs ``ŝ`` for each observed ``s`` (Figure 2 / 3 bottom rows).

    Args:
        link: a link ``h`` (``kind='matching'``, eq. 2) or a scaling ``q``
            (``kind='composite_sigmoid'``, eq. 24).
        kind: ``'matching'`` | ``'composite_sigmoid'``.
        gamma: composite Sigmoid regularisation ``γ``.
        targets: observed scores ``s``; -3, 0, 3 are red, green, blue.
        s_hat_range: the ``ŝ`` interval.
        ylim: upper y limit (losses of exp/sinh links grow fast; clip the view, not the data).
        ax: draw into these axes (else a new figure).
        title: panel title.
        path: save the figure there.

    Returns:
        The Figure; each curve's ``gid`` is ``"loss:<kind>:s=<s>"``.
    """
    if ax is None:
        fig, axes = new_figure()
        ax = axes[0][0]
    else:
        fig = ax.figure
    s_hat = _grid(*s_hat_range, 481, targets)
    for i, s in enumerate(targets):
        loss = _scalar_loss(s_hat, torch.full_like(s_hat, float(s)), link, kind, gamma)
        ax.plot(_np(s_hat), _np(loss), color=_color(s, i), lw=1.5, label=f"s={s:g}", gid=f"loss:{kind}:s={s:g}")
    ax.set_title(title if title is not None else f"{kind}: {_label(link)}", fontsize=9)
    _finish_loss_axes(ax, "ŝ", ylim)
    return save(fig, path)


def _projection_losses(
    scaling: Link, s: torch.Tensor, k: int, s_hat_k: torch.Tensor, kind: str, gamma: float
) -> torch.Tensor:
    """Loss of ``ŝ`` = ``s`` with ``ŝ_k`` replaced by each value of ``s_hat_k`` (one row each)."""
    pred = s.expand(len(s_hat_k), -1).clone()
    pred[:, k] = s_hat_k
    target = s.expand_as(pred)
    if kind == "composite_softmax":
        return composite_softmax_loss(pred, target, scaling, gamma=gamma, reduction="none")
    if kind == "decomposed":
        return decomposed_matching_loss(pred, target, scaling, reduction="none")
    raise ValueError(f"kind must be 'composite_softmax' or 'decomposed'; got {kind!r}")


def plot_softmax_projection(
    scaling: Link,
    *,
    kind: str = "composite_softmax",
    gamma: float = 1.0,
    scores: Sequence[float] = (-3.0, 0.0, 3.0),
    s_hat_range: tuple[float, float] = (-6.0, 6.0),
    ylim: float | None = None,
    ax=None,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Multi-class loss projected on class ``k`` (Figure 4 bottom row).

    The observed vector is ``s = scores`` (``K = len(scores)``); for each class ``k``
    the curve is the loss of ``ŝ`` with ``ŝ_j = s_j`` for ``j ≠ k`` as ``ŝ_k`` varies,
    coloured by ``s_k``.

    Args:
        scaling: the scaling ``q`` (``kind='composite_softmax'``, eq. 29) or the link ``h``
            of a decomposed loss (``kind='decomposed'``, eq. 28).
        kind: ``'composite_softmax'`` | ``'decomposed'``.
        gamma: composite Softmax regularisation ``γ`` (C.3-C.5).
        scores: the observed score vector ``s``.
        s_hat_range: the ``ŝ_k`` interval.
        ylim: upper y limit of the view.
        ax: draw into these axes (else a new figure).
        title: panel title.
        path: save the figure there.

    Returns:
        The Figure; each curve's ``gid`` is ``"loss:<kind>:s=<s_k>"``.
    """
    if ax is None:
        fig, axes = new_figure()
        ax = axes[0][0]
    else:
        fig = ax.figure
    s = torch.tensor([float(v) for v in scores], dtype=_DTYPE)
    s_hat = _grid(*s_hat_range, 481, scores)
    for k, s_k in enumerate(scores):
        loss = _projection_losses(scaling, s, k, s_hat, kind, gamma)
        ax.plot(_np(s_hat), _np(loss), color=_color(s_k, k), lw=1.5, label=f"s_k={s_k:g}", gid=f"loss:{kind}:s={s_k:g}")
    ax.set_title(title if title is not None else f"{kind}: {_label(scaling)}", fontsize=9)
    _finish_loss_axes(ax, "ŝ_k  (ŝ_j = s_j, j≠k)", ylim)
    return save(fig, path)


def plot_two_class_contours(
    scaling: Link,
    *,
    kind: str = "composite_softmax",
    gamma: float = 1.0,
    s1: float = 3.0,
    s2_values: Sequence[float] = (1.0, 3.0, 5.0),
    s_hat_range: tuple[float, float] = (-1.0, 7.0),
    levels: int = 14,
    axes=None,
    path: str | Path | None = None,
):
    """Two-class loss contours over ``(ŝ_1, ŝ_2)`` for ``s = (s1, s2)``, one panel per ``s2`` (Figure 5).

    Args:
        scaling: the scaling ``q`` (``kind='composite_softmax'``) or link ``h`` (``kind='decomposed'``).
        kind: ``'composite_softmax'`` | ``'decomposed'``.
        gamma: composite Softmax regularisation ``γ``.
        s1: the first observed score (3 in the paper).
        s2_values: the second observed score, one panel each (1, 3, 5 in the paper).
        s_hat_range: the interval of both ``ŝ_1`` and ``ŝ_2``.
        levels: contour levels (spaced on the square root of the loss to show the flat regions).
        axes: a sequence of ``len(s2_values)`` axes to draw into (else a new row of panels).
        path: save the figure there.

    Returns:
        The Figure; the observed point is marked with a white star.
    """
    if axes is None:
        fig, rows = new_figure(1, len(s2_values), width=3.2, height=3.0)
        axes = rows[0]
    fig = axes[0].figure
    grid = torch.linspace(*s_hat_range, 121, dtype=_DTYPE)
    a, b = torch.meshgrid(grid, grid, indexing="xy")
    pred = torch.stack([a.reshape(-1), b.reshape(-1)], -1)
    for ax, s2 in zip(axes, s2_values):
        target = torch.tensor([float(s1), float(s2)], dtype=_DTYPE).expand_as(pred)
        if kind == "composite_softmax":
            loss = composite_softmax_loss(pred, target, scaling, gamma=gamma, reduction="none")
        elif kind == "decomposed":
            loss = decomposed_matching_loss(pred, target, scaling, reduction="none")
        else:
            raise ValueError(f"kind must be 'composite_softmax' or 'decomposed'; got {kind!r}")
        root = loss.clamp_min(0).sqrt().reshape(a.shape)
        cs = ax.contourf(_np(a), _np(b), _np(root), levels=levels, cmap="viridis")
        ax.contour(_np(a), _np(b), _np(root), levels=levels, colors="white", linewidths=0.3)
        ax.plot([s1], [s2], marker="*", color="white", markersize=11, markeredgecolor="black", gid="target")
        ax.set_xlabel("ŝ_1")
        ax.set_ylabel("ŝ_2")
        ax.set_title(f"{kind}, s=({s1:g}, {s2:g})", fontsize=9)
        ax.set_aspect("equal")
        fig.colorbar(cs, ax=ax, shrink=0.8, label="sqrt(loss)")
    return save(fig, path)


def plot_sensitivity_panel(
    columns: Sequence[tuple[str, Link]],
    *,
    kind: str | Sequence[str] = "matching",
    gamma: float = 1.0,
    multiclass: Sequence[str] | None = None,
    ylims: Sequence[float | None] | None = None,
    suptitle: str | None = None,
    path: str | Path | None = None,
):
    """A Figure-2/3/4-style grid: one column per ``(title, link)``; rows link / scalar loss / projection.

    Args:
        columns: ``(title, link_or_scaling)`` per column.
        kind: scalar loss kind of the top two rows, ``'matching'`` | ``'composite_sigmoid'``,
            one for all columns or one per column.
        gamma: regularisation ``γ``.
        multiclass: if given, one multi-class kind per column (``'composite_softmax'`` or
            ``'decomposed'``) and a third row of class projections (Figure 4 bottom); the top
            row then shows the scaling ``q, q'`` of composite Softmax columns.
        ylims: per-column upper y limit of the loss views.
        suptitle: figure title.
        path: save the figure there.

    Returns:
        The Figure.
    """
    n = len(columns)
    kinds = [kind] * n if isinstance(kind, str) else list(kind)
    ylims = list(ylims) if ylims is not None else [None] * n
    nrows = 3 if multiclass is not None else 2
    fig, axes = new_figure(nrows, n, width=3.3, height=2.7)
    for c, (title, link) in enumerate(columns):
        mk = multiclass[c] if multiclass is not None else None
        if mk == "composite_softmax":
            plot_link(link, ax=axes[0][c], title=f"{title}\nscaling {_label(link)}", names=("q(z)", "q'(z)"))
        else:
            plot_link(link, kind=kinds[c], gamma=gamma, ax=axes[0][c], title=f"{title}\n{_label(link)}")
        plot_losses(link, kind=kinds[c], gamma=gamma, ax=axes[1][c], ylim=ylims[c], title=f"scalar {kinds[c]} loss")
        if mk is not None:
            plot_softmax_projection(
                link, kind=mk, gamma=gamma, ax=axes[2][c], ylim=ylims[c], title=f"{mk} projection (K=3)"
            )
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return save(fig, path)


# ----------------------------------------------------------------- experiment charts
# The figures of the ``losslab`` commands (slc, slc-speed, rank, softmax-family): each
# takes the command's JSON-ready result and returns a Figure, saved when ``path`` is given.


def _chart(nrows: int, ncols: int, width: float, height: float):
    from matplotlib.figure import Figure

    # constrained layout: a few axes only, and it keeps long tick labels and legends inside
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [list(row) for row in axes]


def _legend_below(fig, *args, **kwargs):
    # "outside" locations (matplotlib >= 3.7) let constrained layout make room for the
    # legend; older versions get it at the bottom edge.
    try:
        return fig.legend(*args, loc="outside lower center", **kwargs)
    except ValueError:
        return fig.legend(*args, loc="lower center", **kwargs)


def plot_slc_table1(results: dict, path: str | Path | None = None, *, dpi: int = 110):
    """Table 1 of ``losslab slc`` as bars: one panel per measure (lower is better), one bar
    per objective, PoLS-aligned objectives in blue, the others in gray, with each group's
    mean as a dashed line. Results over seeds (``losslab slc --seeds N``: rows with
    ``test_ci``) get their 95% intervals as error bars."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    measures = list(results["mean_relative_improvement"])
    rows = [r for r in results["table1"] if r["test"] is not None]
    fig, axes = _chart(1, len(measures), 3.6, 0.9 + 0.32 * max(len(rows), 2))
    names = [r["objective"] for r in rows]
    for ax, m in zip(axes[0], measures):
        vals = [r["test"][m] for r in rows]
        colors = ["tab:blue" if r["pols_aligned"] else "tab:gray" for r in rows]
        # asymmetric-capable xerr: distance from the mean to each end of the interval
        cis = [(r.get("test_ci") or {}).get(m) or {} for r in rows]
        xerr = None
        if any(c.get("half_width") is not None for c in cis):
            xerr = [[0.0 if c.get("low") is None else v - c["low"] for v, c in zip(vals, cis)],
                    [0.0 if c.get("high") is None else c["high"] - v for v, c in zip(vals, cis)]]
        ax.barh(range(len(rows)), vals, color=colors, xerr=xerr, error_kw={"ecolor": "k", "capsize": 2, "lw": 0.8})
        for group, color in (("aligned", "tab:blue"), ("not_aligned", "tab:gray")):
            mean = results.get("means", {}).get(group, {}).get(m)
            if mean is not None and mean == mean:  # not NaN: the group was trained
                ax.axvline(mean, color=color, ls="--", lw=1)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names if ax is axes[0][0] else [""] * len(rows), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{m} (lower is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        if xerr is not None:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # error bars widen the range: keep ticks apart
        imp = results["mean_relative_improvement"][m]
        word = "better" if imp >= 0 else "worse"
        label = "" if imp != imp else f"PoLS-aligned mean {abs(100 * imp):.0f}% {word}"
        imp_ci = results.get("mean_relative_improvement_ci", {}).get(m) or {}
        if label and imp_ci.get("half_width") is not None:
            label += f"\n(95% CI ±{100 * imp_ci['half_width']:.0f} pts, {imp_ci['n']} seeds)"
        ax.set_xlabel(label, fontsize=8)
    _legend_below(fig, handles=[Patch(color="tab:blue", label="PoLS-aligned"), Patch(color="tab:gray", label="not aligned"),
                                Line2D([], [], color="k", ls="--", lw=1, label="group mean")],
                  ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Single-logit classification, {results.get('dataset', '').split(':')[0]}: "
                 "one logit ranks the test examples per class", fontsize=10)
    return save(fig, path, dpi=dpi)


def plot_slc_speed(result: dict, path: str | Path | None = None, *, dpi: int = 110):
    """``losslab slc-speed``: forward time per example vs the number of classes K
    (log-log) for the full head and the single logit, and the speed-up."""
    rows = result["rows"]
    ks = [r["classes"] for r in rows]
    fig, axes = _chart(1, 2, 4.0, 3.2)
    ax = axes[0][0]
    ax.loglog(ks, [r["full_s_per_example"] for r in rows], "o-", label="full head (all K logits)", base=2)
    ax.loglog(ks, [r["slc_s_per_example"] for r in rows], "s-", label="single logit (SLC)", base=2)
    ax.set_yscale("log", base=10)
    ax.set_xlabel("K (classes)")
    ax.set_ylabel("forward seconds / example")
    ax.set_title("time vs K", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=2, fontsize=8, frameon=False)
    ax = axes[0][1]
    ax.semilogx(ks, [r["speedup"] for r in rows], "o-", color="tab:green", base=2)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("K (classes)")
    ax.set_ylabel("speed-up (full / single)")
    ax.set_title("SLC speed-up", fontsize=9)
    fig.suptitle(f"{result['backbone']}, batch {result['batch']}, {result['device']}, "
                 f"{result['threads']} thread(s)", fontsize=9)
    return save(fig, path, dpi=dpi)


def plot_rank_ndcg(payload: dict, path: str | Path | None = None, *, dpi: int = 110):
    """``losslab rank``: test NDCG@k per loss, mean ± standard deviation over seeds (bars),
    each seed's value as a dot; one panel per k."""
    summary, per_seed = payload["summary"], payload["per_seed"]
    losses = list(summary)
    keys = list(next(iter(summary.values())))
    fig, axes = _chart(1, len(keys), 3.2, 0.9 + 0.32 * max(len(losses), 2))
    for ax, key in zip(axes[0], keys):
        means = [summary[n][key]["mean"] for n in losses]
        stds = [summary[n][key]["std"] for n in losses]
        ys = range(len(losses))
        ax.errorbar(means, ys, xerr=stds, fmt="o", color="tab:blue", ecolor="tab:blue", capsize=3, label="mean ± std")
        for i, n in enumerate(losses):
            vals = [r[key] for r in per_seed[n]]
            ax.plot(vals, [i] * len(vals), "|", color="tab:gray", ms=8, label="one seed" if i == 0 else None)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(losses if ax is axes[0][0] else [""] * len(losses), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(key.upper().replace("NDCG", "NDCG"), fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"Test NDCG over {payload['seeds']} seed(s) ({payload['model']} scorer, higher is better)", fontsize=10)
    return save(fig, path, dpi=dpi)


def plot_bias_variance(bias_variance: dict, path: str | Path | None = None, *, dpi: int = 110):
    """``losslab softmax-family``: squared bias and variance of each sampled estimator's
    gradient against the exact softmax gradient, vs the number of samples S (log-log).
    Bias² is the unbiased estimate; where it is not positive (no bias detectable at
    these repeats) the point is left out."""
    fig, axes = _chart(1, 2, 4.2, 3.4)
    markers = "osD^v<>"
    for i, (name, rows) in enumerate(bias_variance.items()):
        s = [r["num_sampled"] for r in rows]
        b = [(r["num_sampled"], r["bias2_unbiased"]) for r in rows if r["bias2_unbiased"] > 0]
        axes[0][0].loglog([p[0] for p in b], [p[1] for p in b], marker=markers[i % 7], label=name)
        axes[0][1].loglog(s, [r["variance"] for r in rows], marker=markers[i % 7], label=name)
    for ax, what in zip(axes[0], ("bias²  ‖E ĝ − g‖²", "variance  E‖ĝ − E ĝ‖²")):
        ax.set_xlabel("S (sampled negatives)")
        ax.set_title(what, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0][1].get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Gradient error of sampled estimators vs the exact softmax gradient", fontsize=10)
    return save(fig, path, dpi=dpi)


def plot_training_curves(curves: dict, path: str | Path | None = None, *, dpi: int = 110):
    """``losslab softmax-family``: each loss's training objective (its own scale) and the
    held-out top-1 accuracy against epochs. ``curves`` maps a loss name to
    ``{"loss_epochs": [...], "loss": [...], "epochs": [...], "top1": [...]}``."""
    fig, axes = _chart(1, 2, 4.2, 3.4)
    for name, c in curves.items():
        axes[0][0].plot(c["loss_epochs"], c["loss"], label=name)
        axes[0][1].plot(c["epochs"], c["top1"], marker="o", ms=3, label=name)
    axes[0][1].xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_title("training loss (each loss's own objective)", fontsize=9)
    axes[0][0].set_yscale("log")
    axes[0][1].set_title("held-out top-1 accuracy", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][1].get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Softmax family: training curves", fontsize=10)
    return save(fig, path, dpi=dpi)


def plot_distill(results: dict, path: str | Path | None = None, *, dpi: int = 110):
    """``losslab distill``: test agreement of each student with the teacher, one panel per
    metric, mean and 95% t-interval over seeds (bars), each seed's value as a tick."""
    summary, per_seed = results["summary"], results["per_seed"]
    losses = list(summary)
    metrics = list(next(iter(summary.values())))
    fig, axes = _chart(1, len(metrics), 2.6, 0.9 + 0.32 * max(len(losses), 2))
    for ax, m in zip(axes[0], metrics):
        ys = range(len(losses))
        means = [summary[n][m]["mean"] for n in losses]
        half = [summary[n][m]["half_width"] or 0.0 for n in losses]
        ax.errorbar(means, ys, xerr=half, fmt="o", color="tab:blue", capsize=3, label="mean, 95% interval")
        for i, n in enumerate(losses):
            vals = [r[m] for r in per_seed[n]]
            ax.plot(vals, [i] * len(vals), "|", color="tab:gray", ms=8, label="one seed" if i == 0 else None)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(losses if ax is axes[0][0] else [""] * len(losses), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(m, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"Student vs teacher on test inputs over {results['config']['seeds']} seeds (higher is better)",
                 fontsize=10)
    return save(fig, path, dpi=dpi)
