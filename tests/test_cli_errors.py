"""A user's mistake on the command line is one ``losslab VERB: error: ...`` line on
stderr naming the option and the value, a non-zero exit, no traceback, and no work
done (no report folder created).

The table below holds, for every option of every subcommand, bad values; a
completeness test checks that no option of any parser is missing from it.
Data files (``--data`` of ``slc`` and ``rank``) are written malformed into
``tmp_path``: empty, garbage bytes, wrong shapes, truncated IDX, bad SVMlight lines.
"""
from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from losslab import cli

# ---------------------------------------------------------------- malformed files


def _idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(">u1").tobytes()


def _idx_dir(tmp: Path, *, truncate: str | None = None, drop: str | None = None, gz: bool = False) -> Path:
    d = tmp / "mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 255, (30, 4, 4)),
        "train-labels-idx1-ubyte": np.arange(30) % 3,
        "t10k-images-idx3-ubyte": rng.integers(0, 255, (12, 4, 4)),
        "t10k-labels-idx1-ubyte": np.arange(12) % 3,
    }
    for name, arr in arrays.items():
        if name == drop:
            continue
        raw = _idx_bytes(arr)
        if name == truncate:
            raw = raw[: len(raw) // 2]
        if gz:
            (d / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (d / name).write_bytes(raw)
    return d


def _npz(tmp: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp / name
    np.savez(path, **arrays)
    return path


def _cifar_dir(tmp: Path, names, *, label_bytes: int = 1, cut: int = 0) -> Path:
    """CIFAR-style binary batches of 3 records each; ``cut`` bytes removed from each file."""
    d = tmp / "cifar"
    d.mkdir(exist_ok=True)
    for name in names:
        (d / name).write_bytes(bytes(3 * (label_bytes + 3072) - cut))
    return d


def _write(tmp: Path, name: str, content: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


_rng = np.random.default_rng(1)
DATA_FILES = {
    # slc --data
    "missing": lambda t: t / "no-such-dir",
    "idx-dir-empty": lambda t: (t / "empty").mkdir() or t / "empty",
    "idx-missing-file": lambda t: _idx_dir(t, drop="t10k-labels-idx1-ubyte"),
    "idx-truncated": lambda t: _idx_dir(t, truncate="t10k-images-idx3-ubyte"),
    "idx-truncated-gz": lambda t: _idx_dir(t, truncate="train-labels-idx1-ubyte", gz=True),
    "idx-garbage": lambda t: (_idx_dir(t) / "train-images-idx3-ubyte").write_bytes(os.urandom(64)) and t / "mnist",
    "npz-empty": lambda t: _write(t, "empty.npz", b""),
    "npz-garbage": lambda t: _write(t, "garbage.npz", bytes(range(256)) * 3),
    "npz-missing-key": lambda t: _npz(t, x_train=np.zeros((4, 2)), y_train=np.arange(4) % 2),
    "npz-1d-x": lambda t: _npz(t, x_train=np.zeros(10), y_train=np.zeros(10), x_test=np.zeros(4), y_test=np.zeros(4)),
    "npz-ragged-y": lambda t: _npz(t, x_train=np.zeros((10, 3)), y_train=np.zeros(7), x_test=np.zeros((4, 3)),
                                   y_test=np.zeros(4)),
    "npz-no-features": lambda t: _npz(t, x_train=np.zeros((10, 0)), y_train=np.arange(10) % 2,
                                      x_test=np.zeros((4, 0)), y_test=np.arange(4) % 2),
    "npz-float-labels": lambda t: _npz(t, x_train=_rng.random((10, 3)), y_train=np.full(10, 0.5),
                                       x_test=_rng.random((4, 3)), y_test=np.zeros(4)),
    "npz-huge-label": lambda t: _npz(t, x_train=_rng.random((10, 3)), y_train=np.full(10, 10**12),
                                     x_test=_rng.random((4, 3)), y_test=np.arange(4) % 2),
    "npz-nan": lambda t: _npz(t, x_train=np.full((10, 3), np.nan), y_train=np.arange(10) % 2,
                              x_test=_rng.random((4, 3)), y_test=np.arange(4) % 2),
    "npz-two-examples": lambda t: _npz(t, x_train=_rng.random((2, 3)), y_train=np.array([0, 1]),
                                       x_test=_rng.random((2, 3)), y_test=np.array([0, 1])),
    "csv": lambda t: _write(t, "data.csv", "1,2,3\n"),
    "ok-npz-flat": lambda t: _npz(t, x_train=_rng.random((20, 3)), y_train=np.arange(20) % 2,
                                  x_test=_rng.random((4, 3)), y_test=np.arange(4) % 2),
    "cifar10-truncated": lambda t: _cifar_dir(t, ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                  "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"], cut=7),
    "cifar10-incomplete": lambda t: _cifar_dir(t, ["data_batch_1.bin", "test_batch.bin"]),
    "cifar100-as-cifar10": lambda t: _cifar_dir(t, ["train.bin", "test.bin"], label_bytes=1),
    "svhn-not-mat": lambda t: (_cifar_dir(t, []) / "train_32x32.mat").write_bytes(b"not a mat file" * 10)
    or (t / "cifar" / "test_32x32.mat").write_bytes(b"x") or t / "cifar",
    # rank --data
    "svm-empty": lambda t: _write(t, "empty.txt", b""),
    "svm-garbage": lambda t: _write(t, "garbage.txt", bytes(range(1, 256)) * 2),
    "svm-bad-line": lambda t: _write(t, "bad.txt", "1 qid:1 1:0.5\nthis is not svmlight\n"),
    "svm-no-qid": lambda t: _write(t, "noqid.txt", "1 1:0.5\n0 1:0.2\n"),
    "svm-one-query": lambda t: _write(t, "oneq.txt", "1 qid:1 1:0.5\n0 qid:1 1:0.2\n"),
    "svm-nan": lambda t: _write(t, "nan.txt", "1 qid:1 1:nan\n0 qid:2 1:0.2\n"),
    "svm-negative-grade": lambda t: _write(t, "neg.txt", "-1 qid:1 1:0.5\n0 qid:2 1:0.2\n"),
    "svm-huge-grade": lambda t: _write(t, "big.txt", "300 qid:1 1:0.5\n0 qid:2 1:0.2\n"),
    "svm-directory": lambda t: (t / "adir").mkdir() or t / "adir",
}

def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ------------------------------------------------------------------- the table
# (verb, option, bad value or a DATA_FILES key prefixed "file:", extra arguments)

COUNT = ["0", "-3", "2.5", "abc", ""]
FLOAT_POS = ["0", "-0.1", "nan", "inf", "x"]

CASES: list[tuple[str, str, str | None, tuple[str, ...]]] = []


def _add(verb, option, values, *extra):
    for v in values:
        CASES.append((verb, option, v, tuple(extra)))


# demo
_add("demo", "--epochs", COUNT)
_add("demo", "--seed", ["-1", "x"])
# list
_add("list", "--family", ["nonsense", ""])
# plot
_add("plot", "--dpi", ["0", "10000", "x"])
_add("plot", "--only", ["nothing.png", "scalar_overview.png,,", ""])
# distill
_add("distill", "--losses", ["bogus", "kl,,mse", ""])
_add("distill", "--classes", ["9", "0", "x"])
_add("distill", "--features", COUNT)
_add("distill", "--train", ["1", "0", "x"])
_add("distill", "--teacher-scale", FLOAT_POS)
_add("distill", "--steps", COUNT)
_add("distill", "--lrs", ["0", "0.1,-1", "nan", ""])
_add("distill", "--seeds", ["1", "0", "x"])
# slc
_add("slc", "--data", [f"file:{k}" for k in DATA_FILES if not k.startswith(("svm-", "ok-")) or k == "svm-empty"])
_add("slc", "--objectives", ["bogus", "cross_entropy,bogus", "", ","])
_add("slc", "--epochs", COUNT)
_add("slc", "--hidden", ["0", "16,-1", "16,x", ""])
_add("slc", "--batch-size", ["1", "0", "x"])
_add("slc", "--net", ["resnet", ""])
_add("slc", "--net", ["cnn"], "--data", "file:ok-npz-flat")  # flat rows are not images
_add("slc", "--conv-widths", ["8,8,8", "8,8,8,0", "8,x,8,8", ""])
_add("slc", "--lrs", ["0", "0.1,-1", "0.1,nan", "inf", "", "0.1,,0.01"])
_add("slc", "--momentum", ["-0.1", "1", "1.5", "nan"])
_add("slc", "--select", ["loss"])
_add("slc", "--seed", ["-1", "1.5"])
_add("slc", "--seeds", COUNT)
_add("slc", "--limit", ["0", "5", "x"])
_add("slc", "--limit", ["100"], "--data", "file:npz-two-examples")  # --limit is for digits only
# slc-speed
_add("slc-speed", "--log2-classes", ["-1", "25", "10,x", "", "10,,12", "nan"])
for opt in ("--in-features", "--width", "--depth", "--batch", "--repeats"):
    _add("slc-speed", opt, COUNT)
_add("slc-speed", "--device", ["tpu", "", "cuda:banana"] + ([] if _cuda_available() else ["cuda", "cuda:0"]))
# rank
_add("rank", "--data", [f"file:{k}" for k in DATA_FILES if k.startswith("svm-")] + ["file:missing"])
_add("rank", "--queries", ["1", "0", "x"])
for opt in ("--list-size", "--features", "--epochs", "--seeds"):
    _add("rank", opt, COUNT)
_add("rank", "--test-fraction", ["0", "1", "-0.5", "nan", "x"])
_add("rank", "--model", ["transformer"])
_add("rank", "--lr", FLOAT_POS)
_add("rank", "--losses", ["bogus", "listnet,bogus", "", "listnet,,ranknet"])
# softmax-family
_add("softmax-family", "--num-classes", ["1", "0", "x"])
for opt in ("--dim", "--train", "--test", "--epochs", "--batch-size"):
    _add("softmax-family", opt, COUNT)
_add("softmax-family", "--num-sampled", ["0", "x"])
_add("softmax-family", "--num-sampled", ["50"], "--num-classes", "50")  # S must lie below K
_add("softmax-family", "--lr", FLOAT_POS)
_add("softmax-family", "--zipf", ["-1", "nan", "inf"])
_add("softmax-family", "--noise", ["-1", "nan"])
_add("softmax-family", "--repeats", ["1", "0"])
_add("softmax-family", "--losses", ["bogus", "softmax (full),bogus", ""])
_add("softmax-family", "--seed", ["-2"])
# figure (the figure id comes first; a link or scaling the figure cannot use is refused)
_add("figure", "--link", ["bogus", "sigmoid:alpha=-1", "sigmoid:gamma=2", "sigmoid:alpha=x", ""], "000:2")
_add("figure", "--link", ["sigmoid"], "000:E.1")  # a figure that takes no link
_add("figure", "--link", ["sigmoid"], "000:3")  # a figure that takes a scaling
_add("figure", "--link", ["sin:cap=3"], "000:2")  # not non-decreasing
_add("figure", "--scaling", ["bogus", "exp:alpha=0", "exp:scale=nan"], "000:3")
_add("figure", "--scaling", ["cosh:alpha=2"], "000:3")  # a non-convex composite Sigmoid loss
_add("figure", "--scaling", ["exp"], "000:1")  # a figure that takes a link
_add("figure", "--list", ["yes"])
_add("figure", "--all", ["yes"])
_add("figure", "--quick", ["yes"])
# reproduce (the paper id comes first)
_add("reproduce", "--quick", ["yes"], "003")
# consistency
_add("consistency", "--distributions", COUNT)
_add("consistency", "--classes", ["3", "31", "x"])
_add("consistency", "--num-sampled", ["0", "x"])
_add("consistency", "--num-sampled", ["8"], "--classes", "8")  # S must lie below K
_add("consistency", "--seeds", COUNT)
_add("consistency", "--steps", COUNT)
# audit
_add("audit", "--kind", ["bogus", ""])
_add("audit", "--seed", ["-2", "x"])
# bench
_add("bench", "--family", ["nonsense", "", "ranking,bogus", "ranking,,rl"])
_add("bench", "--loss", ["bogus", "mse,bogus", ""])
_add("bench", "--size", ["abc", "0x5", "4096x", "1x2x3", "1.5e0", "-3", "", "tiny,,1e7"])
_add("bench", "--rounds", COUNT)
# shared options of every verb that has them
for verb in cli.COMMANDS:
    if verb != "list":
        _add(verb, "--threads", ["0", "-1", "x"])
        _add(verb, "--no-progress", ["=yes"])  # a flag given a value
    _add(verb, "--out", ["file:out-is-a-file", "file:out-under-a-file"])
DATA_FILES["out-is-a-file"] = lambda t: _write(t, "afile", "x")
DATA_FILES["out-under-a-file"] = lambda t: _write(t, "afile", "x") / "sub"

# options whose every value is fine, or that take no value: nothing to test
NO_BAD_VALUE = {("demo", "--no-gallery"), ("demo", "--no-speed"),
                ("audit", "--all"), ("audit", "--quick"), ("audit", "--no-plots"), ("distill", "--quick"),
                ("consistency", "--quick"), ("bench", "--compile")}


def _resolve(value: str, tmp_path: Path) -> str:
    return str(DATA_FILES[value[5:]](tmp_path)) if value.startswith("file:") else value


def _argv(verb, option, value, extra, tmp_path):
    """The command line; ``value`` already resolved, ``extra`` resolved here."""
    extra = [_resolve(e, tmp_path) for e in extra]
    out = [] if option == "--out" else ["--out", str(tmp_path / "out")]
    if option == "--no-progress":
        return [verb, f"--no-progress{value}", *extra, *out]
    return [verb, *extra, f"{option}={value}", *out]


def _run_main(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse's errors
        return e.code if isinstance(e.code, int) else 1


def _check_one_error_line(err: str, verb: str, option: str):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith(f"losslab {verb}: error: "), lines[0]
    assert option in lines[0], f"the error does not name {option}: {lines[0]}"
    return lines[0]


@pytest.mark.parametrize(("verb", "option", "value", "extra"), CASES,
                         ids=[f"{v}{o}={b}" + ("+" + "+".join(e) if e else "") for v, o, b, e in CASES])
def test_bad_option_is_one_error_line(verb, option, value, extra, tmp_path, capsys):
    shown = _resolve(value, tmp_path)
    argv = _argv(verb, option, shown, extra, tmp_path)
    rc = _run_main(argv)
    captured = capsys.readouterr()
    assert rc != 0, (argv, captured.out[-500:])
    line = _check_one_error_line(captured.err, verb, option)
    if option in ("--no-progress",):
        shown = shown.lstrip("=")
    if shown and option not in ("--family", "--model", "--select"):  # choices errors quote the value too
        assert shown in line, f"the error does not show the value {shown!r}: {line}"
    if option != "--out":  # checked before any work: no report folder
        assert not (tmp_path / "out").exists(), list((tmp_path / "out").rglob("*"))


def test_table_covers_every_option_of_every_command():
    seen = {(v, o) for v, o, _, _ in CASES}
    missing = []
    for verb in cli.COMMANDS:
        for action in cli.verb_parser(verb)._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help" and (verb, opt) not in seen | NO_BAD_VALUE:
                    missing.append((verb, opt))
    assert not missing, f"options without a bad-value case: {missing}"


@pytest.mark.parametrize("argv", [["bogus-verb"], ["slc", "--bogus"], ["rank", "--epochs"], ["slc", "extra"]])
def test_unknown_verb_option_or_missing_value(argv, capsys):
    assert _run_main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error: " in lines[0] and "Traceback" not in err, err


def test_every_choice_is_listed_in_help(capsys):
    """Names come from a known set that ``--help`` lists."""
    from losslab.experiments import rank, softmax_family
    from losslab.slc import SLC_OBJECTIVES

    for verb, names in (("rank", rank.LOSSES), ("softmax-family", softmax_family.LOSS_NAMES),
                        ("slc", SLC_OBJECTIVES)):
        with pytest.raises(SystemExit):
            cli.main([verb, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name in names:
            assert name in text, (verb, name)


def _subprocess(argv, tmp_path):
    src = str(Path(cli.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "losslab", *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


@pytest.mark.parametrize(("verb", "option", "value", "extra"), [
    ("slc", "--epochs", "0", ()),
    ("softmax-family", "--losses", "bogus", ()),
    ("rank", "--data", "file:svm-garbage", ()),
    ("slc", "--data", "file:idx-truncated", ()),
    ("slc-speed", "--device", "cuda", ()),
    ("bench", "--family", "nonsense", ()),
    ("bench", "--size", "abc", ()),
])
def test_bad_option_in_a_real_process(verb, option, value, extra, tmp_path):
    if option == "--device":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this build has CUDA")
    argv = _argv(verb, option, _resolve(value, tmp_path), extra, tmp_path)
    proc = _subprocess(argv, tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    _check_one_error_line(proc.stderr, verb, option)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("paper", ["002", "0", "bogus", ""])
def test_reproduce_unknown_paper_is_one_error_line_listing_the_valid_ones(paper, tmp_path, capsys):
    """``losslab reproduce PAPER``: an unknown paper id (or none) is one line naming the value and
    listing 000, 001, 003, exit 2, no report folder."""
    argv = ["reproduce", "--out", str(tmp_path / "out")] + ([paper] if paper else [])
    assert _run_main(argv) == 2
    line = _check_one_error_line(capsys.readouterr().err, "reproduce", "PAPER")
    assert "000, 001, 003" in line and (not paper or repr(paper) in line), line
    assert not (tmp_path / "out").exists()
