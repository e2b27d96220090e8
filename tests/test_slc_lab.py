"""Single-logit classification lab (seed 001): SingleLogitHead, data loaders, the
slc / slc-speed / demo experiments at smoke size."""
from __future__ import annotations

import gzip
import json
import math
import struct

import numpy as np
import pytest
import torch
from torch import nn

import losslab as ll
from losslab import data, slc
from losslab.experiments import slc as slc_exp


# ----------------------------------------------------------------- PoLS / objectives


def test_pols_classification_matches_the_seed():
    # seed 001, Sects. 3 (not aligned), 4 and 5 (aligned): eleven objectives, disjoint
    assert set(slc.POLS_ALIGNED) == {"self_normalization", "nce", "binary_cross_entropy", "sigmoid_tanimoto",
                                     "batch_cross_entropy", "batch_max_margin"}
    assert set(slc.POLS_NOT_ALIGNED) == {"cross_entropy", "max_margin", "softmax_cauchy_schwarz",
                                         "sigmoid_cauchy_schwarz", "softmax_tanimoto"}
    assert len(set(slc.SLC_OBJECTIVES)) == 11
    assert set(slc.TABLE1_OBJECTIVES) <= set(slc.SLC_OBJECTIVES) and len(slc.TABLE1_OBJECTIVES) == 7
    assert [slc.is_pols_aligned(n) for n in slc.TABLE1_OBJECTIVES] == [False, False, True, True, True, True, True]
    with pytest.raises(ValueError, match="softmax"):
        slc.is_pols_aligned("softmax")


def test_resolve_objective_returns_the_library_loss():
    fn = slc.resolve_objective("cross_entropy")
    assert fn is ll.cross_entropy and slc.resolve_objective("batch_max_margin") is ll.batch_max_margin
    z, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    torch.testing.assert_close(fn(z, y), nn.functional.cross_entropy(z, y))
    with pytest.raises(ValueError, match="bogus"):
        slc.resolve_objective("bogus")


def test_mean_relative_improvement_matches_the_papers_mnist_row():
    # Table 1, MNIST, 1-AUPRC: non-aligned CE 0.008, max-margin 0.012; aligned 0.002,0.002,0.002,0.001,0.002
    imp = slc.mean_relative_improvement([0.002, 0.002, 0.002, 0.001, 0.002], [0.008, 0.012])
    assert imp == pytest.approx(0.82, abs=1e-9)  # the paper prints 82.0%
    assert math.isnan(slc.mean_relative_improvement([], [0.1]))
    assert slc.mean_relative_improvement([0.2], [0.1]) == pytest.approx(-1.0)


# -------------------------------------------------------------------- SingleLogitHead


def test_single_logit_head_equals_full_head_columns():
    torch.manual_seed(0)
    lin = nn.Linear(16, 300).double()
    head = slc.SingleLogitHead(lin)
    x = torch.randn(2, 7, 16, dtype=torch.float64)  # leading batch dims
    full = head(x)
    torch.testing.assert_close(full, lin(x))
    for c in (0, 17, 299):
        got = head(x, classes=c)
        assert got.shape == (2, 7)
        torch.testing.assert_close(got, full[..., c], rtol=0, atol=1e-12)
    cs = [5, 5, 250]
    torch.testing.assert_close(head(x, classes=cs), full[..., cs], rtol=0, atol=1e-12)
    torch.testing.assert_close(head(x, classes=torch.tensor(cs)), full[..., cs], rtol=0, atol=1e-12)
    xb = torch.randn(9, 16, dtype=torch.float64)
    labels = torch.randint(0, 300, (9,))
    torch.testing.assert_close(head.per_example(xb, labels), head(xb).gather(1, labels[:, None])[:, 0],
                               rtol=0, atol=1e-12)


def test_single_logit_head_gradient_reaches_only_the_queried_row():
    head = slc.SingleLogitHead(4, 6, bias=False)
    head(torch.randn(3, 4), classes=2).sum().backward()
    g = head.linear.weight.grad
    assert g[2].abs().sum() > 0 and g[[0, 1, 3, 4, 5]].abs().sum() == 0


def test_single_logit_head_rejects_bad_arguments():
    head = slc.SingleLogitHead(4, 6)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        head(torch.randn(2, 4), classes=6)
    with pytest.raises(ValueError, match="classes"):
        head(torch.randn(2, 4), classes=[[0, 1]])
    with pytest.raises(ValueError, match="out_features"):
        slc.SingleLogitHead(nn.Linear(4, 6), 7)
    with pytest.raises(TypeError, match="str"):
        slc.SingleLogitHead("4", 6)
    with pytest.raises(ValueError, match="num_classes"):
        slc.SingleLogitHead(4)
    with pytest.raises(ValueError, match="shape"):
        head.per_example(torch.randn(2, 4), torch.tensor([0, 1, 2]))


# ------------------------------------------------------------------------------ data


def _write_idx(path, array: np.ndarray, compress: bool):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _tiny_mnist(rng, n_train=30, n_test=12):
    x_tr = rng.integers(0, 256, size=(n_train, 4, 4), dtype=np.uint8)
    y_tr = (np.arange(n_train) % 3).astype(np.uint8)
    x_te = rng.integers(0, 256, size=(n_test, 4, 4), dtype=np.uint8)
    y_te = (np.arange(n_test) % 3).astype(np.uint8)
    return x_tr, y_tr, x_te, y_te


@pytest.mark.parametrize("compress", [False, True])
def test_idx_directory_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    x_tr, y_tr, x_te, y_te = _tiny_mnist(rng)
    for key, arr in zip(("x_train", "y_train", "x_test", "y_test"), (x_tr, y_tr, x_te, y_te)):
        _write_idx(tmp_path / data.MNIST_FILES[key], arr, compress)
    np.testing.assert_array_equal(data.read_idx(next(tmp_path.glob("train-images*"))), x_tr)
    split = data.load_path(tmp_path, seed=0, val_fraction=0.2)
    assert split.num_classes == 3 and split.num_features == 16
    assert len(split.y_train) == 24 and len(split.y_val) == 6
    torch.testing.assert_close(split.x_test, torch.from_numpy(x_te.reshape(12, 16).astype(np.float32)) / x_tr.max())
    torch.testing.assert_close(split.y_test, torch.from_numpy(y_te.astype(np.int64)))
    # train + val is a permutation of the training file
    both = torch.cat([split.x_train, split.x_val]) * float(x_tr.max())
    assert sorted(map(tuple, both.round().int().tolist())) == sorted(map(tuple, x_tr.reshape(30, 16).tolist()))
    again = data.load_path(tmp_path, seed=0, val_fraction=0.2)
    torch.testing.assert_close(again.x_val, split.x_val)  # fixed seed


def test_npz_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    x_tr, y_tr, x_te, y_te = _tiny_mnist(rng)
    good = tmp_path / "mnist.npz"
    np.savez(good, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    split = data.load_path(good, seed=3)
    assert (split.num_classes, split.num_features, len(split.y_test)) == (3, 16, 12)
    assert float(split.x_train.max()) <= 1.0

    with pytest.raises(FileNotFoundError, match="no such file"):
        data.load_path(tmp_path / "nope")
    bad_keys = tmp_path / "bad.npz"
    np.savez(bad_keys, x_train=x_tr, y_train=y_tr)
    with pytest.raises(data.DataError, match="lacks x_test, y_test"):
        data.load_path(bad_keys)
    not_zip = tmp_path / "junk.npz"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(data.DataError, match="cannot read the .npz"):
        data.load_path(not_zip)
    wrong_len = tmp_path / "wrong.npz"
    np.savez(wrong_len, x_train=x_tr, y_train=y_tr[:-1], x_test=x_te, y_test=y_te)
    with pytest.raises(data.DataError, match="one label per row"):
        data.load_path(wrong_len)
    txt = tmp_path / "data.csv"
    txt.write_text("1,2\n")
    with pytest.raises(data.DataError, match="directory of IDX files or an .npz"):
        data.load_path(txt)


def test_idx_errors_name_the_problem(tmp_path):
    with pytest.raises(data.DataError, match="missing train-images-idx3-ubyte"):
        data.load_path(tmp_path)  # empty directory
    p = tmp_path / "x.idx"
    p.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(data.DataError, match="bad magic"):
        data.read_idx(p)
    p.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"abc")
    with pytest.raises(data.DataError, match=r"header says shape \(5,\)"):
        data.read_idx(p)
    p.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(data.DataError, match="type code 0x07"):
        data.read_idx(p)
    g = tmp_path / "y.gz"
    g.write_bytes(b"not gzip at all")
    with pytest.raises(data.DataError, match="cannot read IDX file"):
        data.read_idx(g)


def test_digits_split_is_fixed_and_disjoint():
    a, b = data.load_digits(seed=0), data.load_digits(seed=0)
    torch.testing.assert_close(a.x_val, b.x_val)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (989, 359, 449)
    rows = [tuple(r) for r in torch.cat([a.x_train, a.x_val, a.x_test]).tolist()]
    from sklearn.datasets import load_digits

    assert sorted(rows) == sorted(tuple(r) for r in (load_digits().data / 16.0).astype(np.float32).tolist())
    assert float(a.x_train.max()) == 1.0 and a.y_train.dtype == torch.int64
    c = data.load_digits(seed=1)
    assert not torch.equal(c.y_test, a.y_test)


def test_cli_reports_a_bad_data_path(tmp_path, capsys):
    from losslab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["slc", "--data", str(tmp_path / "missing"), "--epochs", "1", "--no-progress"])
    assert exc.value.code == 2 and "no such file or directory" in capsys.readouterr().err


# ------------------------------------------------------------------- experiments


def test_slc_measures_agree_with_a_hand_count():
    # class 0 scores: positives at 0.9, 0.8, 0.1; negatives at 0.7, 0.2 -> AP = (1 + 1 + 3/5) / 3
    scores = torch.tensor([[0.9, 0.0], [0.8, 0.0], [0.1, 0.0], [0.7, 1.0], [0.2, 1.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    m = slc_exp.slc_measures(scores, labels)
    assert m["per_class"]["1-AUPRC"][0] == pytest.approx(1 - (1 + 1 + 0.6) / 3)
    assert m["per_class"]["1-P@0.9"][0] == pytest.approx(1 - 0.6)  # recall 1 needs the threshold 0.1
    assert m["per_class"]["1-AUPRC"][1] == pytest.approx(0.0)


def test_slc_smoke_every_objective_trains_without_nan(tmp_path):
    split = data.load_digits(seed=0, limit=240)
    cfg = slc_exp.SLCConfig(hidden=(16,), epochs=1, batch_size=16, lrs=(1.0, 0.1), objectives=slc.SLC_OBJECTIVES)
    res = slc_exp.run_experiment(split, cfg, progress=False)
    trained = [r["objective"] for r in res["table1"]]
    assert trained == list(slc.SLC_OBJECTIVES)
    for row in res["table1"]:
        for run in row["sweep"]:  # no objective may produce a NaN at these learning rates
            assert not run["diverged"], (row["objective"], run)
            assert math.isfinite(run["final_train_loss"])
        for m in slc_exp.MEASURES:
            assert 0.0 <= row["test"][m] <= 1.0
    assert [r["method"] for r in res["table2"]][-1] == "CE with all logits (softmax)"
    paths = slc_exp.write_outputs(res, tmp_path)
    assert json.loads(paths[0].read_text())["experiment"] == "slc"
    assert "Table 1" in paths[1].read_text()


def test_slc_selects_the_best_validation_accuracy():
    split = data.load_digits(seed=0, limit=200)
    cfg = slc_exp.SLCConfig(hidden=(8,), epochs=1, batch_size=20, lrs=(0.5, 1e-6), objectives=("cross_entropy",))
    row = slc_exp.run_experiment(split, cfg, progress=False)["table1"][0]
    accs = {s["lr"]: s["val_accuracy"] for s in row["sweep"]}
    assert row["best_lr"] == max(accs, key=accs.get) and row["val_accuracy"] == max(accs.values())


def test_slc_speed_smoke():
    from losslab.experiments import slc_speed

    res = slc_speed.measure((2, 6), in_features=8, width=8, depth=1, batch=4, repeats=2, progress=False)
    assert [r["classes"] for r in res["rows"]] == [4, 64]
    for r in res["rows"]:
        assert r["max_abs_diff"] < 1e-5 and r["speedup"] > 0
    assert "×" in slc_speed.markdown(res)


def test_demo_smoke_writes_a_self_contained_report(tmp_path, capsys):
    from losslab.experiments import demo

    cfg = slc_exp.SLCConfig(hidden=(8,), epochs=1, batch_size=16, lrs=(0.1,))
    out = demo.run_demo(tmp_path / "report", slc_config=cfg, digits_limit=200, speed_log2k=(4,), speed_width=8,
                        speed_repeats=1, gallery=True,
                        gallery_only=["scalar_overview.png"], progress=False)
    text = out["report"].read_text()
    assert "Single-logit classification" in text and "SLC speed-up" in text
    for line in text.splitlines():  # every image the report links exists under the report directory
        if line.startswith("!["):
            target = line[line.index("(") + 1 : line.rindex(")")]
            assert (tmp_path / "report" / target).is_file(), target
    assert (tmp_path / "report" / "figures" / "slc_table1.png").stat().st_size > 1000
    assert "== 3/4 selective-loss gallery" in capsys.readouterr().out
    # section 4: the two loss cards, one comparison table, both pictures side by side
    assert "## 4. Loss cards" in text and text.count("| `") >= 2
    names = [c["card"].name for c in out["cards"]]
    assert names == ["cross_entropy_soft_targets", "composite_softmax_loss"]
    for name in names:
        assert (tmp_path / "report" / "cards" / f"{name}.md").read_text().startswith(f"# Loss card: `{name}`")
        assert f"![{name}](cards/{name}.png)" in text
    ce, cs = (c["card"].verdicts for c in out["cards"])
    assert (ce["shift_invariant"], cs["shift_invariant"]) == ("holds", "fails")
    assert (ce["region_sensitive"], cs["region_sensitive"]) == ("fails", "holds")


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_equals_torch_optim_sgd(momentum):
    torch.manual_seed(3)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    opt = torch.optim.SGD(b.parameters(), lr=0.1, momentum=momentum)
    params, velocity = list(a.parameters()), [None, None]
    for step in range(3):
        x = torch.randn(5, 4, generator=torch.Generator().manual_seed(step))
        slc_exp._sgd_step(params, torch.autograd.grad(a(x).square().sum(), params), velocity, 0.1, momentum)
        opt.zero_grad()
        b(x).square().sum().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
