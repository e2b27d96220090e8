"""Seed 000's appendix experiments (Shamir & Warmuth, *Selective Matching Losses*):
re-weighting (App. E.1), underspecification (App. F) and stochasticity (App. I).

Each ``draw_*`` function is self-contained: it computes what its figure shows with
the library's losses and returns a ``matplotlib.figure.Figure`` (``losslab figure
000:E.1``, ``000:F.1``, ``000:I.1``; see :mod:`losslab.experiments.figures`).
The computations are public so that commands and tests reuse them:
:func:`reweighted_square`, :func:`underspecified_data`, :func:`fit_linear`,
:func:`stochastic_predictions`.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = [
    "reweighted_square", "draw_e1",
    "underspecified_data", "fit_linear", "F1_ROWS", "draw_f1",
    "stochastic_predictions", "draw_i1",
]

_DTYPE = torch.float64
S3 = (-3.0, 0.0, 3.0)


def _t(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=_DTYPE)


def _np(t: torch.Tensor):
    return t.detach().cpu().numpy()


def _figure(nrows: int, ncols: int, width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, [list(r) for r in fig.subplots(nrows, ncols, squeeze=False)]


def _color(s: float) -> str:
    from losslab.plots import SCORE_COLORS

    return SCORE_COLORS.get(float(s), "tab:orange")


# --------------------------------------------------------------------------- App. E.1

E1_KAPPA, E1_DELTA = 0.5, 0.5


def reweighted_square(s_hat: torch.Tensor, s: torch.Tensor, by: str, *, kappa: float = E1_KAPPA,
                      delta: float = E1_DELTA, min_s: float = -3.0) -> torch.Tensor:
    """Figure E.1's re-weighted square loss ``w·(ŝ − s)²`` with ``w(z) = κ(z − min_k s_k + δ)``
    of the observed score (``by='s'``), the prediction (``'s_hat'``) or their product (``'both'``)."""
    def w(z):
        return kappa * (z - min_s + delta)

    weight = {"s": lambda: w(s), "s_hat": lambda: w(s_hat), "both": lambda: w(s) * w(s_hat)}[by]()
    return weight * (s_hat - s) ** 2


def draw_e1(link=None, scaling=None, quick=False):
    """Figure E.1: square losses re-weighted by the observed score, the prediction, or both."""
    fig, axes = _figure(1, 3, 3.6, 3.0)
    # ŝ from where the weight κ(ŝ + 3.5) is 0 (below it the ŝ-weighted loss turns negative)
    s_hat = torch.unique(torch.cat([torch.linspace(-3.5, 6.0, 96 if quick else 381, dtype=_DTYPE), _t(S3)]))
    titles = {"s": "weighted by the observed $s$", "s_hat": r"weighted by the prediction $\hat{s}$",
              "both": r"weighted by $s$ and $\hat{s}$"}
    for ax, by in zip(axes[0], ("s", "s_hat", "both")):
        top = 0.0
        for s in S3:
            loss = reweighted_square(s_hat, torch.full_like(s_hat, s), by)
            ax.plot(_np(s_hat), _np(loss), color=_color(s), lw=1.5, label=f"$s={s:g}$", gid=f"loss:s={s:g}")
            top = max(top, float(loss[(s_hat - s).abs() <= 3.0].max()))
        ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
        ax.set_ylim(-0.03 * top, 1.08 * top)
        ax.set_xlabel(r"$\hat{s}$")
        ax.set_ylabel(r"$w \cdot (\hat{s} - s)^2$")
        ax.set_title(titles[by] + f"\n$w(z)=\\kappa(z+3+\\delta)$, $\\kappa=\\delta={E1_KAPPA:g}$", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", ncol=3)
    return fig


# --------------------------------------------------------------------------- App. F


def underspecified_data(low: Sequence[int], high: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """App. F's two-feature examples ``(X [N, 2], s [N])``: a low label ``s`` equals ``x2`` and
    occurs with ``x1 ∈ {1, 3}``; a high label equals ``x1`` and occurs with ``x2 ∈ {1, 3}``.
    (The seed's "High label values x ∈ {6, …, 10}" means the labels ``s``.)"""
    X, y = [], []
    for s in low:
        X += [(1.0, float(s)), (3.0, float(s))]
        y += [float(s)] * 2
    for s in high:
        X += [(float(s), 1.0), (float(s), 3.0)]
        y += [float(s)] * 2
    return _t(X), _t(y)


def fit_linear(link, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The weight ``w`` of ``ŝ = w·x`` (no bias) minimising ``Σ L_m(w·x, s)`` for ``link``:
    L-BFGS to a gradient below 1e-6 (the loss is convex in ``w`` for a non-decreasing link)."""
    import losslab as ll

    w = torch.zeros(X.shape[1], dtype=_DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ll.matching_loss(X @ w, y, link, reduction="sum")
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
    return w.detach()


def _f1_rows():
    from losslab import links

    a_low, a_high = range(-10, 0), range(6, 11)
    # The link parameters of Figure F.1 are not given; shifts β = ±5 with α = 1 put the
    # steep part of the sigmoid among the high / low labels.
    return [
        ("right-shifted sigmoid $\\sigma(z-5)$", links.sigmoid(beta=5.0), a_low, a_high),
        ("left-shifted sigmoid $\\sigma(z+5)$", links.sigmoid(beta=-5.0), a_low, a_high),
        ("centred sigmoid $\\sigma(z)$, 10 low / 5 high", links.sigmoid(), a_low, a_high),
        ("centred sigmoid $\\sigma(z)$, 5 low / 10 high", links.sigmoid(), range(-10, -5), range(1, 11)),
    ]


F1_ROWS = _f1_rows


def draw_f1(link=None, scaling=None, quick=False):
    """Figure F.1: labels over the features, the link, and the optimal predictions over loss contours."""
    import losslab as ll

    rows = _f1_rows() if link is None else [("your link", link, range(-10, 0), range(6, 11))]
    fig, axes = _figure(len(rows), 3, 3.6, 3.0)
    for r, (title, h, low, high) in enumerate(rows):
        X, y = underspecified_data(low, high)
        w = fit_linear(h, X, y)
        pred = X @ w
        ax = axes[r][0]
        sc = ax.scatter(_np(X[:, 0]), _np(X[:, 1]), c=_np(y), cmap="coolwarm", s=22, edgecolors="k", linewidths=0.3,
                        gid="examples")
        fig.colorbar(sc, ax=ax, label="label $s$", shrink=0.85)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title(f"examples ({len(low)} low, {len(high)} high labels, each twice)", fontsize=9)
        ax = axes[r][1]
        z = torch.linspace(-12.0, 12.0, 121 if quick else 481, dtype=_DTYPE)
        ax.plot(_np(z), _np(h(z)), color="black", lw=1.6, label="$h(z)$", gid="fn")
        ax.set_xlabel("$z$")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax = axes[r][2]
        g = torch.linspace(-14.0, 14.0, 61 if quick else 161, dtype=_DTYPE)
        S, SH = torch.meshgrid(g, g, indexing="xy")
        loss = ll.matching_loss(SH, S, h, reduction="none")
        ax.contourf(_np(S), _np(SH), _np(loss.clamp_min(0).sqrt()), levels=14, cmap="Greys", alpha=0.6)
        ax.plot([-14, 14], [-14, 14], color="0.3", lw=0.8, ls="--")
        ax.scatter(_np(y), _np(pred), c=["tab:blue" if v > 0 else "tab:red" for v in y.tolist()], s=18, zorder=3,
                   gid="predictions")
        ax.set_xlabel("observed $s$")
        ax.set_ylabel(r"optimal $\hat{s} = \mathbf{w} \cdot \mathbf{x}$")
        ax.set_title(f"$\\mathbf{{w}}$ = ({float(w[0]):.2f}, {float(w[1]):.2f}); contours: $\\sqrt{{L(\\hat{{s}}, s)}}$",
                     fontsize=9)
        ax.set_aspect("equal")
    return fig


# --------------------------------------------------------------------------- App. I

I1_ALPHAS = (1.0, 5.0, 10.0, 20.0)
I1_MEANS = (0.2, 0.5)


def stochastic_predictions(alpha: float, which: str, mean: float = 0.1, deltas=None):
    """App. I, Figure I.1: the proper prediction ``h^{-1}(E h(S))`` (Prop. 1) with ``h = e^{αz}``.

    ``which='large'``: one large score ``L = mean + 0.05 n`` and ``n`` scores 0.05 (the mean stays
    ``mean = 0.1``), ``n = 1..18``; returns ``(L [18], prediction [18])``.
    ``which='spread'``: two scores ``mean ± δ``; returns ``(δ, prediction)``.
    """
    from losslab import analysis, links

    h = links.exp(alpha=alpha)
    if which == "large":
        n = torch.arange(1, 19, dtype=_DTYPE)
        big = mean + 0.05 * n
        preds = []
        for k, b in zip(n.tolist(), big.tolist()):
            samples = _t([0.05] * int(k) + [b])
            preds.append(analysis.proper_prediction(h, samples))
        return big, torch.stack(preds)
    if which == "spread":
        d = _t(deltas if deltas is not None else torch.linspace(0.0, 0.2, 21, dtype=_DTYPE))
        return d, analysis.proper_prediction(h, torch.stack([mean - d, mean + d]))
    raise ValueError(f"which must be 'large' or 'spread'; got {which!r}")


def draw_i1(link=None, scaling=None, quick=False):
    """Figure I.1: proper predictions of an exponential link vs the large score and vs the spread."""
    fig, axes = _figure(1, 2, 4.4, 3.4)
    left, right = axes[0]
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for a, c in zip(I1_ALPHAS, colors):
        big, pred = stochastic_predictions(a, "large")
        left.plot(_np(big), _np(pred), "o-", ms=3, color=c, label=f"$\\alpha={a:g}$", gid=f"large:alpha={a:g}")
        for m, ls in zip(I1_MEANS, ("-", "--")):
            d, p = stochastic_predictions(a, "spread", mean=m)
            right.plot(_np(d), _np(p - (m - I1_MEANS[0])), ls=ls, color=c, gid=f"spread:alpha={a:g}:m={m:g}",
                       label=f"$\\alpha={a:g}$" if m == I1_MEANS[0] else None)
    left.axhline(0.1, color="k", lw=0.8, ls=":", label="mean 0.1")
    left.set_xlabel("the large score $L$ (with $n$ scores 0.05, mean 0.1)")
    left.set_ylabel(r"proper prediction $h^{-1}(\mathbb{E}\,h(S))$")
    left.set_title("one large score, $n = 1..18$ small ones", fontsize=9)
    left.legend(fontsize=7, loc="upper left")
    right.axhline(I1_MEANS[0], color="k", lw=0.8, ls=":", label=f"mean {I1_MEANS[0]:g}")
    right.set_xlabel(r"deviation $\delta$ of the two scores $m \pm \delta$")
    right.set_ylabel(r"prediction (for $m=0.5$: minus 0.3)")
    right.set_title(f"$m={I1_MEANS[0]:g}$ solid, $m={I1_MEANS[1]:g}$ dashed", fontsize=9)
    right.legend(fontsize=7, loc="upper left")
    return fig
