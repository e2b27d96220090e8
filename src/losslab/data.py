"""Data for the lab's experiments: no downloads, ever.

* :func:`load_digits` -- scikit-learn's embedded digits (1797 images of 8x8, 10
  classes), split into train/validation/test with a fixed seed.
* :func:`load_path` -- the user's data, in the formats its publishers distribute:

  - MNIST: a directory holding the four IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
    each optionally ``.gz``);
  - CIFAR-10 (binary version): a directory holding ``data_batch_1.bin`` ..
    ``data_batch_5.bin`` and ``test_batch.bin`` (records of 1 label byte + 3072 pixel bytes);
  - CIFAR-100 (binary version): a directory holding ``train.bin`` and ``test.bin``
    (records of a coarse and a fine label byte + 3072 pixel bytes; the 100 fine labels are used);
  - SVHN (cropped digits): a directory holding ``train_32x32.mat`` and ``test_32x32.mat``
    (MATLAB files with ``X [32, 32, 3, N]`` and ``y [N, 1]``, digit 0 labelled 10);
  - an ``.npz`` file with ``x_train, y_train, x_test, y_test``.

  The validation split is carved from the training set with the same fixed seed.

Images are flattened to ``float32`` vectors in ``[0, 1]`` (channel-major, so
``x.view(-1, *split.image_shape)`` gives ``[N, C, H, W]``); labels are ``int64``
in ``[0, K)``. A missing or malformed path raises :class:`DataError` (a
``ValueError``) or :class:`FileNotFoundError` with a message naming the problem.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["DataError", "Split", "load_digits", "load_path", "load_dataset", "read_idx", "read_cifar_bin", "read_svhn_mat",
           "MNIST_FILES", "CIFAR10_FILES", "CIFAR100_FILES", "SVHN_FILES"]


class DataError(ValueError):
    """A data file or directory exists but cannot be used; the message says why."""


@dataclass
class Split:
    """A dataset split into train / validation / test tensors (``x [N, d]``, ``y [N]``)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    #: ``(C, H, W)`` when the rows are images (the convolutional network needs it), else ``None``
    image_shape: tuple[int, int, int] | None = None

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
            f"{self.num_features} features, {self.num_classes} classes"
        )


#: MNIST's IDX file names (as distributed), each also accepted with ``.gz``.
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type codes -> numpy big-endian dtypes (http://yann.lecun.com/exdb/mnist/ format).
#: Class ids must lie below this: a larger id is a malformed label column, not a
#: class count a single-logit head is meant for.
MAX_CLASSES = 2**20

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array.

    Raises :class:`DataError` naming the file when the magic number, the type code
    or the size of the data do not agree with the header.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty file'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions, {len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes of data) but the file holds {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _to_tensors(x: np.ndarray, y: np.ndarray, source: str, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2:
        raise DataError(f"{source}: x_{what} must have one row per example (at least 2-D); got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{source}: y_{what} must be 1-D with one label per row of x_{what}; got {y.shape} for x {x.shape}")
    if len(y) == 0:
        raise DataError(f"{source}: the {what} set is empty")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"{source}: y_{what} must hold integer class labels; got dtype {y.dtype}")
    if y.min() < 0:
        raise DataError(f"{source}: y_{what} holds a negative label ({int(y.min())})")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{source}: x_{what} must be numeric; got dtype {x.dtype}")
    if y.max() >= MAX_CLASSES:
        raise DataError(f"{source}: y_{what} holds the label {int(y.max())}; class ids must lie below {MAX_CLASSES}")
    xf = x.reshape(len(x), -1).astype(np.float32)
    if xf.shape[1] == 0:
        raise DataError(f"{source}: x_{what} has no features (shape {x.shape})")
    if not np.isfinite(xf).all():
        raise DataError(f"{source}: x_{what} holds NaN or Inf")
    return torch.from_numpy(xf), torch.from_numpy(y.astype(np.int64))


def _scale(*xs: torch.Tensor) -> list[torch.Tensor]:
    """Scale all sets by the training set's maximum (255 for MNIST bytes) to [0, 1]."""
    top = float(xs[0].abs().max()) or 1.0
    return [x / top for x in xs]


def _carve(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int):
    """Split (x, y) into (rest, held-out) with a fixed-seed permutation."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    n_out = max(1, int(round(fraction * len(y))))
    if n_out >= len(y):
        raise DataError(f"cannot hold out {fraction:.0%} of {len(y)} examples for validation")
    out, rest = perm[:n_out], perm[n_out:]
    return x[rest], y[rest], x[out], y[out]


def _check_fraction(name: str, value: float) -> None:
    if not (0.0 < value < 1.0):
        raise ValueError(f"{name} must lie in (0, 1); got {value!r}")


def _digits_arrays():
    """(pixels [1797, 64], labels [1797]) from the CSV scikit-learn ships.

    Read directly (as ``sklearn.datasets.load_digits`` does) when the file is where
    scikit-learn keeps it: importing scikit-learn costs tens of seconds on a slow machine.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is None:
        raise ImportError("the digits data ship with scikit-learn: pip install 'losslab[lab]'")
    for root in spec.submodule_search_locations or ():
        csv = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            table = np.loadtxt(csv, delimiter=",")
            return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits as _sk_load_digits  # a layout we do not know

    bunch = _sk_load_digits()
    return bunch.data, bunch.target


def load_digits(*, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.25, limit: int | None = None) -> Split:
    """scikit-learn's embedded digits (8x8 images, 10 classes, shipped with the
    package: no download), split train/val/test with a fixed-seed permutation.

    ``limit`` keeps only the first ``limit`` examples of the permutation (for
    smoke tests).

    Example:
        >>> d = load_digits(seed=0)
        >>> d.num_features, d.num_classes, len(d.y_train) + len(d.y_val) + len(d.y_test)
        (64, 10, 1797)
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    pixels, target = _digits_arrays()
    x = torch.from_numpy(pixels.astype(np.float32) / 16.0)  # pixel values 0..16
    y = torch.from_numpy(target.astype(np.int64))
    if limit is not None:
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:limit]
        x, y = x[perm], y[perm]
    x_rest, y_rest, x_test, y_test = _carve(x, y, test_fraction, seed)
    x_train, y_train, x_val, y_val = _carve(x_rest, y_rest, val_fraction / (1 - test_fraction), seed + 1)
    return Split("digits", x_train, y_train, x_val, y_val, x_test, y_test, 10, image_shape=(1, 8, 8))


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    # also accept the common "train-images.idx3-ubyte" spelling
    alt = stem.replace("-idx", ".idx")
    for candidate in (directory / alt, directory / f"{alt}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _finish(name: str, x_tr, y_tr, x_te, y_te, *, seed: int, val_fraction: float, image_shape=None) -> Split:
    x_tr, x_te = _scale(x_tr, x_te)
    if x_tr.shape[1] != x_te.shape[1]:
        raise DataError(f"{name}: train examples have {x_tr.shape[1]} features but test examples have {x_te.shape[1]}")
    num_classes = int(max(int(y_tr.max()), int(y_te.max())) + 1)
    if num_classes < 2:
        raise DataError(f"{name}: the labels hold a single class; SLC needs at least 2")
    x_train, y_train, x_val, y_val = _carve(x_tr, y_tr, val_fraction, seed)
    if len(y_train) < 2:  # batch normalisation and the batch losses need two examples
        raise DataError(f"{name}: {len(y_tr)} training examples leave {len(y_train)} after the validation split; need 2")
    if image_shape is not None and math.prod(image_shape) != x_tr.shape[1]:
        image_shape = None  # not images after all (a flat .npz of another width)
    return Split(name, x_train, y_train, x_val, y_val, x_te, y_te, num_classes, image_shape=image_shape)


def load_path(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 1 / 6) -> Split:
    """The user's data at ``path``: a directory with MNIST's four IDX files (gz or
    not) or an ``.npz`` with ``x_train, y_train, x_test, y_test``.

    The built-in test split is kept; ``val_fraction`` of the training set (MNIST:
    10 000 of 60 000) is held out for the learning-rate sweep, with ``seed``.
    """
    _check_fraction("val_fraction", val_fraction)
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--data {path}: no such file or directory")
    if p.is_dir():
        if all((p / f).is_file() for f in CIFAR10_FILES):
            return _load_cifar(p, CIFAR10_FILES[:-1], CIFAR10_FILES[-1], "cifar10", seed=seed, val_fraction=val_fraction)
        if all((p / f).is_file() for f in CIFAR100_FILES):
            return _load_cifar(p, CIFAR100_FILES[:1], CIFAR100_FILES[1], "cifar100", seed=seed, val_fraction=val_fraction)
        if all((p / f).is_file() for f in SVHN_FILES):
            x_tr, y_tr = read_svhn_mat(p / SVHN_FILES[0])
            x_te, y_te = read_svhn_mat(p / SVHN_FILES[1])
            x_tr, y_tr = _to_tensors(x_tr, y_tr, str(p / SVHN_FILES[0]), "train")
            x_te, y_te = _to_tensors(x_te, y_te, str(p / SVHN_FILES[1]), "test")
            return _finish(f"svhn:{p.name}", x_tr, y_tr, x_te, y_te, seed=seed, val_fraction=val_fraction,
                           image_shape=(3, 32, 32))
        found = {key: _find_idx(p, stem) for key, stem in MNIST_FILES.items()}
        missing = [MNIST_FILES[k] + "[.gz]" for k, v in found.items() if v is None]
        if missing:
            layouts = {"CIFAR-10": CIFAR10_FILES, "CIFAR-100": CIFAR100_FILES, "SVHN": SVHN_FILES}
            partial = [name for name, files in layouts.items() if any((p / f).is_file() for f in files)]
            if partial and not any(v is not None for v in found.values()):
                files = layouts[partial[0]]
                missing = [f for f in files if not (p / f).is_file()]
                raise DataError(f"--data {path}: the directory holds part of {partial[0]}'s files; missing {', '.join(missing)}")
            raise DataError(
                f"--data {path}: a directory must hold MNIST's four IDX files, CIFAR-10's or CIFAR-100's binary "
                f"batches or SVHN's two .mat files; missing {', '.join(missing)}"
            )
        arrays = {k: read_idx(v) for k, v in found.items()}
        x_tr, y_tr = _to_tensors(arrays["x_train"], arrays["y_train"], str(found["x_train"].parent), "train")
        x_te, y_te = _to_tensors(arrays["x_test"], arrays["y_test"], str(found["x_test"].parent), "test")
        shape = arrays["x_train"].shape
        image = (1, *shape[1:]) if len(shape) == 3 else None
        return _finish(f"idx:{p.name}", x_tr, y_tr, x_te, y_te, seed=seed, val_fraction=val_fraction, image_shape=image)
    if p.suffix != ".npz":
        raise DataError(f"--data {path}: expected a directory of IDX files or an .npz file, got a {p.suffix or 'suffix-less'} file")
    import zipfile

    # np.load takes any non-zip file for a pickle and says so: not helpful for an empty or garbled file
    if not zipfile.is_zipfile(p):
        raise DataError(f"--data {path}: cannot read the .npz file: not a zip archive ({p.stat().st_size} bytes)")
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in keys]
            if missing:
                raise DataError(f"--data {path}: the .npz lacks {', '.join(missing)} (it holds {', '.join(sorted(keys)) or 'nothing'})")
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (pickled objects), OSError
        raise DataError(f"--data {path}: cannot read the .npz file: {e}") from e
    image = None
    for key in ("x_train", "x_test"):  # images: [N, H, W], [N, C, H, W] or [N, H, W, C] (C in 1, 3)
        x = arrays[key]
        if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
            arrays[key] = x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        image = (1, *x.shape[1:]) if x.ndim == 3 else tuple(x.shape[1:]) if x.ndim == 4 else None
    x_tr, y_tr = _to_tensors(arrays["x_train"], arrays["y_train"], str(p), "train")
    x_te, y_te = _to_tensors(arrays["x_test"], arrays["y_test"], str(p), "test")
    return _finish(f"npz:{p.stem}", x_tr, y_tr, x_te, y_te, seed=seed, val_fraction=val_fraction, image_shape=image)


def load_dataset(path: str | os.PathLike | None = None, *, seed: int = 0) -> Split:
    """``load_path(path)`` if a path is given, else :func:`load_digits`."""
    return load_digits(seed=seed) if path is None else load_path(path, seed=seed)


#: CIFAR-10's binary version: five training batches and the test batch.
CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
#: CIFAR-100's binary version.
CIFAR100_FILES = ("train.bin", "test.bin")
#: SVHN's cropped-digit format 2 files.
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
_CIFAR_PIXELS = 3 * 32 * 32


def read_cifar_bin(path: str | os.PathLike, *, label_bytes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One file of CIFAR's binary version: ``(images uint8 [N, 3, 32, 32], labels int64 [N])``.

    Each record is ``label_bytes`` label bytes (CIFAR-10: 1; CIFAR-100: 2, coarse then
    fine -- the fine label is returned) followed by 3072 pixel bytes, the red, green and
    blue 32x32 planes in row-major order. A file whose size is not a whole number of
    records raises :class:`DataError` naming the file.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + _CIFAR_PIXELS
    if raw.size == 0 or raw.size % record:
        raise DataError(f"{path}: not a CIFAR binary batch: {raw.size} bytes is not a whole number of "
                        f"{record}-byte records ({label_bytes} label byte(s) + 3072 pixel bytes)")
    rows = raw.reshape(-1, record)
    labels = rows[:, label_bytes - 1].astype(np.int64)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def _load_cifar(directory: Path, train_files, test_file: str, name: str, *, seed: int, val_fraction: float) -> Split:
    label_bytes = 2 if name == "cifar100" else 1
    parts = [read_cifar_bin(directory / f, label_bytes=label_bytes) for f in train_files]
    x_tr = np.concatenate([x for x, _ in parts])
    y_tr = np.concatenate([y for _, y in parts])
    x_te, y_te = read_cifar_bin(directory / test_file, label_bytes=label_bytes)
    limit = 100 if name == "cifar100" else 10
    for f, y in [(train_files[0], y_tr), (test_file, y_te)]:
        if y.max() >= limit:
            raise DataError(f"{directory / f}: label {int(y.max())} is outside {name}'s {limit} classes")
    x_tr, y_tr = _to_tensors(x_tr, y_tr, str(directory), "train")
    x_te, y_te = _to_tensors(x_te, y_te, str(directory / test_file), "test")
    return _finish(f"{name}:{directory.name}", x_tr, y_tr, x_te, y_te, seed=seed, val_fraction=val_fraction,
                   image_shape=(3, 32, 32))


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's cropped-digit ``.mat`` file: ``(images uint8 [N, 3, 32, 32], labels int64 [N])``.

    The file holds ``X [32, 32, 3, N]`` and ``y [N, 1]`` with the digit 0 labelled 10;
    labels are returned as digits 0-9. Read with SciPy (``scipy.io.loadmat``); anything
    else raises :class:`DataError` naming the file and what was expected.
    """
    path = Path(path)
    expected = "a MATLAB (v5) .mat file with X [32, 32, 3, N] uint8 and y [N, 1] labels 1-10"
    try:
        from scipy.io import loadmat
    except ImportError as e:  # pragma: no cover - scipy ships with the lab extra
        raise DataError(f"{path}: reading SVHN's .mat files needs SciPy: pip install 'losslab[lab]'") from e
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for a non-MAT file
        raise DataError(f"{path}: cannot read it as {expected}: {e}") from e
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: expected {expected}; it holds {', '.join(k for k in mat if not k.startswith('__'))}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataError(f"{path}: expected {expected}; got X {x.shape} and y {mat['y'].shape}")
    if len(y) == 0 or y.min() < 1 or y.max() > 10:
        raise DataError(f"{path}: expected {expected}; labels span {y.min() if len(y) else '-'}..{y.max() if len(y) else '-'}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), (y.astype(np.int64) % 10)
