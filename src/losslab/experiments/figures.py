"""``losslab figure``: every figure of the seed papers, by its number.

:data:`FIGURES` maps an id -- ``"000:2"``, ``"000:E.1"``, ``"001:2"`` -- to a
:class:`FigureEntry`: its title, its caption (what the picture shows and what to
look for), which of ``--link`` / ``--scaling`` it takes, and a draw function
``(link=None, scaling=None, quick=False) -> matplotlib.figure.Figure``. Every
curve is computed by the library's own functions (the losses of
:mod:`losslab.matching`, :mod:`losslab.analysis`), never a re-typed formula,
and carries a ``gid`` naming what it is, so tests read the plotted data back.

Seed 000 (Shamir & Warmuth, *Selective Matching Losses*): Figures 1-5 and H.1-H.6
are drawn here, the appendix experiments E.1, F.1 and I.1 in
:mod:`losslab.experiments.appendix`. Seed 001 (Keren, Sabato & Schuller):
Figure 1 (SLC speed-up) and Figure 2 (the Principle of Logit Separation).

Colours follow the papers: observed score ``s = -3`` red, ``0`` green, ``3`` blue.

Run ``losslab figure 000:3`` (writes ``report/figure/000_3.png``, ``.md``, ``.json``),
``losslab figure 000:2 --link sinh:alpha=0.5`` (the figure for your own link),
``losslab figure --list`` or ``losslab figure --all``.
"""
from __future__ import annotations

import argparse
import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = ["FigureEntry", "FIGURES", "LinkArg", "parse_link", "draw", "add_arguments", "run"]

S3 = (-3.0, 0.0, 3.0)
_DTYPE = torch.float64


@dataclass(frozen=True)
class FigureEntry:
    """One figure of a seed paper.

    Attributes:
        id: ``"<paper>:<number>"``, e.g. ``"000:E.1"``.
        title: one line.
        caption: what the picture shows and what to look for (it matches the picture).
        draw: ``(link=None, scaling=None, quick=False) -> Figure``.
        panels: the number of data panels (axes, colour bars not counted) of the full figure.
        takes: ``"link"``, ``"scaling"`` or ``None``: the option that replaces the paper's
            designs by the user's (one column or row instead of the paper's several).
        custom_panels: the number of data panels when ``--link``/``--scaling`` is given.
        check: the convexity the option's link must allow: ``"matching"``,
            ``"composite_sigmoid"``, ``"composite_softmax"`` (see :func:`check_option`);
            ``None`` for H.3-H.6, which show the paper's non-convex designs too (cosh
            scalings, App. H.3) and so draw any scaling.
    """

    id: str
    title: str
    caption: str
    draw: Callable[..., object]
    panels: int
    takes: str | None = None
    custom_panels: int | None = None
    check: str | None = None


# ------------------------------------------------------------------------- helpers


def _figure(nrows: int, ncols: int, width: float, height: float, **kw):
    from matplotlib.figure import Figure

    # constrained layout: no clipped tick labels, titles or colour bars
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, [list(r) for r in axes]


def _t(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=_DTYPE)


def _grid(lo: float, hi: float, quick: bool, must: Sequence[float] = S3) -> torch.Tensor:
    z = torch.linspace(lo, hi, 121 if quick else 481, dtype=_DTYPE)
    extra = [v for v in must if lo <= v <= hi]
    if extra:  # the minimum at ŝ = s lies on the grid exactly
        z = torch.unique(torch.cat([z, _t(extra)]))
    return z


def _np(t: torch.Tensor):
    return t.detach().cpu().numpy()


def _color(s: float, i: int = 0) -> str:
    from losslab.plots import SCORE_COLORS

    return SCORE_COLORS.get(float(s), ("tab:orange", "tab:purple", "tab:brown", "tab:cyan")[i % 4])


def _name(link) -> str:
    return repr(link).removeprefix("Link(").removesuffix(")")


def _ylim_from(curves: dict, s_hat: torch.Tensor, reach: float = 3.0) -> float:
    """An upper y limit that shows every curve within ``reach`` of its minimum at ``ŝ = s``
    (exp and sinh losses grow so fast that the full range would flatten the rest)."""
    top = 0.0
    for s, loss in curves.items():
        inside = (s_hat - s).abs() <= reach
        top = max(top, float(loss[inside].max()))
    return 1.08 * top if top > 0 else 1.0


def _finish_loss(ax, ylim: float, xlabel: str = r"$\hat{s}$") -> None:
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_ylim(-0.03 * ylim, ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"loss $\mathcal{L}$")


def _plot_fn(ax, z, value, deriv, names, title) -> None:
    """A function (solid black) and its derivative (dashed orange): gids ``fn`` and ``deriv``."""
    ax.plot(_np(z), _np(value), color="black", lw=1.6, label=names[0], gid="fn")
    ax.plot(_np(z), _np(deriv), color="tab:orange", lw=1.3, ls="--", label=names[1], gid="deriv")
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel(r"$z$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def _scalar_losses(ax, link, kind: str, quick: bool, *, ce: bool = False, title: str = "") -> dict:
    """Scalar losses vs ŝ for s ∈ {-3, 0, 3}: matching (eq. 2) or composite Sigmoid (eq. 24);
    with ``ce`` also the cross-entropy of the composite Sigmoid (E.3), dashed."""
    import losslab as ll

    s_hat = _grid(-6.0, 6.0, quick)
    curves = {}
    for i, s in enumerate(S3):
        target = torch.full_like(s_hat, s)
        if kind == "matching":
            loss = ll.matching_loss(s_hat, target, link, reduction="none")
        else:
            loss = ll.composite_sigmoid_loss(s_hat, target, link, reduction="none")
        curves[s] = loss
        ax.plot(_np(s_hat), _np(loss), color=_color(s, i), lw=1.5, label=f"$s={s:g}$", gid=f"loss:s={s:g}")
        if ce:
            ce_loss = composite_sigmoid_ce(s_hat, target, link)
            ax.plot(_np(s_hat), _np(ce_loss), color=_color(s, i), lw=1.1, ls="--", gid=f"ce:s={s:g}")
    _finish_loss(ax, _ylim_from(curves, s_hat))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    return curves


def composite_sigmoid_ce(s_hat: torch.Tensor, s: torch.Tensor, q) -> torch.Tensor:
    r"""Cross-entropy of composite Sigmoid outputs (seed 000, eq. E.3) less its minimum over
    ``ŝ`` when ``p`` is injective (its value at ``ŝ = s``), so that it starts at 0 like the
    matching loss it is drawn beside:

    .. math:: \log(1 + e^{Q(\hat s)}) - p(s)\,Q(\hat s) - [\log(1 + e^{Q(s)}) - p(s)\,Q(s)]

    Its gradient ``q(ŝ)[p(ŝ) − p(s)]`` (E.4) is not the matching gradient ``h(ŝ) − h(s)``.
    """
    import torch.nn.functional as F

    Qh, Qs = q.primitive(s_hat), q.primitive(s)
    p = torch.sigmoid(Qs)
    return F.softplus(Qh) - p * Qh - (F.softplus(Qs) - p * Qs)


def _projection(s_vec, k: int, s_hat_k: torch.Tensor, offset: Sequence[float] | float = 0.0) -> torch.Tensor:
    """Prediction rows ``ŝ`` with ``ŝ_k`` = each value and ``ŝ_j = s_j + offset`` for ``j ≠ k``."""
    s = _t(s_vec)
    pred = (s + _t(offset)).expand(len(s_hat_k), -1).clone()
    pred[:, k] = s_hat_k
    return pred


def _mc_loss(pred, s_vec, q, kind: str) -> torch.Tensor:
    import losslab as ll

    target = _t(s_vec).expand_as(pred)
    if kind == "decomposed":
        return ll.decomposed_matching_loss(pred, target, q, reduction="none")
    return ll.composite_softmax_loss(pred, target, q, reduction="none")


def _mc_projection(ax, q, kind: str, quick: bool, *, s_vec=S3, delta: float | None = None, title: str = "") -> dict:
    """Multi-class loss projected on class ``k`` (ŝ_j = s_j, j ≠ k), solid; with ``delta`` also
    ŝ_j = s_j ± δ (dotted, shifted to a 0 minimum) -- Figure 4 bottom."""
    s_hat = _grid(-6.0, 6.0, quick, s_vec)
    curves = {}
    for k, s_k in enumerate(s_vec):
        loss = _mc_loss(_projection(s_vec, k, s_hat), s_vec, q, kind)
        curves[s_k] = loss
        ax.plot(_np(s_hat), _np(loss), color=_color(s_k, k), lw=1.5, label=f"$s_k={s_k:g}$", gid=f"proj:s={s_k:g}")
        if delta is not None:
            for sign in (1.0, -1.0):
                off = [0.0 if j == k else sign * delta for j in range(len(s_vec))]
                shifted = _mc_loss(_projection(s_vec, k, s_hat, off), s_vec, q, kind)
                shifted = shifted - shifted.min()
                ax.plot(_np(s_hat), _np(shifted), color=_color(s_k, k), lw=1.0, ls=":",
                        gid=f"proj{'+' if sign > 0 else '-'}{delta:g}:s={s_k:g}")
    _finish_loss(ax, _ylim_from(curves, s_hat), r"$\hat{s}_k$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    return curves


def _mc_links(ax, q, kind: str, quick: bool, *, s_vec=S3, title: str = "", what: str = "link") -> None:
    """Per-class ``h_k`` (solid) and diagonal ``h'_k`` (dashed) vs ``z_k`` with ``z_j = s_j``
    (``what='link'``), or the composite Softmax ``p_k`` (``what='p'``)."""
    import losslab as ll

    z = _grid(-6.0, 6.0, quick, ())
    for k, s_k in enumerate(s_vec):
        pred = _projection(s_vec, k, z)
        c = _color(s_k, k)
        if what == "p":
            if kind == "decomposed":
                raise ValueError("a decomposed loss has no composite Softmax")
            p = ll.composite_softmax(pred, q)[:, k]
            ax.plot(_np(z), _np(p), color=c, lw=1.5, label=f"$s_k={s_k:g}$", gid=f"p_k:s={s_k:g}")
            continue
        if kind == "decomposed":  # eq. (28): h_k = h(z_k), diagonal Hessian h'(z_k)
            h, dh = q(z), q.derivative(z)
        else:  # eq. (18), (C.6)
            h = ll.composite_softmax_link(pred, q)[:, k]
            dh = ll.analysis.composite_sensitivity(pred, q)[:, k]
        ax.plot(_np(z), _np(h), color=c, lw=1.5, label=f"$s_k={s_k:g}$", gid=f"h_k:s={s_k:g}")
        ax.plot(_np(z), _np(dh), color=c, lw=1.1, ls="--", gid=f"dh_k:s={s_k:g}")
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel(r"$z_k$  ($z_j = s_j$, $j \neq k$)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def delta_k(q, kind: str = "composite_softmax", s_vec=S3) -> torch.Tensor:
    """The per-class sensitivity ``Δ_k`` at the observed ``s``: eq. (C.6) for composite Softmax,
    ``h'(s_k)`` for a decomposed loss (its Hessian is diagonal, eq. 28)."""
    import losslab as ll

    s = _t(s_vec)
    return q.derivative(s) if kind == "decomposed" else ll.analysis.composite_sensitivity(s, q)


def _delta_text(q, kind: str = "composite_softmax") -> str:
    d = delta_k(q, kind)
    return "$\\Delta_k$ at $s=-3, 0, 3$: " + ", ".join(f"{float(v):.2g}" for v in d)


def _q(link):
    """The paper's scalings carry the factor α: ``q(z) = α g(α(z − β))``, ``Q(z) = G(α(z − β))``."""
    return link.scaled(link.alpha)


# ---------------------------------------------------------------------- Figure 1


def draw_fig1(link=None, scaling=None, quick=False):
    """Seed 000 Figure 1: the matching loss as the area between the link and the level ``h(s)``."""
    import losslab as ll
    from losslab import links

    h = link if link is not None else links.sigmoid(alpha=1.0)
    s, s_hat = -1.0, 2.5
    fig, axes = _figure(1, 1, 5.2, 3.8)
    ax = axes[0][0]
    z = _grid(-5.0, 5.0, quick, (s, s_hat))
    hz = h(z)
    hs = float(h(_t(s)))
    ax.plot(_np(z), _np(hz), color="black", lw=1.8, label=r"link $h(z)$", gid="fn")
    inside = (z >= s) & (z <= s_hat)
    zi = z[inside]
    ax.fill_between(_np(zi), hs, _np(h(zi)), color="tab:blue", alpha=0.35, gid="area",
                    label=r"$\mathcal{L}_m(\hat{s}, s) = \int_s^{\hat{s}} [h(z) - h(s)]\,dz$")
    ax.axhline(hs, color="tab:red", lw=1.0, ls="--", label=r"$h(s)$")
    for v, name in ((s, r"$s$"), (s_hat, r"$\hat{s}$")):
        ax.axvline(v, color="0.5", lw=0.8, ls=":")
        ax.annotate(name, (v, hs), textcoords="offset points", xytext=(3, -14), fontsize=10)
    loss = float(ll.matching_loss(_t(s_hat), _t(s), h, reduction="none"))
    ax.set_title(f"{_name(h)}: $\\mathcal{{L}}_m({s_hat:g}, {s:g})$ = {loss:.4f}", fontsize=9)
    ax.set_xlabel(r"$z$")
    ax.set_ylabel(r"$h(z)$")
    ax.legend(fontsize=8, loc="upper left")
    return fig


# ---------------------------------------------------------------------- Figure 2 / H.1


def _fig2_columns():
    from losslab import links

    return [
        ("low norm: $\\sigma(\\alpha z)$", links.sigmoid(alpha=1.5)),
        ("high score: $\\sigma(\\alpha(z-\\beta))$, $\\beta=4$", links.sigmoid(alpha=1.5, beta=4.0)),
        ("low score: $\\sigma(\\alpha(z-\\beta))$, $\\beta=-4$", links.sigmoid(alpha=1.5, beta=-4.0)),
        ("high norm: $\\sinh(\\alpha z)$", links.sinh(alpha=0.5)),
    ]


def _pairs_figure(rows: list[list[tuple[str, object]]], kind: str, quick: bool, width: float = 3.1):
    """Pairs of rows: link ``h, h'`` (or composite Sigmoid link of a scaling) over losses vs ŝ."""
    import losslab as ll

    ncols = max(len(r) for r in rows)
    fig, axes = _figure(2 * len(rows), ncols, width, 2.5)
    z = _grid(-6.0, 6.0, quick, ())
    for r, row in enumerate(rows):
        for c in range(ncols):
            top, bottom = axes[2 * r][c], axes[2 * r + 1][c]
            if c >= len(row):
                top.set_axis_off()
                bottom.set_axis_off()
                continue
            title, link = row[c]
            if kind == "matching":
                _plot_fn(top, z, link(z), link.derivative(z), (r"$h(z)$", r"$h'(z)$"), f"{title}\n{_name(link)}")
            else:
                h = ll.composite_sigmoid_link(link)
                _plot_fn(top, z, h(z), h.derivative(z), (r"$h(z)=q(z)\,p(z)$", r"$h'(z)$"),
                         f"{title}\nscaling $q$: {_name(link)}")
            _scalar_losses(bottom, link, kind, quick, title="")
    return fig, axes


def draw_fig2(link=None, scaling=None, quick=False):
    """Seed 000 Figure 2: four sensitivity types of scalar matching losses."""
    cols = [("your link", link)] if link is not None else _fig2_columns()
    fig, _ = _pairs_figure([cols], "matching", quick, width=3.3)
    return fig


def _h1_rows():
    from losslab import links

    return [
        [("high score: exp", links.exp(alpha=0.7)),
         ("right-shifted sigmoid", links.sigmoid(alpha=1.5, beta=4.0)),
         ("right-shifted SmeLU gradient", links.smelu(c=1.5, beta=4.0)),
         ("left-shifted sinh", links.sinh(alpha=0.6, beta=-3.0))],
        [("low score: anti-exp $-e^{-x}$", links.anti_exp(alpha=0.7)),
         ("left-shifted sigmoid", links.sigmoid(alpha=1.5, beta=-4.0)),
         ("left-shifted Huber gradient", links.huber(delta=1.5, beta=-4.0)),
         ("right-shifted sinh", links.sinh(alpha=0.6, beta=3.0))],
        [("low norm: sigmoid", links.sigmoid(alpha=1.5)),
         ("tanh", links.tanh(alpha=0.75)),
         ("SmeLU gradient", links.smelu(c=1.5)),
         ("Huber gradient", links.huber(delta=1.5))],
        [("high norm: sinh", links.sinh(alpha=0.5)),
         ("sinh, capped", links.sinh(alpha=0.8, cap=2.5)),
         ("$\\mathrm{sign}(x)|x|^3$", links.power(d=3.0, alpha=0.5)),
         ("$\\tan(x)$, $|x| < \\pi/2$", links.tan(alpha=0.24))],
    ]


def draw_h1(link=None, scaling=None, quick=False):
    """Seed 000 Figure H.1: links, sensitivities and losses of Table H.1 shapes."""
    rows = [[("your link", link)]] if link is not None else _h1_rows()
    fig, _ = _pairs_figure(rows, "matching", quick)
    return fig


def _h2_rows():
    from losslab import links

    return [
        [("high score: $q=e^x$", links.exp(alpha=0.7)),
         ("right-shifted sigmoid", links.sigmoid(alpha=1.5, beta=4.0)),
         ("right-shifted SmeLU gradient", links.smelu(c=1.5, beta=4.0)),
         ("left-shifted sinh", links.sinh(alpha=0.6, beta=-3.0))],
        [("low score: $q=-e^{-x}$", links.anti_exp(alpha=0.7)),
         ("left-shifted sigmoid", links.sigmoid(alpha=1.5, beta=-4.0)),
         ("left-shifted Huber gradient", links.huber(delta=1.5, beta=-4.0)),
         ("right-shifted sinh", links.sinh(alpha=0.6, beta=3.0))],
        [("low norm: sigmoid", links.sigmoid(alpha=1.5)),
         ("tanh", links.tanh(alpha=0.75)),
         ("SmeLU gradient", links.smelu(c=1.5)),
         ("Huber gradient", links.huber(delta=1.5))],
        [("high norm: sinh", links.sinh(alpha=0.5)),
         ("$\\mathrm{sign}(x)|x|^3$", links.power(d=3.0, alpha=0.5)),
         ("linear $q = \\alpha^2 z$", _q(links.identity(alpha=0.5))),
         ("$q = \\alpha\\cosh(\\alpha z)$", _q(links.cosh(alpha=0.7)))],
    ]


def draw_h2(link=None, scaling=None, quick=False):
    """Seed 000 Figure H.2: the Table H.1 shapes as composite Sigmoid scalings (eq. 22-24)."""
    rows = [[("your scaling", scaling)]] if scaling is not None else _h2_rows()
    fig, _ = _pairs_figure(rows, "composite_sigmoid", quick)
    return fig


# ---------------------------------------------------------------------- Figure 3


def _fig3_columns():
    from losslab import links

    return [
        ("low norm: $q=\\tanh(z)$", links.tanh()),
        ("high score: $q=e^{x}$", links.exp(alpha=0.7)),
        ("low score: $q=-e^{-x}$", links.anti_exp(alpha=0.7)),
        ("high norm: $q=\\sinh(x)$", links.sinh(alpha=0.5)),
    ]


def draw_fig3(link=None, scaling=None, quick=False):
    """Seed 000 Figure 3: scaling, composite Sigmoid, link and losses (matching solid, CE dashed)."""
    import losslab as ll

    cols = [("your scaling", scaling)] if scaling is not None else _fig3_columns()
    fig, axes = _figure(4, len(cols), 3.2, 2.5)
    z = _grid(-6.0, 6.0, quick, ())
    for c, (title, q) in enumerate(cols):
        _plot_fn(axes[0][c], z, q(z), q.derivative(z), (r"$q(z)$", r"$q'(z)$"), f"{title}\n{_name(q)}")
        ax = axes[1][c]
        ax.plot(_np(z), _np(ll.composite_sigmoid(z, q)), color="tab:purple", lw=1.6, gid="p",
                label=r"$p(z)=\sigma(Q(z))$")
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel(r"$z$")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title("composite Sigmoid (eq. 22)", fontsize=9)
        h = ll.composite_sigmoid_link(q)
        _plot_fn(axes[2][c], z, h(z), h.derivative(z), (r"$h(z)=q(z)\,p(z)$", r"$h'(z)$ (B.1)"), "link and sensitivity")
        _scalar_losses(axes[3][c], q, "composite_sigmoid", quick, ce=True, title="eq. (24) solid, CE (E.3) dashed")
    return fig


# ---------------------------------------------------------------------- Figure 4


def _fig4_columns():
    from losslab import links

    return [
        ("low norm: decomposed $h=\\sigma(\\alpha z)$", links.sigmoid(alpha=1.5), "decomposed"),
        ("high score: $q=\\sinh(\\alpha(z+\\beta))$, $\\beta=2$", links.sinh(alpha=0.5, beta=-2.0), "composite_softmax"),
        ("low score: $q=\\sinh(\\alpha(z-\\beta))$, $\\beta=2$", links.sinh(alpha=0.5, beta=2.0), "composite_softmax"),
        ("high norm: $q=\\sinh(\\alpha z)$", links.sinh(alpha=0.5), "composite_softmax"),
    ]


FIG4_DELTA = 1.0


def draw_fig4(link=None, scaling=None, quick=False):
    """Seed 000 Figure 4: multi-class links ``h_k, h'_k``, scalar losses, class projections with ±δ."""
    cols = [("your scaling", scaling, "composite_softmax")] if scaling is not None else _fig4_columns()
    fig, axes = _figure(3, len(cols), 3.3, 2.7)
    for c, (title, q, kind) in enumerate(cols):
        _mc_links(axes[0][c], q, kind, quick, title=f"{title}\n$h_k$ solid, $h'_k$ dashed")
        scalar_kind = "matching" if kind == "decomposed" else "composite_sigmoid"
        _scalar_losses(axes[1][c], q, scalar_kind, quick, title=f"scalar loss ({'eq. 2' if kind == 'decomposed' else 'eq. 24'})")
        _mc_projection(axes[2][c], q, kind, quick, delta=FIG4_DELTA,
                       title=f"{'eq. 28' if kind == 'decomposed' else 'eq. 29'}: $\\hat{{s}}_j=s_j$ (solid), "
                             f"$s_j\\pm{FIG4_DELTA:g}$ (dotted)\n{_delta_text(q, kind)}")
    return fig


# ---------------------------------------------------------------------- Figure 5


def _fig5_scaling():
    from losslab import links

    return links.exp(alpha=0.5).scaled(0.5)  # q(z) = α e^{αz}, α = 0.5


FIG5_S1, FIG5_S2 = 3.0, (1.0, 3.0, 5.0)
FIG5_RANGE = (-1.0, 7.0)


def fig5_surfaces(q, quick: bool = False) -> list[tuple[str, float, object, object, object]]:
    """The six ``(kind, s2, Ŝ1, Ŝ2, sqrt loss)`` grids of Figure 5 (decomposed, then composite Softmax)."""
    n = 41 if quick else 121
    g = torch.linspace(*FIG5_RANGE, n, dtype=_DTYPE)
    a, b = torch.meshgrid(g, g, indexing="xy")
    pred = torch.stack([a.reshape(-1), b.reshape(-1)], -1)
    out = []
    for kind in ("decomposed", "composite_softmax"):
        for s2 in FIG5_S2:
            loss = _mc_loss(pred, (FIG5_S1, s2), q, kind).reshape(a.shape)
            out.append((kind, s2, a, b, loss.clamp_min(0).sqrt()))
    return out


def draw_fig5(link=None, scaling=None, quick=False):
    """Seed 000 Figure 5: 2-class projections, contours and surfaces, decomposed vs composite Softmax,
    on one colour scale."""
    from matplotlib import cm, colors

    q = scaling if scaling is not None else _fig5_scaling()
    grids = fig5_surfaces(q, quick)
    vmax = max(float(r.max()) for *_, r in grids)
    norm = colors.Normalize(vmin=0.0, vmax=vmax)
    levels = torch.linspace(0.0, vmax, 15).tolist()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * 6, 3.0 * 3 + 0.3), layout="constrained")
    gs = fig.add_gridspec(3, 6)
    proj_axes, contour_axes, surf_axes = [], [], []
    for c, (kind, s2, a, b, root) in enumerate(grids):
        name = "decomposed $h=\\alpha e^{x}$" if kind == "decomposed" else "composite Softmax $q=\\alpha e^{x}$"
        ax = fig.add_subplot(gs[0, c])
        s_vec = (FIG5_S1, s2)
        s_hat = _grid(*FIG5_RANGE, quick, s_vec)
        curves = {}
        for k in range(2):
            loss = _mc_loss(_projection(s_vec, k, s_hat), s_vec, q, kind)
            curves[s_vec[k]] = loss
            ax.plot(_np(s_hat), _np(loss), color=("tab:blue", "tab:orange")[k], lw=1.5,
                    label=f"$k={k + 1}$, $s_{k + 1}={s_vec[k]:g}$", gid=f"proj:k={k + 1}")
        _finish_loss(ax, _ylim_from(curves, s_hat, reach=2.0), r"$\hat{s}_k$")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(f"{name}\n$s=({FIG5_S1:g}, {s2:g})$", fontsize=9)
        proj_axes.append(ax)
        ax = fig.add_subplot(gs[1, c])
        cs = ax.contourf(_np(a), _np(b), _np(root), levels=levels, cmap="viridis", norm=norm, extend="neither")
        cs.set_gid("contour")
        ax.contour(_np(a), _np(b), _np(root), levels=levels, colors="white", linewidths=0.3)
        ax.plot([FIG5_S1], [s2], marker="*", color="white", markersize=11, markeredgecolor="black", gid="target")
        ax.set_xlabel(r"$\hat{s}_1$")
        ax.set_ylabel(r"$\hat{s}_2$")
        ax.set_aspect("equal")
        contour_axes.append(ax)
        ax = fig.add_subplot(gs[2, c], projection="3d")
        surf = ax.plot_surface(_np(a), _np(b), _np(root), cmap="viridis", norm=norm, linewidth=0, antialiased=False,
                               rcount=40, ccount=40)
        surf.set_gid("surface")
        ax.set_zlim(0.0, vmax)
        ax.set_xlabel(r"$\hat{s}_1$", fontsize=8)
        ax.set_ylabel(r"$\hat{s}_2$", fontsize=8)
        ax.set_zlabel(r"$\sqrt{\mathcal{L}}$", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.view_init(elev=30, azim=-125)
        surf_axes.append(ax)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap="viridis"), ax=contour_axes + surf_axes, shrink=0.6,
                 label=r"$\sqrt{\mathcal{L}(\hat{\mathbf{s}}, \mathbf{s})}$ (one scale for all panels)")
    return fig


# ---------------------------------------------------------------------- Figure E.2


def _one(x):
    return torch.ones_like(x)


def _zero(x):
    return torch.zeros_like(x)


def _ident(x):
    return x


def standard_softmax_scaling(beta: float = 0.0):
    """``q(z) = 1``, ``Q(z) = z − β``: the composite Softmax is the standard Softmax (eq. 15, E.7)."""
    from losslab import links

    return links.custom(_one, _zero, _ident, name="constant", beta=beta)


E2_S = (3.0, 0.0, -3.0)
E2_SHIFTS = (("no shift", 0.0), ("right shift, $\\beta=4$", 4.0), ("left shift, $\\beta=-4$", -4.0))


def draw_e2(link=None, scaling=None, quick=False):
    """Seed 000 Figure E.2: the standard Softmax for three shifts."""
    from losslab import links

    fig, axes = _figure(3, 3, 3.3, 2.7)
    for c, (title, beta) in enumerate(E2_SHIFTS):
        q = standard_softmax_scaling(beta)
        _mc_links(axes[0][c], q, "composite_softmax", quick, s_vec=E2_S,
                  title=f"{title}\nlinks $h_k=p_k$ (solid), $h'_k$ (dashed)")
        _scalar_losses(axes[1][c], links.sigmoid(beta=beta), "matching", quick,
                       title=f"scalar: $h=\\sigma(z-\\beta)$, $\\beta={beta:g}$")
        _mc_projection(axes[2][c], q, "composite_softmax", quick, s_vec=E2_S,
                       title=f"Softmax of $z-\\beta$, $\\beta={beta:g}$, projection")
    return fig


# ---------------------------------------------------------------------- Figures H.3-H.6


def _h3_columns():
    from losslab import links

    return [
        ("$q=e^{x}$", links.exp(alpha=0.5)),
        ("right-shifted $q=\\sigma(x)$, $\\beta=2$", links.sigmoid(alpha=1.5, beta=2.0)),
        ("left-shifted $q=\\sinh(x)$, $\\beta=-2$", links.sinh(alpha=0.5, beta=-2.0)),
        ("$q=\\cosh(x)$", links.cosh(alpha=0.5)),
    ]


def _h4_columns():
    from losslab import links

    return [
        ("$q=-e^{-x}$", links.anti_exp(alpha=0.5)),
        ("right-shifted $q=\\sinh(x)$, $\\beta=2$", links.sinh(alpha=0.5, beta=2.0)),
        ("linear $q=\\alpha^2(z-\\beta)$, $\\alpha=0.2$, $\\beta=2$", _q(links.identity(alpha=0.2, beta=2.0))),
        ("$q=\\alpha\\cosh(\\alpha(z-\\beta))$, $\\alpha=0.15$, $\\beta=5.25$", _q(links.cosh(alpha=0.15, beta=5.25))),
    ]


def _h5_columns():
    from losslab import links

    return [
        ("$q=\\sinh(x)$", links.sinh(alpha=0.5)),
        ("$q=\\sinh(\\alpha z)$, capped", links.sinh(alpha=0.8, cap=2.5)),
        ("linear $q=\\alpha^2 z$, $\\alpha=0.2$", _q(links.identity(alpha=0.2))),
        ("$q=\\alpha\\cosh(\\alpha(z-\\beta))$, $\\alpha=0.3$, $\\beta=2$", _q(links.cosh(alpha=0.3, beta=2.0))),
    ]


def _h6_columns():
    from losslab import links

    return [
        ("$q=\\sigma(z)$", links.sigmoid()),
        ("$q=\\sigma(z+\\beta)$, $\\beta=2$", links.sigmoid(beta=-2.0)),
        ("$q=\\tanh(z)$ (SoftCosh)", links.tanh()),
        ("$q=\\tanh(z-\\beta)$, $\\beta=2$", links.tanh(beta=2.0)),
        ("$q=\\tanh(z+\\beta)$, $\\beta=2$", links.tanh(beta=-2.0)),
    ]


def _multiclass_rows(cols, quick: bool, scalar_row: bool):
    """Figures H.3-H.6: scaling; composite Softmax ``p_k``; links ``h_k`` and ``h'_k`` (dashed);
    [scalar losses;] multi-class projections -- one column per scaling."""
    nrows = 5 if scalar_row else 4
    fig, axes = _figure(nrows, len(cols), 3.2, 2.5)
    z = _grid(-6.0, 6.0, quick, ())
    for c, (title, q) in enumerate(cols):
        _plot_fn(axes[0][c], z, q(z), q.derivative(z), (r"$q(z)$", r"$q'(z)$"), f"{title}\n{_name(q)}")
        _mc_links(axes[1][c], q, "composite_softmax", quick, title=r"composite Softmax $p_k$ (eq. 16)", what="p")
        axes[1][c].set_ylim(-0.03, 1.05)
        _mc_links(axes[2][c], q, "composite_softmax", quick, title=r"$h_k=q\,p_k$ solid, $h'_k$ dashed")
        r = 3
        if scalar_row:
            _scalar_losses(axes[3][c], q, "composite_sigmoid", quick, title="scalar loss (eq. 24)")
            r = 4
        _mc_projection(axes[r][c], q, "composite_softmax", quick, title=f"projection (eq. 29); {_delta_text(q)}")
    return fig


def _draw_multiclass(columns, scalar_row=False):
    def draw(link=None, scaling=None, quick=False):
        cols = [("your scaling", scaling)] if scaling is not None else columns()
        return _multiclass_rows(cols, quick, scalar_row)

    return draw


# ---------------------------------------------------------------------- seed 001


def draw_001_fig1(link=None, scaling=None, quick=False):
    """Seed 001 Figure 1: forward time of a full output layer vs a single logit, vs the number of classes."""
    from losslab.experiments.slc_speed import measure

    log2k = (8, 11, 14) if quick else (8, 10, 12, 14, 16)
    # one intra-op thread: on a machine shared with other processes, several threads
    # wait on each other and the timings say more about the load than about K
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = measure(log2k, in_features=256 if quick else 1024, width=128 if quick else 512,
                         depth=2 if quick else 3, batch=32, repeats=3 if quick else 15, warmup=1, progress=False)
    finally:
        torch.set_num_threads(threads)
    rows = result["rows"]
    ks = [r["classes"] for r in rows]
    fig, axes = _figure(1, 1, 5.4, 3.8)
    ax = axes[0][0]
    ax.loglog(ks, [1e3 * r["full_s_per_example"] for r in rows], "o-", base=2, gid="full",
              label="all $K$ logits (full output layer)")
    ax.loglog(ks, [1e3 * r["slc_s_per_example"] for r in rows], "s-", base=2, gid="single",
              label="one logit (SLC)")
    for r in rows:
        ax.annotate(f"×{r['speedup']:.1f}", (r["classes"], 1e3 * r["full_s_per_example"]), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_yscale("log", base=10)
    lo = min(1e3 * r["slc_s_per_example"] for r in rows)
    hi = max(1e3 * r["full_s_per_example"] for r in rows)
    ax.set_ylim(lo / 2, hi * 4)  # room for the speed-up labels above the points
    ax.set_xlabel("number of classes $K$")
    ax.set_ylabel("forward ms / example")
    ax.set_title(f"{result['backbone']}, batch {result['batch']}, {result['device']}, "
                 f"{result['threads']} thread(s); ×: speed-up", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    return fig


PoLS_CLASS = 3
PoLS_OBJECTIVES = ("cross_entropy", "binary_cross_entropy")


def pols_logits(objective: str, quick: bool = False):
    """Training logits ``[N, 10]`` and labels of a one-hidden-layer MLP trained on the
    digits (the ``slc`` data, seed 0) with ``objective`` by plain mini-batch SGD."""
    from losslab.data import load_digits
    from losslab.slc import resolve_objective

    d = load_digits(seed=0)
    x, y = d.x_train, d.y_train
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    params = list(net.parameters())
    fn = resolve_objective(objective)
    gen = torch.Generator().manual_seed(0)
    # One intra-op thread: on 64x64 matrices extra threads only add synchronisation, which
    # costs 10-100x when other processes hold the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(300 if quick else 1500):
            idx = torch.randint(0, len(y), (64,), generator=gen)
            grads = torch.autograd.grad(fn(net(x[idx]), y[idx]), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(0.1 * g)
        with torch.no_grad():
            return net(x), y
    finally:
        torch.set_num_threads(threads)


def draw_001_fig2(link=None, scaling=None, quick=False):
    """Seed 001 Figure 2: the Principle of Logit Separation -- true vs false logits of one class."""
    from losslab.pols import logit_separation

    fig, axes = _figure(1, 2, 4.6, 3.4)
    names = {"cross_entropy": "cross-entropy (not PoLS-aligned)",
             "binary_cross_entropy": "binary cross-entropy (PoLS-aligned)"}
    for ax, obj in zip(axes[0], PoLS_OBJECTIVES):
        z, y = pols_logits(obj, quick)
        c = PoLS_CLASS
        true, false = z[y == c, c], z[y != c, c]
        sep = logit_separation(z, y)
        lo, hi = float(z[:, c].min()), float(z[:, c].max())
        bins = torch.linspace(lo, hi, 41).tolist()
        ax.hist(_np(false), bins=bins, color="tab:red", alpha=0.55, label=f"false logits ({len(false)})",
                gid="false")
        ax.hist(_np(true), bins=bins, color="tab:blue", alpha=0.65, label=f"true logits ({len(true)})", gid="true")
        ax.axvline(float(true.min()), color="tab:blue", lw=0.9, ls="--")
        ax.axvline(float(false.max()), color="tab:red", lw=0.9, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel(f"logit $z_{c}$ of class '{c}' (digits, training set)")
        ax.set_ylabel("examples")
        wrong = 1.0 - float(sep.class_fraction[c])
        ax.set_title(f"{names[obj]}\nclass {c}: {100 * wrong:.2f}% of (true, false) pairs mis-ordered\n"
                     f"all classes pooled: {100 * (1 - sep.fraction):.2f}%", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return fig


# ---------------------------------------------------------------------- the registry


def _appendix(name):
    def draw(link=None, scaling=None, quick=False):
        from losslab.experiments import appendix

        return getattr(appendix, name)(link=link, scaling=scaling, quick=quick)

    return draw


_SOLID = "s = −3 red, 0 green, 3 blue."

FIGURES: dict[str, FigureEntry] = {e.id: e for e in (
    FigureEntry(
        "000:1", "Matching loss as the area under the link",
        "The link h(z) (black) and the level h(s) (red dashed) for an observed s = −1 and a prediction ŝ = 2.5; "
        "the shaded area between them from s to ŝ is the matching loss L_m(ŝ, s) = ∫_s^ŝ [h(z) − h(s)] dz = "
        "H(ŝ) − H(s) − (ŝ − s) h(s) (eq. 2), whose value losslab.matching_loss computes is in the title. "
        "Look for: a steeper link between s and ŝ gives a larger area, hence a larger loss.",
        draw_fig1, 1, "link", 1, "matching"),
    FigureEntry(
        "000:2", "Selective loss sensitivity types (scalar links)",
        "Top: links h(z) (black) and sensitivities h′(z) (orange dashed): sigmoid σ(αz) with α = 1.5 unshifted, "
        "shifted right (β = 4) and left (β = −4), and sinh(αz). Bottom: matching losses (eq. 2) vs ŝ, " + _SOLID +
        " Look for: low norm -- the loss is sharp at s = 0 and flat when over-estimating 3 or under-estimating −3; "
        "high score -- s = 3 sits on the convex part of the link, so its loss is steep on both sides and steeper "
        "when over-estimated, while low scores cost little when under-estimated and a lot when over-estimated; "
        "low score -- the mirror image; high norm -- sharp at s = ±3, flat around 0.",
        draw_fig2, 8, "link", 2, "matching"),
    FigureEntry(
        "000:3", "Composite Sigmoid: scaling, probability, link and losses",
        "Rows: the scaling q(z) and q′(z); the composite Sigmoid p(z) = σ(Q(z)) (eq. 22); the link h = q·p and "
        "its sensitivity h′ (eq. 23, B.1); the losses of eq. (24) vs ŝ (solid) and the cross-entropy of the same "
        "p (eq. E.3, dashed, less its value at ŝ = s), " + _SOLID + " Columns: q = tanh (low norm), e^x (high "
        "score), −e^{−x} (low score), sinh (high norm). Look for: tanh gives a loss symmetric about s = 0; the "
        "dashed CE curves differ from the selective losses (E.4); p is not monotone for q = sinh "
        "(Q = cosh, last column).",
        draw_fig3, 16, "scaling", 4, "composite_sigmoid"),
    FigureEntry(
        "000:4", "Multi-class selective losses (K = 3)",
        "Columns: low norm by a decomposed sigmoid loss (eq. 28), and composite Softmax losses (eq. 29) with "
        "q = sinh(α(z + 2)) (high score), sinh(α(z − 2)) (low score), sinh(αz) (high norm), α = 0.5; observed s = (−3, 0, 3). "
        "Top: h_k(z) (solid) and the diagonal h′_k (dashed) vs z_k with z_j = s_j. Middle: the scalar losses "
        "(eq. 2 / 24). Bottom: the multi-class loss projected on class k with ŝ_j = s_j (solid), and with "
        "ŝ_j = s_j ± 1 for j ≠ k (dotted, shifted to a 0 minimum), with the sensitivities Δ_k at s in the titles; " +
        _SOLID + " Look for: the decomposed links overlap; the projections are sharp for the high-sensitivity "
        "class and flat for the others; "
        "mis-predicting the high-sensitivity score by ±1 moves the dotted curves of the other classes.",
        draw_fig4, 12, "scaling", 3, "composite_softmax"),
    FigureEntry(
        "000:5", "Two-class loss projections, contours and surfaces",
        "K = 2, s = (3, s2) with s2 = 1, 3, 5: the decomposed loss with h = αe^{αz} (left three columns) and "
        "the composite Softmax loss with q = αe^{αz} (right three), α = 0.5. Top: the loss projected on each "
        "class (the other at its observed score). Middle: contours, bottom: surfaces of √L over (ŝ1, ŝ2), all "
        "six on one colour scale; the star is the observed s. Look for: the composite Softmax loss is sharp "
        "along the higher class and flat along the lower one (ranking sensitivity: s1 = 3 is sharp when it is "
        "the higher score, flat when it is the lower, s2 = 5); the decomposed loss treats each class by its "
        "value alone.",
        draw_fig5, 18, "scaling", 18, "composite_softmax"),
    FigureEntry(
        "000:E.1", "Re-weighted square losses are not selective",
        "Square losses vs ŝ for s ∈ {−3, 0, 3} weighted by w(z) = κ(z − min_k s_k + δ), κ = δ = 0.5, with z = s "
        "(left), z = ŝ (middle) and both (right). Look for: weighted by s, over-estimating −3 costs exactly what "
        "under-estimating it costs, and far less than under-estimating 3 (high predictions of low scores are "
        "under-penalised); weighted by ŝ the losses are no longer convex (the s = 3 curve bends down on its "
        "left) and under-estimating the high score is cheap.",
        _appendix("draw_e1"), 3),
    FigureEntry(
        "000:E.2", "Limits of the standard Softmax",
        "Columns: no shift, right shift β = 4, left shift β = −4; s = (3, 0, −3) blue, green, red. Top: links "
        "h_k = p_k of the standard Softmax of z − β (solid) and h′_k (dashed) vs z_k. Middle: scalar sigmoid "
        "losses σ(z − β) (the reduced two-class Softmax), which do change with the shift. Bottom: multi-class "
        "projections. Look for: top and bottom rows are identical in all three columns (shift invariance); the "
        "s = 0 and s = −3 links overlap near 0; the loss is almost flat when over-estimating the high score 3.",
        draw_e2, 9),
    FigureEntry(
        "000:F.1", "Underspecification: optima of a linear model under selective losses",
        "Two features: a low label s ∈ {−10..−1} equals x2 and occurs with x1 ∈ {1, 3}; a high label "
        "s ∈ {6..10} equals x1 and occurs with x2 ∈ {1, 3}; ŝ = w·x is trained to convergence (L-BFGS) with "
        "each matching loss. Rows: right-shifted sigmoid (β = 5), left-shifted (β = −5), centred sigmoid, and "
        "the centred sigmoid on data with more high labels (5 low, 10 high). Left: the examples in (x1, x2), "
        "coloured by label. Middle: the link. Right: the optimal predictions ŝ vs s (dots; identity dashed) "
        "over the loss L(ŝ, s) contours (√L). Look for: with the right-shifted sigmoid the high labels lie closest "
        "to the identity line (their pairs nearly merge: the saturating sigmoid keeps a small gap) while the low "
        "ones deviate in pairs; the left-shifted sigmoid puts the low labels exactly on the line, merged, and "
        "moves the high ones away; the centred sigmoid fits the more numerous side better.",
        _appendix("draw_f1"), 12, "link", 3, "matching"),
    FigureEntry(
        "000:H.1", "Scalar loss links of Table H.1",
        "Pairs of rows by sensitivity type: exponential shape (high score), anti-exponential (low score), "
        "sigmoid (low norm), sinh (high norm). In each pair: link h (black) and h′ (orange dashed) above, "
        "matching losses vs ŝ below, " + _SOLID + " Look for: every shape of a row gives the same type; the "
        "piecewise links (SmeLU, Huber gradients) are flat (no distinction) in their constant regions.",
        draw_h1, 32, "link", 2, "matching"),
    FigureEntry(
        "000:H.2", "Table H.1 shapes as composite Sigmoid scalings",
        "As Figure H.1 with each shape used as the scaling q of a composite Sigmoid (link h = q·σ(Q), "
        "loss eq. 24). The high-norm row adds the linear scaling q ∝ z and q = α cosh(αz). Look for: the "
        "types of Figure H.1 mostly persist but the links are perturbed (clearly for the piecewise shapes); "
        "the linear and cosh scalings give high-norm sensitivity.",
        draw_h2, 32, "scaling", 2, "composite_sigmoid"),
    FigureEntry(
        "000:H.3", "Multi-class high-score scalings",
        "Rows: scaling q and q′; composite Softmax p_k; links h_k (solid) and h′_k (dashed); multi-class loss "
        "projections (ŝ_j = s_j) with the sensitivities Δ_k (eq. C.6) at s = (−3, 0, 3) in their titles, all vs "
        "z_k or ŝ_k, " + _SOLID + " Columns (x = α(z − β)): e^x (α = 0.5), σ(x) (α = 1.5, β = 2), sinh(x) "
        "(α = 0.5, β = −2), cosh(x) (α = 0.5). Look for: Δ_k is largest at s = 3 in every column, the blue "
        "projection is the sharp one at its minimum, and the red and green curves mostly overlap.",
        _draw_multiclass(_h3_columns), 16, "scaling", 4),
    FigureEntry(
        "000:H.4", "Multi-class low-score scalings",
        "As Figure H.3 for −e^{−x} (α = 0.5), sinh(x) (α = 0.5, β = 2), a right-shifted linear scaling "
        "(α = 0.2, β = 2) and a right-shifted cosh scaling (α = 0.15, β = 5.25). Look for: Δ_k is largest at "
        "s = −3 in every column (for the linear and cosh scalings only mildly); in the first two columns the "
        "blue and green curves overlap; p_k is increasing for the cosh scaling.",
        _draw_multiclass(_h4_columns), 16, "scaling", 4),
    FigureEntry(
        "000:H.5", "Multi-class high-norm scalings",
        "As Figure H.3 for sinh(x) (α = 0.5), a capped sinh, a linear scaling q ∝ z and a shifted cosh "
        "(α = 0.3, β = 2). Look for: Δ_k at s = ±3 exceeds Δ_k at s = 0 in every column: the red and blue "
        "projections are sharper at their minima than the green one.",
        _draw_multiclass(_h5_columns), 16, "scaling", 4),
    FigureEntry(
        "000:H.6", "Scalings whose scalar and multi-class types differ",
        "Rows: q; p_k; h_k and h′_k (dashed); scalar composite Sigmoid losses (eq. 24); multi-class projections "
        "(eq. 29) with Δ_k (eq. C.6) at s = (−3, 0, 3) in their titles. Columns: σ(z), σ(z + 2), tanh(z) "
        "(SoftCosh, C.17), tanh(z − 2), tanh(z + 2). Look for: both sigmoid scalings give multi-class high-score "
        "sensitivity (Δ_k grows from s = −3 to 3) although as scalar scalings σ(z) is low norm and σ(z + 2) low "
        "score; tanh(z) turns scalar low norm into multi-class high norm (Δ_k smallest at 0), tanh(z − 2) gives "
        "multi-class low score and tanh(z + 2) high score -- p_k emphasises the opposite side of q.",
        _draw_multiclass(_h6_columns, scalar_row=True), 25, "scaling", 5),
    FigureEntry(
        "000:I.1", "Stochasticity: proper predictions with an exponential link",
        "The loss minimiser h^{-1}(E h(S)) (Prop. 1) with h(z) = e^{αz} for α = 1, 5, 10, 20. Left: one large "
        "score L and n small scores 0.05 with the mean kept at 0.1 (n = 1..18), vs L. Right: two scores m ± δ "
        "vs the deviation δ, for m = 0.2 (solid) and m = 0.5 (dashed, drawn minus 0.3 to share the axis). Look "
        "for: every prediction is above the mean and grows with L and with δ, the more so the larger α; the "
        "dashed and solid curves coincide (the bias does not depend on the mean).",
        _appendix("draw_i1"), 2),
    FigureEntry(
        "001:1", "SLC speed-up vs the number of classes",
        "Forward time per example of a backbone followed by the full output layer (all K logits) or by one "
        "logit (SLC), vs K, measured now on this machine with one thread (an MLP backbone on random inputs: forward time does "
        "not depend on the data); the numbers are speed-ups. Look for: the single logit's time stays flat "
        "while the full layer's grows with K, so the speed-up grows with K. Timings on a shared machine are "
        "noisy.",
        draw_001_fig1, 1),
    FigureEntry(
        "001:2", "The Principle of Logit Separation",
        "Histograms (log counts) of the logit z_3 of class '3' over the digits training set (the slc data) for "
        "examples of class 3 (true logits, blue) and of other classes (false logits, red), for a small MLP "
        "trained with cross-entropy (left) and with the PoLS-aligned binary cross-entropy (right); dashed: the "
        "smallest true and largest false logit. Look for: where the blue and red histograms overlap no single "
        "threshold on z_3 separates true from false; the PoLS-aligned loss leaves fewer (true, false) pairs "
        "mis-ordered than cross-entropy (percentages in the titles; the paper's picture is an idealisation: on "
        "this small model neither loss separates them completely).",
        draw_001_fig2, 2),
    FigureEntry(
        "003:1", "Which Softmax-family surrogates are consistent (seed 003)",
        "For each surrogate (rows) and metric (columns: top-1, top-3, the full DCG order), the fraction of random "
        "conditional label distributions whose expected-loss minimiser recovers the Bayes-optimal prediction "
        "(losslab consistency). Look for: softmax cross-entropy, sparsemax, entmax and NCE at 1 everywhere; "
        "sampled softmax without the logQ correction and negative sampling well below 1 (inconsistent); "
        "with the correction, closer to 1 but not there at a small number of samples.",
        lambda link=None, scaling=None, quick=False: _consistency().figure_consistency(link, scaling, quick), 1),
    FigureEntry(
        "003:2", "Convergence of the Softmax family (seed 003)",
        "Per training step of a linear model on generated data: loss, held-out top-1, NDCG@10 and the error of "
        "each surrogate's gradient against the full softmax gradient. Look for: the consistent surrogates "
        "approaching the Bayes predictor's top-1 and NDCG@10; the biased ones levelling off lower.",
        lambda link=None, scaling=None, quick=False: _consistency().figure_convergence(link, scaling, quick), 4),
)}


def _consistency():
    from losslab.experiments import consistency

    return consistency


def draw(fig_id: str, *, link=None, scaling=None, quick: bool = False):
    """Draw figure ``fig_id`` of :data:`FIGURES` (``link``/``scaling`` replace the paper's designs
    where the figure takes them) and return the ``matplotlib.figure.Figure``."""
    if fig_id not in FIGURES:
        raise ValueError(f"unknown figure {fig_id!r}; valid: {', '.join(FIGURES)}")
    entry = FIGURES[fig_id]
    for name, value in (("link", link), ("scaling", scaling)):
        if value is not None and entry.takes != name:
            raise ValueError(f"figure {fig_id} takes no {name}" + (f" (it takes a {entry.takes})" if entry.takes else ""))
    if link is not None or scaling is not None:
        check_option(entry, link if link is not None else scaling)
    return entry.draw(link=link, scaling=scaling, quick=quick)


def check_option(entry: FigureEntry, link) -> None:
    """Raise ``ValueError`` if ``link`` cannot be used for ``entry``: the figure shows a convex
    loss (Thm 3-4, Cor. G.1), and a link or scaling whose loss is not convex on [-6, 6] would
    draw something else (a decreasing link has no area picture and no proper minimum)."""
    from losslab import analysis

    kind = entry.check
    if kind is None:
        return
    if kind == "matching" and not link.monotone:
        raise ValueError(f"{_name(link)} is not non-decreasing: its matching loss is not convex")
    report = analysis.check_convexity(link, kind, (-6.0, 6.0), points=401 if kind == "composite_softmax" else 2001)
    if not report.convex:
        what = {"matching": "link is not non-decreasing", "composite_sigmoid": "composite Sigmoid loss (eq. 24)",
                "composite_softmax": "composite Softmax loss (eq. 29)"}[kind]
        where = f" (worst at z = {report.worst_z})" if report.worst_z is not None else ""
        raise ValueError(f"{_name(link)}: the {what} is not convex on [-6, 6]{where}")


# ---------------------------------------------------------------------- --link / --scaling


_NOT_SPECS = {"Link", "custom", "staircase", "piecewise_linear", "QUADRATURE_NODES"}


def _constructors() -> dict:
    from losslab import links

    return {n: getattr(links, n) for n in links.__all__ if n not in _NOT_SPECS}


@dataclass(frozen=True)
class LinkArg:
    """A parsed ``--link``/``--scaling`` value: the text given and the Link built from it."""

    text: str
    link: object


def parse_link(text: str):
    """``NAME[:key=value,...]`` -> a :class:`~losslab.links.Link`: a constructor of
    :mod:`losslab.links` with its keywords (``alpha``, ``beta``, ``cap``, ``c``, ``d``, ``delta``),
    plus ``scale=c`` for ``c·h`` (the paper's ``q = αe^{αz}`` is ``exp:alpha=0.5,scale=0.5``)."""
    ctors = _constructors()
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if name not in ctors:
        raise ValueError(f"unknown link {name!r} in {text!r}; known: {', '.join(sorted(ctors))}")
    ctor = ctors[name]
    allowed = [p for p in inspect.signature(ctor).parameters]
    kwargs, scale = {}, None
    for part in filter(None, (p.strip() for p in rest.split(","))) if rest.strip() else ():
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"expected key=value, got {part!r} in {text!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number for {key}, got {value.strip()!r} in {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number for {key}, got {value.strip()!r} in {text!r}")
        if key == "scale":
            scale = number
        elif key in allowed:
            kwargs[key] = number
        else:
            raise ValueError(f"{name} takes {', '.join(allowed + ['scale'])}; got {key!r} in {text!r}")
    if rest.strip() and not kwargs and scale is None:
        raise ValueError(f"expected key=value after ':', got {text!r}")
    link = ctor(**kwargs)
    if scale is not None:
        link = link.scaled(scale)
    return link


def _link_type(text: str) -> LinkArg:
    try:
        return LinkArg(text, parse_link(text))
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e) if repr(text) in str(e) or text in str(e) else f"{e} (in {text!r})") from None


def _figure_id(text: str) -> str:
    t = text.strip()
    if t in FIGURES:
        return t
    for key in FIGURES:  # case of the appendix letter, "000_E.1" as in the file names
        if key.lower() == t.lower().replace("_", ":", 1):
            return key
    raise argparse.ArgumentTypeError(f"unknown figure {text!r}; valid: {', '.join(FIGURES)}")


# ---------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    parser.add_argument("id", nargs="?", type=_figure_id, metavar="ID",
                        help=f"the figure: {', '.join(FIGURES)}")
    parser.add_argument("--link", type=_link_type, default=None, metavar="NAME[:k=v,...]",
                        help="draw the figure for this link instead of the paper's (figures 000:1, 2, F.1, H.1), "
                             "e.g. sigmoid:alpha=1.5,beta=4 or exp:alpha=0.5,scale=0.5")
    parser.add_argument("--scaling", type=_link_type, default=None, metavar="NAME[:k=v,...]",
                        help="draw the figure for this scaling q (figures 000:3, 4, 5, H.2-H.6)")
    parser.add_argument("--list", action="store_true", help="list the figures (id, title) and exit")
    parser.add_argument("--all", action="store_true", help="draw every figure")
    parser.add_argument("--quick", action="store_true", help="coarser grids and shorter training (seconds)")
    cli.add_common(parser)


def _check_args(args) -> list[str]:
    from losslab.cli import CLIError

    if args.list:
        return []
    if args.all and args.id is not None:
        raise CLIError(f"argument --all: draws every figure; drop the ID {args.id!r}")
    if not args.all and args.id is None:
        raise CLIError(f"argument ID: give a figure id or --list / --all; valid: {', '.join(FIGURES)}")
    ids = list(FIGURES) if args.all else [args.id]
    for opt, value in (("link", args.link), ("scaling", args.scaling)):
        if value is None:
            continue
        if args.all:
            raise CLIError(f"argument --{opt}: {value.text!r} applies to one figure, not to --all")
        entry = FIGURES[args.id]
        if entry.takes != opt:
            takers = [k for k, e in FIGURES.items() if e.takes == opt]
            also = f"; it takes --{entry.takes}" if entry.takes else ""
            raise CLIError(f"argument --{opt}: figure {args.id} takes no --{opt} (got {value.text!r}){also}; "
                           f"figures that do: {', '.join(takers)}")
        try:
            check_option(entry, value.link)
        except ValueError as e:
            raise CLIError(f"argument --{opt}: {value.text!r} cannot be used for figure {args.id}: {e}") from None
    return ids


def run(args: argparse.Namespace) -> int:
    import json

    from losslab.cli import CLIError, command_dir
    from losslab.experiments._common import matplotlib_available, progress
    from losslab.plots import save

    if args.list:
        for key, e in FIGURES.items():
            print(f"{key}\t{e.title}")
        return 0
    ids = _check_args(args)
    if not matplotlib_available():
        raise CLIError("losslab figure draws with matplotlib, which is not installed: pip install 'losslab[plot]'")
    out = command_dir(args)
    link = args.link.link if args.link else None
    scaling = args.scaling.link if args.scaling else None
    bar = progress(len(ids), "figure", enabled=not args.no_progress and len(ids) > 1, unit="figure")
    for key in ids:
        entry = FIGURES[key]
        bar.set_description(f"figure {key}")
        fig = entry.draw(link=link, scaling=scaling, quick=args.quick)
        stem = key.replace(":", "_")
        png = out / f"{stem}.png"
        save(fig, png)
        option = (f" --link {args.link.text}" if args.link else "") + (f" --scaling {args.scaling.text}" if args.scaling else "")
        meta = {"figure": key, "paper": key.split(":")[0], "title": entry.title, "caption": entry.caption,
                "png": png.name, "link": args.link.text if args.link else None,
                "scaling": args.scaling.text if args.scaling else None, "quick": args.quick,
                "panels": sum(1 for ax in fig.axes if ax.get_label() != "<colorbar>"),
                "command": f"losslab figure {key}{option}" + (" --quick" if args.quick else "")}
        (out / f"{stem}.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        note = "" if not (link or scaling) else f"\n\nDrawn for{option} instead of the paper's designs."
        (out / f"{stem}.md").write_text(
            f"# Figure {key}: {entry.title}\n\n![{key}]({png.name})\n\n{entry.caption}{note}\n\n"
            f"Made by `{meta['command']}`.\n", encoding="utf-8")
        print(png)
        bar.update(1)
    bar.close()
    return 0
