"""MNIST idx loader: the real files (skipped where absent) and tiny files written here, gz and plain."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data import mnist
from model.data.mnist import MNISTDataset, MNISTFormatError, default_mnist_root, load_mnist

REAL_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


def _write_idx(path: Path, magic: int, array: np.ndarray, compress: bool) -> None:
    data = np.array([magic, *array.shape], ">u4").tobytes() + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_tiny_idx_files(tmp_path, compress):
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    labels = np.array([3, 1, 4, 1, 5])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", 2051, images, compress)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", 2049, labels, compress)
    x, y = load_mnist(tmp_path, "test")
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    ds = MNISTDataset(tmp_path, "test")
    image, label = ds[2]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label.item() == 4
    assert 0 <= image.min() <= image.max() <= 1


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train")
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", 2049, np.zeros((2, 28, 28)), False)     # label magic
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", 2049, np.zeros(2), False)
    with pytest.raises(MNISTFormatError, match="magic"):
        load_mnist(tmp_path, "test")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(np.array([2051, 2, 28, 28], ">u4").tobytes() + b"\0" * 10)
    with pytest.raises(MNISTFormatError, match="header says"):
        load_mnist(tmp_path, "test")
    with pytest.raises(ValueError):
        load_mnist(tmp_path, "valid")


def test_default_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("VCN_MNIST_ROOT", str(tmp_path))
    assert default_mnist_root() == tmp_path
    monkeypatch.delenv("VCN_MNIST_ROOT")
    repo = Path(mnist.__file__).resolve().parents[2]
    assert default_mnist_root() in (repo.parent / "shared/data/mnist", Path.cwd().parent / "shared/data/mnist")


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_mnist(split, n):
    root = default_mnist_root()
    if not (root / "t10k-labels-idx1-ubyte.gz").exists() and not (root / "t10k-labels-idx1-ubyte").exists():
        pytest.skip(f"real MNIST not at {root}")
    images, labels = load_mnist(None, split)
    assert images.shape == (n, 28, 28) and labels.shape == (n,)
    assert np.bincount(labels, minlength=10).tolist() == REAL_COUNTS[split]
