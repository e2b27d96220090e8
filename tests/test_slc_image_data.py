"""Seed 001's image datasets in their publishers' formats (CIFAR-10/100 binary, SVHN
.mat), written here in those formats, and the paper's convolutional network."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from losslab import data
from losslab.experiments import slc as slc_exp

scipy_io = pytest.importorskip("scipy.io")


def _images(rng, n):
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def _write_cifar(path, images, labels, coarse=None):
    """CIFAR's binary record: [coarse label,] label, then the R, G and B planes row-major."""
    rows = [images.reshape(len(images), -1)]
    rows.insert(0, labels.astype(np.uint8)[:, None])
    if coarse is not None:
        rows.insert(0, coarse.astype(np.uint8)[:, None])
    np.concatenate(rows, axis=1).tofile(path)


def _cifar10_dir(tmp_path, rng, per_batch=6):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    written = []
    for name in data.CIFAR10_FILES:
        x, y = _images(rng, per_batch), rng.integers(0, 10, per_batch)
        _write_cifar(d / name, x, y)
        written.append((x, y))
    return d, written


def _as_image(split_x, split):
    return split_x.view(-1, *split.image_shape)


def test_read_cifar_bin_decodes_channel_major_planes(tmp_path):
    rng = np.random.default_rng(0)
    x, y = _images(rng, 4), np.array([3, 0, 9, 5])
    _write_cifar(tmp_path / "b.bin", x, y)
    got_x, got_y = data.read_cifar_bin(tmp_path / "b.bin")
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    # a single pixel: record 2, green plane, row 5, column 7 sits at byte 1 + 1024 + 5*32 + 7
    raw = np.fromfile(tmp_path / "b.bin", dtype=np.uint8).reshape(4, 3073)
    assert got_x[2, 1, 5, 7] == raw[2, 1 + 1024 + 5 * 32 + 7]


def test_cifar10_directory_loads_all_batches_and_keeps_the_test_batch(tmp_path):
    rng = np.random.default_rng(1)
    d, written = _cifar10_dir(tmp_path, rng)
    split = data.load_path(d, seed=0, val_fraction=0.2)
    assert split.image_shape == (3, 32, 32) and split.num_classes == 10 or split.num_classes <= 10
    assert len(split.y_train) + len(split.y_val) == 5 * 6 and len(split.y_test) == 6
    x_test, y_test = written[-1]
    np.testing.assert_array_equal(split.y_test.numpy(), y_test)
    train_max = max(int(x.max()) for x, _ in written[:-1])
    np.testing.assert_allclose(_as_image(split.x_test, split).numpy(), x_test / train_max, rtol=1e-6)
    # every training image is one of the written ones (the validation split is carved from them)
    pool = {bytes(row) for x, _ in written[:-1] for row in x.reshape(len(x), -1)}
    for row in torch.cat([split.x_train, split.x_val]):
        assert bytes(np.rint(row.numpy() * train_max).astype(np.uint8)) in pool


def test_cifar100_uses_the_fine_label(tmp_path):
    rng = np.random.default_rng(2)
    d = tmp_path / "cifar-100-binary"
    d.mkdir()
    fine = {}
    for name, n in (("train.bin", 12), ("test.bin", 5)):
        x, y, c = _images(rng, n), rng.integers(0, 100, n), rng.integers(0, 20, n)
        _write_cifar(d / name, x, y, coarse=c)
        fine[name] = y
    split = data.load_path(d, seed=0, val_fraction=0.25)
    np.testing.assert_array_equal(split.y_test.numpy(), fine["test.bin"])
    assert sorted(torch.cat([split.y_train, split.y_val]).tolist()) == sorted(fine["train.bin"].tolist())
    assert split.name.startswith("cifar100") and split.image_shape == (3, 32, 32)


def test_svhn_mat_maps_label_10_to_digit_0_and_transposes_to_chw(tmp_path):
    rng = np.random.default_rng(3)
    d = tmp_path / "svhn"
    d.mkdir()
    written = {}
    for name, n in (("train_32x32.mat", 10), ("test_32x32.mat", 4)):
        x_hwcn = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
        y[0, 0] = 10
        scipy_io.savemat(d / name, {"X": x_hwcn, "y": y})
        written[name] = (x_hwcn, y)
    x, y = data.read_svhn_mat(d / "test_32x32.mat")
    x_hwcn, y_raw = written["test_32x32.mat"]
    assert y[0] == 0 and np.all(y == y_raw[:, 0] % 10)
    n, c, h, w = 2, 1, 4, 9
    assert x[n, c, h, w] == x_hwcn[h, w, c, n]
    split = data.load_path(d, seed=0, val_fraction=0.2)
    assert split.image_shape == (3, 32, 32) and len(split.y_test) == 4


@pytest.mark.parametrize("content, match", [
    (b"MATLAB 5.0 but not really", "cannot read it as a MATLAB"),
    (None, "expected a MATLAB .*got X"),
])
def test_svhn_wrong_format_names_the_file(tmp_path, content, match):
    path = tmp_path / "train_32x32.mat"
    if content is None:
        scipy_io.savemat(path, {"X": np.zeros((28, 28, 1, 3), np.uint8), "y": np.ones((3, 1))})
    else:
        path.write_bytes(content)
    with pytest.raises(data.DataError, match=match) as info:
        data.read_svhn_mat(path)
    assert str(path) in str(info.value)


def test_cifar_truncated_batch_names_the_file(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(data.DataError, match=r"data_batch_1.bin: not a CIFAR binary batch"):
        data.read_cifar_bin(path)


def test_conv_net_is_the_papers_architecture():
    net = slc_exp.SLCConvNet((3, 32, 32), 10)
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (1, 1)] * 3
    assert [c.out_channels for c in convs] == [128, 128, 256, 256, 512, 512]
    pools = [m for m in net.body if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 3 and p.stride == 2 for p in pools)
    dense = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    assert [d.out_features for d in dense] == [1024]
    bns = [m for m in net.body if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert len(bns) == 7  # after every convolutional and dense layer
    small = slc_exp.SLCConvNet((3, 32, 32), 7, widths=(4, 4, 4, 8)).eval()
    x = torch.rand(5, 3 * 32 * 32)
    logits = small(x)
    assert logits.shape == (5, 7)
    # the single-logit head scores one class without the others
    torch.testing.assert_close(small(x, classes=3), logits[:, 3])


def test_slc_command_trains_the_cnn_on_cifar_format_data(tmp_path):
    from losslab.cli import main

    rng = np.random.default_rng(4)
    d, _ = _cifar10_dir(tmp_path, rng, per_batch=8)
    out = tmp_path / "report"
    rc = main(["slc", "--data", str(d), "--epochs", "1", "--lrs", "0.1", "--batch-size", "8",
               "--objectives", "cross_entropy,batch_cross_entropy", "--conv-widths", "2,2,2,4",
               "--no-progress", "--out", str(out)])
    assert rc == 0
    results = json.loads((out / "slc" / "slc.json").read_text())
    assert results["config"]["net"] == "cnn" and results["config"]["conv_widths"] == [2, 2, 2, 4]
    assert "CNN (paper's SVHN/CIFAR net" in (out / "slc" / "slc.md").read_text()


def test_net_auto_keeps_the_mlp_for_grey_images():
    import argparse

    args = argparse.Namespace(net="auto", hidden=(8,), epochs=1, batch_size=4, lrs=(0.1,), momentum=0.0, seed=0,
                              select="accuracy", objectives=("cross_entropy",), conv_widths=(2, 2, 2, 4))
    digits = data.load_digits(limit=40)
    assert digits.image_shape == (1, 8, 8)
    assert slc_exp.config_from_args(args, digits).net == "mlp"
    args.net = "cnn"
    cfg = slc_exp.config_from_args(args, digits)
    assert slc_exp.make_network(digits, cfg)(digits.x_train[:4]).shape == (4, 10)
