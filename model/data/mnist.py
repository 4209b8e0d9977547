"""MNIST from the four standard idx files (gzip-compressed or not). No downloading.

    images, labels = load_mnist(split="train")          # (60000, 28, 28) uint8, (60000,) int64

The data root is VCN_MNIST_ROOT if set, else ../shared/data/mnist next to the repository (or the current
directory), which is where the project keeps the real files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

PREFIX = {"train": "train", "test": "t10k"}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


class MNISTFormatError(ValueError):
    """An idx file that is not what MNIST's format says."""


def default_mnist_root() -> Path:
    """VCN_MNIST_ROOT, else the first existing of <repo>/../shared/data/mnist and ./../shared/data/mnist
    (the repo-relative one when neither exists, so error messages point somewhere sensible)."""
    if os.environ.get("VCN_MNIST_ROOT"):
        return Path(os.environ["VCN_MNIST_ROOT"])
    repo = Path(__file__).resolve().parents[2]
    candidates = [repo.parent / "shared" / "data" / "mnist", Path.cwd().parent / "shared" / "data" / "mnist"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _open_idx(root: Path, stem: str) -> tuple[Path, bytes]:
    for path in (root / f"{stem}.gz", root / stem):
        if path.is_file():
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                return path, f.read()
    raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {root} (set VCN_MNIST_ROOT or pass root)")


def _parse_idx(path: Path, data: bytes, magic: int, dims: int) -> np.ndarray:
    """The array in an idx file of unsigned bytes with `dims` dimensions."""
    if len(data) < 4 + 4 * dims:
        raise MNISTFormatError(f"{path}: too short for an idx header ({len(data)} bytes)")
    header = np.frombuffer(data, ">u4", count=1 + dims)
    if int(header[0]) != magic:
        raise MNISTFormatError(f"{path}: magic number {int(header[0])}, expected {magic}")
    shape = tuple(int(d) for d in header[1:])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise MNISTFormatError(f"{path}: header says {shape} = {int(np.prod(shape))} bytes, file has {body.size}")
    return body.reshape(shape)


def load_mnist(root=None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of split 'train' or 'test'."""
    if split not in PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else default_mnist_root()
    path, data = _open_idx(root, f"{PREFIX[split]}-images-idx3-ubyte")
    images = _parse_idx(path, data, IMAGE_MAGIC, 3)
    path, data = _open_idx(root, f"{PREFIX[split]}-labels-idx1-ubyte")
    labels = _parse_idx(path, data, LABEL_MAGIC, 1).astype(np.int64)
    if len(images) != len(labels):
        raise MNISTFormatError(f"{root}: {len(images)} {split} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise MNISTFormatError(f"{path}: label {int(labels.max())} outside 0..9")
    return images.copy(), labels


class MNISTDataset(torch.utils.data.Dataset):
    """item -> (image float32 (1, 28, 28) in [0, 1], label int64)."""

    def __init__(self, root=None, split: str = "train"):
        images, labels = load_mnist(root, split)
        self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].unsqueeze(0).float().div(255), self.labels[i]
