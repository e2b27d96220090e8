"""Smoke-sized runs of every command: one report layout, ``<out>/<command>/`` with JSON,
markdown and PNG; progress on stderr unless ``--no-progress``; without matplotlib the
JSON and markdown are still written and the skipped PNG is named on stderr."""
from __future__ import annotations

import json
import re
import sys

import pytest

from losslab import cli

# verb -> (tiniest arguments, expected files under <out>/<verb>/)
SMOKE = {
    "slc": (["--limit", "200", "--epochs", "1", "--hidden", "8", "--lrs", "0.1", "--batch-size", "16",
             "--objectives", "cross_entropy,nce"], ["slc.json", "slc.md", "slc.png"]),
    "slc-speed": (["--log2-classes", "2,6", "--in-features", "8", "--width", "8", "--depth", "1", "--batch", "4",
                   "--repeats", "2"], ["slc_speed.json", "slc_speed.md", "slc_speed.png"]),
    "rank": (["--queries", "12", "--list-size", "6", "--features", "4", "--epochs", "5", "--seeds", "2",
              "--losses", "listnet,ranknet"], ["rank.json", "rank.md", "rank.png"]),
    "softmax-family": (["--num-classes", "40", "--dim", "4", "--train", "200", "--test", "50", "--epochs", "2",
                        "--batch-size", "50", "--num-sampled", "8", "--repeats", "2",
                        "--losses", "softmax (full),sampled softmax (uniform)"],
                       ["softmax_family.json", "softmax_family.md", "softmax_family_training.png",
                        "softmax_family_bias_variance.png"]),
    "consistency": (["--quick", "--distributions", "6", "--seeds", "1", "--steps", "3"],
                    ["consistency.json", "consistency.md", "consistency.png", "consistency_convergence.png"]),
    "plot": (["--only", "scalar_low_norm.png", "--dpi", "30"], ["plot.json", "index.md", "scalar_low_norm.png"]),
    "audit": (["mse", "--quick"], ["mse.json", "mse.md", "mse.png"]),
    "demo": (["--epochs", "1", "--no-speed", "--no-gallery"],
             ["demo.json", "README.md", "slc.json", "slc.md", "figures/slc_table1.png",
              "cards/cross_entropy_soft_targets.md", "cards/cross_entropy_soft_targets.png",
              "cards/composite_softmax_loss.md", "cards/composite_softmax_loss.png",
              "cards/composite_softmax_loss.json"]),
}

@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """``--threads`` sets torch's process-wide thread count: restore it for the other tests."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


_PROGRESS = re.compile(r"\b\d+/\d+\b")  # tqdm's "3/10" and the plain "3/10 epochs" lines


def _run(verb, tmp_path, capsys, *extra):
    out = tmp_path / "out"
    args, files = SMOKE[verb]
    rc = cli.main([verb, *args, "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == [verb], "one folder per command under --out"
    return out / verb, files, captured


@pytest.mark.parametrize("verb", list(SMOKE))
def test_command_writes_its_report_folder_and_shows_progress(verb, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder, files, captured = _run(verb, tmp_path, capsys, "--threads", "1")
    for name in files:
        path = folder / name
        assert path.is_file() and path.stat().st_size > 0, path
        if path.suffix == ".json":
            json.loads(path.read_text())
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000, path
    for md in folder.glob("*.md"):  # every picture a markdown file links is in the folder
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text()):
            assert (folder / target).is_file(), (md, target)
    assert _PROGRESS.search(captured.err), f"no progress on stderr: {captured.err!r}"
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("verb", ["rank", "softmax-family", "slc-speed"])
def test_no_progress_is_silent(verb, tmp_path, capsys):
    folder, files, captured = _run(verb, tmp_path, capsys, "--no-progress")
    assert not _PROGRESS.search(captured.err), captured.err


def test_progress_without_tqdm_is_plain_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    _, _, captured = _run("rank", tmp_path, capsys)
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines and all(re.fullmatch(r"rank .*: \d+/\d+ epochs", line) for line in lines), lines
    assert lines[-1].endswith("20/20 epochs")  # 2 seeds x 2 losses x 5 epochs: the last update is always shown


@pytest.mark.parametrize("verb", ["rank", "slc-speed", "softmax-family"])
def test_without_matplotlib_json_and_markdown_are_still_written(verb, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    folder, files, captured = _run(verb, tmp_path, capsys, "--no-progress")
    for name in files:
        assert (folder / name).is_file() == (not name.endswith(".png")), name
        if name.endswith(".png"):
            assert f"skipped {folder / name}: matplotlib is not installed" in captured.err
    for md in folder.glob("*.md"):
        assert ".png" not in md.read_text()


def test_threads_sets_torch_threads(tmp_path, capsys):
    folder, _, _ = _run("slc-speed", tmp_path, capsys, "--threads", "1", "--no-progress")
    assert json.loads((folder / "slc_speed.json").read_text())["threads"] == 1


def test_list_prints_and_writes_only_with_out(tmp_path, capsys, monkeypatch):
    from losslab import registry

    monkeypatch.chdir(tmp_path)
    assert cli.main(["list", "--family", "ranking"]) == 0
    printed = capsys.readouterr().out
    assert all(spec.name in printed for spec in registry.specs("ranking"))
    assert not any(tmp_path.iterdir()), "list without --out writes nothing"
    assert cli.main(["list", "--out", "r"]) == 0
    table = json.loads((tmp_path / "r" / "list" / "list.json").read_text())
    assert set(table) == set(registry.families())
    assert (tmp_path / "r" / "list" / "list.md").read_text().startswith("# Registered losses")
