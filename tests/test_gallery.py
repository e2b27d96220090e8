"""Smoke test of the selective-loss gallery (``losslab plot``) and of ``losslab.plots``.

Writes the whole gallery once, then checks the PNGs (exist, decode, sizable) and
the plotted data: every loss curve is >= 0 and 0 at ŝ = s (Bregman divergences,
seed 000 eq. 2, 28, 29), read back from the Figures' line data.
"""
from __future__ import annotations

import math

import pytest

pytest.importorskip("matplotlib")

from losslab import links, plots  # noqa: E402
from losslab.experiments import gallery  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    figures: dict = {}
    paths = gallery.write_gallery(out, dpi=60, figures=figures)
    return out, paths, figures


def _loss_lines(fig):
    return [line for ax in fig.axes for line in ax.lines if (line.get_gid() or "").startswith("loss:")]


def test_gallery_writes_nontrivial_pngs(written):
    from matplotlib.image import imread

    out, paths, _ = written
    pngs = [p for p in paths if p.suffix == ".png"]
    assert [p.name for p in pngs] == [e.filename for e in gallery.GALLERY]
    assert len(pngs) >= 8
    for p in pngs:
        assert p.parent == out and p.stat().st_size > 10_000, p
        img = imread(p)
        assert img.ndim == 3 and img.shape[0] >= 150 and img.shape[1] >= 300, (p, img.shape)
        assert img[..., :3].std() > 0.05, f"{p} looks blank"
    index = (out / "index.md").read_text(encoding="utf-8")
    for p in pngs:
        assert f"]({p.name})" in index


def test_every_plotted_loss_is_nonnegative_and_zero_at_target(written):
    _, _, figures = written
    checked = 0
    for name, fig in figures.items():
        for line in _loss_lines(fig):
            s = float(line.get_gid().rsplit("s=", 1)[1])
            x, y = line.get_xdata(), line.get_ydata()
            assert len(x) > 100
            assert all(math.isfinite(v) for v in y), (name, line.get_gid())
            assert min(y) >= -1e-9, (name, line.get_gid(), min(y))
            i = min(range(len(x)), key=lambda j: abs(x[j] - s))
            assert x[i] == pytest.approx(s, abs=1e-12)
            assert abs(y[i]) <= 1e-9, (name, line.get_gid(), y[i])
            # ... and it is the curve's minimum
            assert y[i] <= min(y) + 1e-9
            checked += 1
    # 3 curves per scalar loss panel and per projection panel
    assert checked >= 3 * (4 + 4 + 4 + 4 + 3 + 4 + 4 + 4)


def test_every_sensitivity_type_is_drawn_scalar_and_multiclass(written):
    _, _, figures = written
    titles = " ".join(ax.get_title() for fig in figures.values() for ax in fig.axes).lower()
    for kind in ("low norm", "high score", "low score", "high norm"):
        assert kind in titles
    multi = figures["multiclass_overview.png"]
    gids = {line.get_gid() for line in _loss_lines(multi)}
    assert {"loss:decomposed:s=0", "loss:composite_softmax:s=3"} <= gids


def test_link_panel_draws_the_link_and_its_derivative():
    h = links.sigmoid(alpha=2.0, beta=1.0)
    fig = plots.plot_link(h)
    lines = {line.get_gid(): line for line in fig.axes[0].lines}
    import torch

    z = torch.tensor(lines["link"].get_xdata())
    assert torch.allclose(torch.tensor(lines["link"].get_ydata()), h(z))
    assert torch.allclose(torch.tensor(lines["sensitivity"].get_ydata()), h.derivative(z))


def test_cli_plot_arguments_default_to_report():
    from pathlib import Path

    from losslab.cli import verb_parser

    parser = verb_parser("plot")  # files go to <out>/plot/, as for every command
    assert parser.parse_args([]).out == Path("report")
    assert parser.parse_args(["--out", "x"]).out == Path("x")


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind"):
        plots.plot_losses(links.sigmoid(), kind="bogus")


def _guide_blocks():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "designing-a-selective-loss.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_guide_code_blocks_run(tmp_path, monkeypatch):
    # A reader runs the guide top to bottom: one namespace for all its blocks.
    monkeypatch.chdir(tmp_path)
    blocks = _guide_blocks()
    assert len(blocks) >= 4
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "designing-a-selective-loss.md", "exec"), namespace)
    assert (tmp_path / "report" / "design" / "panel.png").stat().st_size > 10_000


def _column_curves(fig, s):
    """Per column, left to right: (top-row title, the loss curve for observed s as (x, y))."""
    link_axes = sorted((ax for ax in fig.axes if any(line.get_gid() == "link" for line in ax.lines)),
                       key=lambda ax: ax.get_position().x0)
    out = []
    for top in link_axes:
        x0 = top.get_position().x0
        below = [ax for ax in fig.axes if abs(ax.get_position().x0 - x0) < 1e-6 and ax is not top]
        curves = [line for ax in below for line in ax.lines if line.get_gid() == f"loss:matching:s={s:g}"]
        assert len(curves) == 1, top.get_title()
        out.append((top.get_title(), curves[0].get_xdata(), curves[0].get_ydata()))
    return out


def _at(x, y, v):
    i = min(range(len(x)), key=lambda j: abs(x[j] - v))
    assert x[i] == pytest.approx(v, abs=0.03)
    return y[i]


@pytest.mark.parametrize(
    "filename,column,s,sign",
    [
        ("scalar_high_score.png", None, 3.0, +1),
        ("scalar_overview.png", "high score", 3.0, +1),
        ("scalar_low_score.png", None, -3.0, -1),
        ("scalar_overview.png", "low score", -3.0, -1),
    ],
)
def test_gallery_high_score_designs_penalise_over_estimation_of_s3_more(filename, column, s, sign):
    # Seed 000, Section 2: a high-score link is "steep on both sides of high observed scores,
    # penalizing overestimation higher than underestimation" (low score: the mirror image).
    # Read from the drawn curves: loss(s + sign·δ) > loss(s − sign·δ) for δ = 1, 2, 3 (the SmeLU
    # is linear within 0.5 of s, where its loss is symmetric, so δ starts past that).
    entry = next(e for e in gallery.GALLERY if e.filename == filename)
    fig = entry.make()
    cols = [c for c in _column_curves(fig, s) if column is None or c[0].startswith(column)]
    assert cols and (column is None or len(cols) == 1)
    for title, x, y in cols:
        for delta in (1.0, 2.0, 3.0):
            away, back = _at(x, y, s + sign * delta), _at(x, y, s - sign * delta)
            assert away > back > 0, (filename, title, delta, away, back)


def test_gallery_high_score_sigmoid_and_smelu_put_s3_on_the_convex_side():
    # The same property from the links themselves: h convex (h' increasing) around s = 3,
    # which is what makes over-estimation cost more (the loss is the area between h and h(s)).
    import torch

    import losslab as ll

    for title, h in gallery._high_score_links():
        s = torch.full((3,), 3.0, dtype=torch.float64)
        d = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        over = ll.matching_loss(s + d, s, h, reduction="none")
        under = ll.matching_loss(s - d, s, h, reduction="none")
        assert (over > under).all(), (title, over.tolist(), under.tolist())
