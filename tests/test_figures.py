"""``losslab figure``: every figure of seeds 000 and 001 draws, completely, from the library's own
functions. Panels are counted against the paper's figures; the plotted data are read back by
their ``gid`` and compared with independent computations (closed forms, the seed's equations)."""
from __future__ import annotations

import json
import math

import pytest
import torch

pytest.importorskip("matplotlib")

import losslab as ll  # noqa: E402
from losslab import cli, links  # noqa: E402
from losslab.experiments import appendix, figures  # noqa: E402

F64 = torch.float64
_CACHE: dict = {}


def _fig(fig_id):
    """Each figure is drawn once (quick) for the module's tests."""
    if fig_id not in _CACHE:
        _CACHE[fig_id] = figures.draw(fig_id, quick=True)
    return _CACHE[fig_id]


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _line(ax, gid):
    hits = [ln for ln in ax.lines if ln.get_gid() == gid]
    assert len(hits) == 1, (gid, [ln.get_gid() for ln in ax.lines])
    x, y = hits[0].get_data()
    return torch.as_tensor(x, dtype=F64), torch.as_tensor(y, dtype=F64)


EXPECTED_IDS = ["000:1", "000:2", "000:3", "000:4", "000:5", "000:E.1", "000:E.2", "000:F.1",
                "000:H.1", "000:H.2", "000:H.3", "000:H.4", "000:H.5", "000:H.6", "000:I.1", "001:1", "001:2",
                "003:1", "003:2"]


def test_registry_lists_every_figure_of_the_seeds():
    assert list(figures.FIGURES) == EXPECTED_IDS
    for key, e in figures.FIGURES.items():
        assert e.id == key and e.title.strip() and len(e.caption) > 80, key
        assert e.takes in (None, "link", "scaling"), key
        assert (e.custom_panels is not None) == (e.takes is not None), key


# The paper's panel counts: Figure 2 is 2 rows x 4; Figure 3, 4 rows x 4; Figure 4, 3 x 4;
# Figure 5, 3 x 6; H.1/H.2, four pairs of rows x 4; H.3-H.5, 4 x 4; H.6, 5 x 5 (our columns).
PAPER_PANELS = {"000:1": 1, "000:2": 8, "000:3": 16, "000:4": 12, "000:5": 18, "000:E.1": 3, "000:E.2": 9,
                "000:F.1": 12, "000:H.1": 32, "000:H.2": 32, "000:H.3": 16, "000:H.4": 16, "000:H.5": 16,
                "000:H.6": 25, "000:I.1": 2, "001:1": 1, "001:2": 2,
                "003:1": 1, "003:2": 4}  # seed 003 is an abstract: its figures are ours


@pytest.mark.parametrize("fig_id", EXPECTED_IDS)
def test_every_figure_draws_with_the_papers_panels(fig_id):
    fig = _fig(fig_id)
    assert figures.FIGURES[fig_id].panels == PAPER_PANELS[fig_id]
    panels = _panels(fig)
    assert len(panels) == PAPER_PANELS[fig_id]
    for ax in panels:  # every panel has data and a labelled x axis
        assert ax.lines or ax.collections or ax.patches or ax.images, (fig_id, ax.get_title())
        assert ax.get_xlabel(), (fig_id, ax.get_title())
    assert fig.get_layout_engine() is not None  # constrained layout: nothing clipped


@pytest.mark.parametrize("fig_id,value", [
    ("000:1", links.exp(alpha=0.5)), ("000:2", links.tanh(alpha=0.5)), ("000:H.1", links.arctan()),
    ("000:3", links.sinh(alpha=0.5, beta=1.0)), ("000:4", links.exp(alpha=0.5)), ("000:H.2", links.tanh()),
    ("000:H.6", links.sigmoid(beta=1.0)),
])
def test_a_users_link_or_scaling_replaces_the_papers_designs(fig_id, value):
    e = figures.FIGURES[fig_id]
    fig = figures.draw(fig_id, quick=True, **{e.takes: value})
    assert len(_panels(fig)) == e.custom_panels
    other = "scaling" if e.takes == "link" else "link"
    with pytest.raises(ValueError, match=f"takes no {other}"):
        figures.draw(fig_id, quick=True, **{other: value})


def test_figures_without_options_refuse_them_and_unknown_ids_list_the_valid_ones():
    with pytest.raises(ValueError, match="takes no link"):
        figures.draw("000:E.1", link=links.sigmoid())
    with pytest.raises(ValueError, match="000:H.6"):
        figures.draw("000:9")


def test_links_a_figure_cannot_use_are_refused():
    # sin with a cap above π/2 is the periodic sine: not monotone, no convex matching loss
    with pytest.raises(ValueError, match="not non-decreasing"):
        figures.draw("000:2", link=links.sin(cap=3.0))
    # q = 2 cosh(2z) breaks condition (G.2) for z < 0 (Cor. G.4: convex only for a small enough γ)
    with pytest.raises(ValueError, match="not convex"):
        figures.draw("000:3", scaling=links.cosh(alpha=2.0))
    with pytest.raises(ValueError, match="not convex"):
        figures.draw("000:4", scaling=links.cosh(alpha=2.0))


# ------------------------------------------------------------------ the plotted data


def _polygon_area(verts):
    x, y = verts[:, 0], verts[:, 1]
    return 0.5 * abs(float((x * torch.roll(y, -1) - torch.roll(x, -1) * y).sum()))


@pytest.mark.parametrize("link", [None, links.exp(alpha=0.5), links.sinh(alpha=0.7, beta=1.0)])
def test_figure_1_shaded_area_is_the_matching_loss(link):
    fig = figures.draw("000:1", link=link)  # the full grid: the polygon follows h closely
    ax = fig.axes[0]
    (area,) = [c for c in ax.collections if c.get_gid() == "area"]
    verts = torch.as_tensor(area.get_paths()[0].vertices, dtype=F64)
    h = link if link is not None else links.sigmoid()
    expected = float(ll.matching_loss(torch.tensor(2.5, dtype=F64), torch.tensor(-1.0, dtype=F64), h))
    # the polygon is the trapezoid rule of ∫_s^ŝ (h(z) − h(s)) dz on the plotted grid
    assert _polygon_area(verts) == pytest.approx(expected, rel=2e-4)


def test_figure_3_curves_are_the_papers_equations():
    """Figure 3, column 'high score' (q = e^{0.7z}): p = σ(Q) with Q = e^{0.7z}/0.7, the eq. (24) loss
    and the CE of eq. (E.3), each written out here from the seed."""
    fig = _fig("000:3")
    axes = [ax for ax in _panels(fig)]
    ncols = 4
    q_ax, p_ax, h_ax, loss_ax = (axes[r * ncols + 1] for r in range(4))
    alpha = 0.7

    def Q(z):
        return torch.exp(alpha * z) / alpha

    z, p = _line(p_ax, "p")
    torch.testing.assert_close(p, torch.sigmoid(Q(z)))
    z, h = _line(h_ax, "fn")
    torch.testing.assert_close(h, torch.exp(alpha * z) * torch.sigmoid(Q(z)))  # h = q p (eq. 22)
    for s in (-3.0, 0.0, 3.0):
        sh, loss = _line(loss_ax, f"loss:s={s:g}")
        ps = torch.sigmoid(Q(torch.tensor(s, dtype=F64)))
        Qs = Q(torch.tensor(s, dtype=F64))
        ref = (torch.log1p(torch.exp(Q(sh))) - torch.log1p(torch.exp(Qs))
               - (sh - s) * torch.exp(torch.tensor(alpha * s, dtype=F64)) * ps)  # eq. (24)
        torch.testing.assert_close(loss, ref, rtol=1e-9, atol=1e-9)
        sh, ce = _line(loss_ax, f"ce:s={s:g}")
        ce_ref = (torch.log1p(torch.exp(Q(sh))) - ps * Q(sh)) - (torch.log1p(torch.exp(Qs)) - ps * Qs)  # (E.3)
        torch.testing.assert_close(ce, ce_ref, rtol=1e-9, atol=1e-7)  # cancellation near ŝ = s
        assert float(ce.min()) > -1e-12
    # the CE of the composite output is not the selective loss (E.4): they differ
    sh, loss = _line(loss_ax, "loss:s=3")
    _, ce = _line(loss_ax, "ce:s=3")
    assert float((loss - ce).abs().max()) > 1.0


def test_figure_4_links_sensitivities_and_shifted_projections():
    fig = _fig("000:4")
    axes = _panels(fig)
    top, bottom = axes[1], axes[9]  # high-score column: q = sinh(0.5 (z + 2))
    q = links.sinh(alpha=0.5, beta=-2.0)
    s = torch.tensor([-3.0, 0.0, 3.0], dtype=F64)
    z, h = _line(top, "h_k:s=3")
    pred = s.expand(len(z), 3).clone()
    pred[:, 2] = z
    Qv = torch.cosh(0.5 * (pred + 2.0)) / 0.5
    p = torch.softmax(Qv, -1)[:, 2]
    torch.testing.assert_close(h, torch.sinh(0.5 * (z + 2.0)) * p)  # h_k = q(z_k) p_k (eq. 18)
    _, dh = _line(top, "dh_k:s=3")
    mid = (dh[1:] + dh[:-1]) / 2
    fd = (h[1:] - h[:-1]) / (z[1:] - z[:-1])  # h'_k: the slope of the plotted h_k
    torch.testing.assert_close(fd, mid, rtol=0.05, atol=0.02)
    for sign in "+-":
        for sk in (-3, 0, 3):
            _, shifted = _line(bottom, f"proj{sign}1:s={sk}")
            assert float(shifted.min()) == 0.0  # dotted curves are shifted to a 0 minimum
    # the solid projection is eq. (29) with ŝ_j = s_j, j ≠ k, written out
    x, y = _line(bottom, "proj:s=3")
    pred = s.expand(len(x), 3).clone()
    pred[:, 2] = x

    def Q(v):
        return torch.cosh(0.5 * (v + 2.0)) / 0.5

    ps = torch.softmax(Q(s), -1)
    ref = (torch.logsumexp(Q(pred), -1) - torch.logsumexp(Q(s), -1)
           - ((pred - s) * torch.sinh(0.5 * (s + 2.0)) * ps).sum(-1))
    torch.testing.assert_close(y, ref, rtol=1e-9, atol=1e-9)


def test_figure_5_panels_share_one_colour_scale():
    fig = _fig("000:5")
    contours = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "contour"]
    surfaces = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "surface"]
    assert len(contours) == 6 and len(surfaces) == 6
    lims = {(float(c.norm.vmin), float(c.norm.vmax)) for c in contours + surfaces}
    assert len(lims) == 1
    assert all(list(c.levels) == list(contours[0].levels) for c in contours)
    vmax = lims.pop()[1]
    grids = figures.fig5_surfaces(figures._fig5_scaling(), quick=True)
    assert vmax == pytest.approx(max(float(r.max()) for *_, r in grids))
    assert sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>") == 1


def test_figure_E2_standard_softmax_rows_do_not_change_with_the_shift():
    """App. E.3: the standard Softmax is shift invariant; the scalar sigmoid is not."""
    axes = _panels(_fig("000:E.2"))
    for gid, row in (("h_k:s=3", 0), ("proj:s=3", 2), ("proj:s=-3", 2)):
        base = _line(axes[3 * row], gid)[1]
        for c in (1, 2):
            torch.testing.assert_close(_line(axes[3 * row + c], gid)[1], base)
    assert not torch.allclose(_line(axes[3], "loss:s=3")[1], _line(axes[4], "loss:s=3")[1])


def test_figure_I1_curves_are_the_closed_form_proper_predictions():
    axes = _panels(_fig("000:I.1"))
    for a in figures_alphas():
        L, pred = _line(axes[0], f"large:alpha={a:g}")
        n = torch.round((L - 0.1) / 0.05)
        ref = torch.log((n * math.exp(a * 0.05) + torch.exp(a * L)) / (n + 1)) / a  # (1/α) log E e^{αS}
        torch.testing.assert_close(pred, ref)
        d, p1 = _line(axes[1], f"spread:alpha={a:g}:m=0.2")
        _, p2 = _line(axes[1], f"spread:alpha={a:g}:m=0.5")
        torch.testing.assert_close(p1, 0.2 + torch.log(torch.cosh(a * d)) / a)
        torch.testing.assert_close(p1, p2)  # the bias does not depend on the mean


def figures_alphas():
    return appendix.I1_ALPHAS


def test_figure_F1_predictions_are_the_converged_linear_optimum():
    fig = _fig("000:F.1")
    axes = _panels(fig)
    for r, (_, h, low, high) in enumerate(appendix.F1_ROWS()):
        X, y = appendix.underspecified_data(low, high)
        (pts,) = [c for c in axes[3 * r + 2].collections if c.get_gid() == "predictions"]
        off = torch.as_tensor(pts.get_offsets(), dtype=F64)
        torch.testing.assert_close(off[:, 0], y)
        w = torch.linalg.lstsq(X, off[:, 1:2]).solution[:, 0]  # the plotted ŝ are w·x for one w
        torch.testing.assert_close(X @ w, off[:, 1], rtol=1e-9, atol=1e-9)
        w.requires_grad_(True)
        (g,) = torch.autograd.grad(ll.matching_loss(X @ w, y, h, reduction="sum"), w)
        assert float(g.abs().max()) < 1e-4  # the optimum: zero gradient of the convex loss
    # row 2 (left-shifted sigmoid): the low labels sit on the identity line
    X, y = appendix.underspecified_data(range(-10, 0), range(6, 11))
    (pts,) = [c for c in axes[5].collections if c.get_gid() == "predictions"]
    off = torch.as_tensor(pts.get_offsets(), dtype=F64)
    assert float((off[y < 0, 1] - y[y < 0]).abs().max()) < 0.1


def test_figure_001_2_histograms_are_the_models_true_and_false_logits():
    axes = _panels(_fig("001:2"))
    for ax, obj in zip(axes, figures.PoLS_OBJECTIVES):
        z, y = figures.pols_logits(obj, quick=True)
        c = figures.PoLS_CLASS
        counts = {gid: sum(p.get_height() for p in ax.patches if p.get_gid() == gid) for gid in ("true", "false")}
        assert counts == {"true": int((y == c).sum()), "false": int((y != c).sum())}
    # the caption's claim: the PoLS-aligned loss leaves fewer (true, false) pairs mis-ordered
    from losslab.pols import logit_separation

    wrong = {obj: 1 - float(logit_separation(*figures.pols_logits(obj, quick=True)).class_fraction[figures.PoLS_CLASS])
             for obj in figures.PoLS_OBJECTIVES}
    assert wrong["binary_cross_entropy"] < wrong["cross_entropy"], wrong


def _order(d):
    lo, mid, hi = (float(v) for v in d)
    return {"high score": lo < mid < hi, "low score": lo > mid > hi,
            "high norm": mid < lo and mid < hi, "low norm": mid > lo and mid > hi}


@pytest.mark.parametrize("columns,kind,types", [
    (lambda: [(t, q) for t, q, _ in figures._fig4_columns()], None, ["low norm", "high score", "low score", "high norm"]),
    (figures._h3_columns, "composite_softmax", ["high score"] * 4),
    (figures._h4_columns, "composite_softmax", ["low score"] * 4),
    (figures._h5_columns, "composite_softmax", ["high norm"] * 4),
    (figures._h6_columns, "composite_softmax", ["high score", "high score", "high norm", "low score", "high score"]),
])
def test_multiclass_captions_name_the_measured_sensitivity_type(columns, kind, types):
    """What the captions of Figures 4 and H.3-H.6 tell the reader to look for: the order of Δ_k
    (eq. C.6; h'(s_k) for the decomposed column) at s = (-3, 0, 3)."""
    cols = columns()
    assert len(cols) == len(types)
    kinds = [k for *_, k in figures._fig4_columns()] if kind is None else [kind] * len(cols)
    for (title, q), k, t in zip(cols, kinds, types):
        assert _order(figures.delta_k(q, k))[t], (title, figures.delta_k(q, k).tolist())


def test_parse_link_builds_the_constructors_link():
    q = figures.parse_link("exp:alpha=0.5,scale=0.5")
    z = torch.linspace(-3, 3, 7, dtype=F64)
    torch.testing.assert_close(q(z), 0.5 * torch.exp(0.5 * z))
    assert figures.parse_link("sigmoid: alpha=1.5, beta=4") == links.sigmoid(alpha=1.5, beta=4.0)
    for bad, match in (("bogus", "unknown link"), ("sigmoid:gamma=1", "takes"), ("sigmoid:alpha=x", "number"),
                       ("sigmoid:alpha", "key=value"), ("sigmoid:alpha=-1", "alpha")):
        with pytest.raises(ValueError, match=match):
            figures.parse_link(bad)


# ------------------------------------------------------------------ the command


def test_cli_list_prints_every_id(capsys):
    assert cli.main(["figure", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split("\t")[0] for line in out.splitlines()] == EXPECTED_IDS


def test_cli_writes_png_markdown_and_json(tmp_path, capsys):
    assert cli.main(["figure", "000:E.1", "--quick", "--out", str(tmp_path)]) == 0
    d = tmp_path / "figure"
    meta = json.loads((d / "000_E.1.json").read_text())
    assert meta["figure"] == "000:E.1" and meta["panels"] == 3 and meta["caption"] == figures.FIGURES["000:E.1"].caption
    assert (d / "000_E.1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (d / "000_E.1.md").read_text()
    assert "![000:E.1](000_E.1.png)" in md and figures.FIGURES["000:E.1"].caption in md


def test_cli_draws_a_figure_for_a_users_link(tmp_path, capsys):
    assert cli.main(["figure", "000:1", "--link", "exp:alpha=0.5", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "figure" / "000_1.json").read_text())
    assert meta["link"] == "exp:alpha=0.5" and "--link exp:alpha=0.5" in meta["command"]


@pytest.mark.parametrize("argv,needle", [
    (["figure", "000:9"], "000:H.6"),                       # unknown id: lists the valid ones
    (["figure"], "--list"),                                 # no id
    (["figure", "000:E.1", "--link", "sigmoid"], "--link"),   # a figure that takes no link
    (["figure", "000:3", "--link", "sigmoid"], "--link"),     # takes --scaling, not --link
    (["figure", "000:2", "--link", "sin:cap=3"], "--link"),   # not non-decreasing
    (["figure", "000:3", "--scaling", "cosh:alpha=2"], "--scaling"),  # non-convex composite Sigmoid loss
    (["figure", "--all", "--link", "sigmoid"], "--link"),
])
def test_cli_mistakes_are_one_error_line(argv, needle, tmp_path, capsys):
    try:
        rc = cli.main([*argv, "--out", str(tmp_path / "out")])
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("losslab figure: error: ") and needle in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_all_draws_every_figure(tmp_path, capsys):
    assert cli.main(["figure", "--all", "--out", str(tmp_path), "--no-progress"]) == 0
    for key in EXPECTED_IDS:
        stem = key.replace(":", "_")
        assert (tmp_path / "figure" / f"{stem}.png").is_file()
        assert json.loads((tmp_path / "figure" / f"{stem}.json").read_text())["panels"] == PAPER_PANELS[key]


def _at(x, y, v):
    i = int(torch.argmin((x - v).abs()))
    assert abs(float(x[i]) - v) < 1e-9, v
    return float(y[i])


def test_figure_2_high_score_column_shows_what_its_caption_says():
    """Section 2: a right-shifted sigmoid penalises over-estimating s = 3 more than under-estimating it,
    and over-estimating a low score far more than under-estimating it."""
    bottom = _panels(_fig("000:2"))[5]  # second row, high-score column
    x, y3 = _line(bottom, "loss:s=3")
    assert _at(x, y3, 6.0) > 2 * _at(x, y3, 0.0)
    x, ylo = _line(bottom, "loss:s=-3")
    assert _at(x, ylo, 3.0) > 10 * _at(x, ylo, -6.0)


def test_figure_E1_shows_what_its_caption_says():
    axes = _panels(_fig("000:E.1"))
    x, y = _line(axes[0], "loss:s=-3")  # weighted by s: symmetric around s = -3 ...
    assert _at(x, y, -2.5) == pytest.approx(_at(x, y, -3.5))
    assert _at(x, y, 0.0) == pytest.approx(0.5 * (-3 + 3.5) * 9)
    x3, y3 = _line(axes[0], "loss:s=3")  # ... and over-estimating -3 by 3 is far cheaper than under-estimating 3 by 3
    assert _at(x3, y3, 0.0) > 10 * _at(x, y, 0.0)
    x, y = _line(axes[1], "loss:s=3")  # weighted by ŝ: concave on the left of s = 3 (not convex)
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    assert float(d2[x[1:-1] < 0.0].max()) < 0
