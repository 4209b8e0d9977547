"""CelebA in its official on-disk layout (real, or rendered by faces.write_celeba_layout). No downloading.

    root/img_align_celeba/000001.jpg ...
    root/list_attr_celeba.txt      line 1: number of images; line 2: attribute names; then
                                   "000001.jpg -1  1  1 -1 ..." (irregular spacing, values -1 / 1)
    root/list_eval_partition.txt   "000001.jpg 0" (0 train, 1 valid, 2 test)

Every malformed line raises CelebAFormatError naming the file and the line number. Split sizes are
reported as read, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SPLITS: dict[str, int] = {"train": 0, "valid": 1, "test": 2}
ATTR_FILE, PARTITION_FILE, IMAGE_DIR = "list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"


class CelebAFormatError(ValueError):
    """A CelebA list file or image that does not match the official layout."""

    def __init__(self, path: Path, line: int | None, message: str):
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class CelebALayout:
    """What the list files say.

    attributes (A,) names from the header; filenames (n,); attrs (n, A) uint8 in {0, 1};
    partition (n,) int8 in {0, 1, 2}, or -1 where there is no partition file; lines (n,) the line of each
    image in list_attr_celeba.txt (for error messages)."""

    root: Path
    attributes: tuple[str, ...]
    filenames: tuple[str, ...]
    attrs: np.ndarray
    partition: np.ndarray
    lines: tuple[int, ...]


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected CelebA's {path.name} in {path.parent}")
    return path.read_text().splitlines()


def read_attributes(path: Path) -> tuple[tuple[str, ...], list[str], np.ndarray, list[int]]:
    """Parse list_attr_celeba.txt -> (attribute names, filenames, attrs (n, A) uint8 {0,1}, line numbers)."""
    lines = _read_lines(path)
    if len(lines) < 2:
        raise CelebAFormatError(path, len(lines) + 1, "expected a count line and a header line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise CelebAFormatError(path, 1, f"expected the number of images, got {lines[0].strip()!r}") from None
    names = tuple(lines[1].split())
    if not names or len(set(names)) != len(names):
        raise CelebAFormatError(path, 2, "expected a header of distinct attribute names")
    files, rows, numbers, seen = [], [], [], set()
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise CelebAFormatError(path, number, f"expected {len(names) + 1} columns (file name and "
                                                  f"{len(names)} attributes), got {len(parts)}")
        if not set(parts[1:]) <= {"1", "-1"}:
            bad = next(v for v in parts[1:] if v not in ("1", "-1"))
            raise CelebAFormatError(path, number, f"attribute values must be -1 or 1, got {bad!r}")
        if parts[0] in seen:
            raise CelebAFormatError(path, number, f"{parts[0]} is listed twice")
        seen.add(parts[0])
        files.append(parts[0])
        rows.append(parts[1:])
        numbers.append(number)
    if count != len(files):
        raise CelebAFormatError(path, 1, f"the count line says {count} images but {len(files)} rows follow")
    attrs = (np.array(rows, dtype=np.int8).reshape(len(files), len(names)) == 1).astype(np.uint8)
    return names, files, attrs, numbers


def read_partition(path: Path, filenames: list[str], attr_lines: list[int]) -> np.ndarray:
    """Parse list_eval_partition.txt -> (n,) int8 split code per filename (in attribute-file order)."""
    index = {name: i for i, name in enumerate(filenames)}
    out = np.full(len(filenames), -1, np.int8)
    for number, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise CelebAFormatError(path, number, f"expected 2 columns (file name, split 0/1/2), got {len(parts)}")
        if parts[1] not in ("0", "1", "2"):
            raise CelebAFormatError(path, number, f"split must be 0, 1 or 2, got {parts[1]!r}")
        if parts[0] not in index:
            raise CelebAFormatError(path, number, f"{parts[0]} is not listed in {ATTR_FILE}")
        out[index[parts[0]]] = int(parts[1])
    missing = np.flatnonzero(out < 0)
    if missing.size:
        i = int(missing[0])
        raise CelebAFormatError(path, None, f"no split for {filenames[i]} ({ATTR_FILE} line {attr_lines[i]})"
                                            f"{f' and {missing.size - 1} more' if missing.size > 1 else ''}")
    return out


def read_layout(root, check_images: bool = True, need_partition: bool = True) -> CelebALayout:
    """Read and check a CelebA layout directory. check_images: every listed image file must exist."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CelebA root {root} is not a directory")
    names, files, attrs, numbers = read_attributes(root / ATTR_FILE)
    if (root / PARTITION_FILE).is_file() or need_partition:
        partition = read_partition(root / PARTITION_FILE, files, numbers)
    else:
        partition = np.full(len(files), -1, np.int8)
    if check_images:
        for name, number in zip(files, numbers, strict=True):
            if not (root / IMAGE_DIR / name).is_file():
                raise CelebAFormatError(root / ATTR_FILE, number, f"image {IMAGE_DIR}/{name} not found")
    return CelebALayout(root, names, tuple(files), attrs, partition, tuple(numbers))


def load_image(path: Path, size: int) -> Image.Image:
    """RGB image, centre-cropped to a square (178x218 aligned CelebA -> 178x178), resized to size x size."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.BICUBIC, reducing_gap=2.0)
    return image


class CelebADataset(torch.utils.data.Dataset):
    """CelebA (or rendered faces) from the official layout.

    split: 'train' | 'valid' | 'test' | 'all'. item -> (image float32 (3, size, size) in [0, 1],
    attrs float32 (A,) in {0, 1}). `attributes` are the header's names; `split_sizes` as read."""

    def __init__(self, root, split: str = "train", size: int = 64):
        if split not in (*SPLITS, "all"):
            raise ValueError(f"split must be one of train, valid, test, all; got {split!r}")
        layout = read_layout(root, check_images=False, need_partition=split != "all")
        rows = np.arange(len(layout.filenames)) if split == "all" else np.flatnonzero(
            layout.partition == SPLITS[split])
        for i in rows:
            if not (layout.root / IMAGE_DIR / layout.filenames[i]).is_file():
                raise CelebAFormatError(layout.root / ATTR_FILE, layout.lines[i],
                                        f"image {IMAGE_DIR}/{layout.filenames[i]} not found")
        self.root, self.split, self.size, self.attributes = layout.root, split, size, layout.attributes
        self.filenames = [layout.filenames[i] for i in rows]
        self.attrs = layout.attrs[rows]
        self.split_sizes = {name: int(np.sum(layout.partition == code)) for name, code in SPLITS.items()}

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, i: int):
        image = load_image(self.root / IMAGE_DIR / self.filenames[i], self.size)
        x = torch.from_numpy(np.asarray(image, np.uint8).copy()).permute(2, 0, 1).float().div_(255)
        return x, torch.from_numpy(self.attrs[i]).float()
