"""Procedural faces with ground truth for all 40 CelebA attributes: the public API.

    batch = sample_faces(seed=0, start=0, n=16)         # attrs (16, 40), styles (16, S), nuisance (16, N)
    images = render(batch, size=64)                      # (16, 64, 64, 3) uint8
    smiling = render(flip(batch, "Smiling"))             # the same faces with Smiling toggled
    write_celeba_layout("data/faces", n=10_000)          # img_align_celeba/, list_attr_celeba.txt, ...

Face i of seed s is a pure function of (s, i): it has its own random stream numpy.random.default_rng([s, i]),
so batch boundaries never change a face. What each attribute looks like and the joint law's figures are
in docs/faces.md; the law is faces_attributes.py, the drawing faces_render.py / faces_wear.py.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.data.faces_attributes import (
    ATTRIBUTES,
    INDEX,
    NUISANCE,
    STYLE_ATTRIBUTES,
    STYLE_COUNTS,
    sample_attributes,
    sample_styles,
    toggle,
)
from model.data.faces_render import render_face

__all__ = [
    "ATTRIBUTES", "STYLE_ATTRIBUTES", "STYLE_COUNTS", "NUISANCE", "FaceBatch", "sample_faces", "render", "flip",
    "with_styles", "FaceDataset", "write_celeba_layout", "data_stats",
]

_DRAWS = len(ATTRIBUTES) + len(STYLE_ATTRIBUTES) + len(NUISANCE)   # uniforms per face
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)                                  # train / valid / test, as in CelebA


@dataclass(frozen=True)
class FaceBatch:
    """Ground truth of n faces.

    attrs    (n, 40) uint8 in {0, 1}, CelebA order (ATTRIBUTES)
    styles   (n, len(STYLE_ATTRIBUTES)) int64 style ids; drawn for every face, used only where present
    nuisance (n, len(NUISANCE)) float32 in [0, 1]
    """

    attrs: np.ndarray
    styles: np.ndarray
    nuisance: np.ndarray

    def __len__(self) -> int:
        return len(self.attrs)

    def take(self, rows) -> FaceBatch:
        """The faces at `rows` (an index array, slice or boolean mask)."""
        return FaceBatch(self.attrs[rows], self.styles[rows], self.nuisance[rows])


def sample_faces(seed: int, start: int, n: int) -> FaceBatch:
    """Faces start .. start+n-1 of `seed` (all non-negative)."""
    if seed < 0 or start < 0 or n < 0:
        raise ValueError(f"seed, start and n must be non-negative, got {seed}, {start}, {n}")
    u = np.empty((n, _DRAWS))
    for i in range(n):
        u[i] = np.random.default_rng([seed, start + i]).random(_DRAWS)
    a, s = len(ATTRIBUTES), len(STYLE_ATTRIBUTES)
    return FaceBatch(sample_attributes(u[:, :a]), sample_styles(u[:, a:a + s]), u[:, a + s:].astype(np.float32))


def _render_rows(args: tuple[FaceBatch, int]) -> np.ndarray:
    batch, size = args
    out = np.empty((len(batch), size, size, 3), np.uint8)
    for i in range(len(batch)):
        out[i] = render_face(batch.attrs[i], batch.styles[i], batch.nuisance[i], size)
    return out


def render(batch: FaceBatch, size: int = 64, workers: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 images of the batch; workers > 0 renders in a multiprocessing Pool."""
    if not 16 <= size <= 256:
        raise ValueError(f"size must be in 16..256, got {size}")
    n = len(batch)
    if workers <= 0 or n < 2 * workers:
        return _render_rows((batch, size))
    edges = np.linspace(0, n, 4 * workers + 1).astype(int)     # a few chunks per worker balances the load
    chunks = [(batch.take(slice(a, b)), size) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    with multiprocessing.get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
        return np.concatenate(pool.map(_render_rows, chunks))


def _attribute_index(attribute: int | str) -> int:
    if isinstance(attribute, str):
        if attribute not in INDEX:
            raise KeyError(f"unknown attribute {attribute!r}; expected one of {', '.join(ATTRIBUTES)}")
        return INDEX[attribute]
    index = int(attribute)
    if not 0 <= index < len(ATTRIBUTES):
        raise IndexError(f"attribute index {index} outside 0..{len(ATTRIBUTES) - 1}")
    return index


def flip(batch: FaceBatch, attribute: int | str) -> FaceBatch:
    """The same faces with `attribute` toggled. Where it turns on, the rules force its exclusive partners
    off (e.g. Bald on: Bangs, hair colours, hair texture and Receding_Hairline off) and nothing else changes."""
    return FaceBatch(toggle(batch.attrs, _attribute_index(attribute)), batch.styles, batch.nuisance)


def with_styles(batch: FaceBatch, attribute: str, style_ids) -> FaceBatch:
    """The same faces with `attribute`'s style ids replaced by style_ids (n,) (or one id for all)."""
    if attribute not in STYLE_COUNTS:
        raise KeyError(f"{attribute!r} has no styles; style attributes are {', '.join(STYLE_ATTRIBUTES)}")
    ids = np.broadcast_to(np.asarray(style_ids, np.int64), (len(batch),))
    if ids.size and (ids.min() < 0 or ids.max() >= STYLE_COUNTS[attribute]):
        raise ValueError(f"{attribute} style ids must be in 0..{STYLE_COUNTS[attribute] - 1}")
    styles = batch.styles.copy()
    styles[:, STYLE_ATTRIBUTES.index(attribute)] = ids
    return FaceBatch(batch.attrs, styles, batch.nuisance)


class FaceDataset(torch.utils.data.Dataset):
    """Faces start .. start+n-1 of `seed`, rendered on the fly.

    item -> (image float32 (3, size, size) in [0, 1], attrs float32 (40,), styles int64 (S,),
             nuisance float32 (N,))"""

    def __init__(self, n: int, seed: int = 0, size: int = 64, start: int = 0):
        self.n, self.seed, self.size, self.start = n, seed, size, start

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(f"face {i} outside a dataset of {self.n}")
        face = sample_faces(self.seed, self.start + i % self.n, 1)
        image = render(face, self.size)[0]
        return (torch.from_numpy(image).permute(2, 0, 1).float().div_(255), torch.from_numpy(face.attrs[0]).float(),
                torch.from_numpy(face.styles[0]), torch.from_numpy(face.nuisance[0]))


def split_of(n: int) -> np.ndarray:
    """(n,) CelebA partition codes 0/1/2 in contiguous blocks of SPLIT_FRACTIONS, as CelebA's file does."""
    n_train, n_valid = round(n * SPLIT_FRACTIONS[0]), round(n * SPLIT_FRACTIONS[1])
    return np.repeat(np.array([0, 1, 2], np.int8), [n_train, n_valid, n - n_train - n_valid])


def write_celeba_layout(out_dir, n: int, seed: int = 0, size: int = 64, workers: int = 0) -> None:
    """Render faces 0..n-1 of `seed` into CelebA's on-disk layout under out_dir:

    img_align_celeba/000001.png ...  list_attr_celeba.txt (count line, header, "000001.png -1  1 ...")
    list_eval_partition.txt ("000001.png 0")  styles.csv (filename, one column per style attribute, then
    one per nuisance factor; the ground truth that CelebA does not have)."""
    out = Path(out_dir)
    (out / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.png" for i in range(n)]
    attr_rows, style_rows = [], []
    for lo in range(0, n, 2000):
        batch = sample_faces(seed, lo, min(2000, n - lo))
        for i, image in enumerate(render(batch, size, workers)):
            Image.fromarray(image).save(out / "img_align_celeba" / names[lo + i])
        attr_rows += [names[lo + i] + " " + " ".join(f"{2 * v - 1:2d}" for v in row.astype(int))
                      for i, row in enumerate(batch.attrs)]
        style_rows += [[names[lo + i], *map(int, s), *(f"{v:.6f}" for v in z)]
                       for i, (s, z) in enumerate(zip(batch.styles, batch.nuisance, strict=True))]
    (out / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(ATTRIBUTES)}\n" + "".join(r + "\n" for r in attr_rows))
    (out / "list_eval_partition.txt").write_text(
        "".join(f"{name} {code}\n" for name, code in zip(names, split_of(n), strict=True)))
    with open(out / "styles.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", *STYLE_ATTRIBUTES, *NUISANCE])
        writer.writerows(style_rows)


def data_stats(dataset: str, data_root) -> dict:
    """JSON-able summary: images per split and positive rate per attribute per split.

    dataset 'celeba': a CelebA layout at data_root (real, or written by write_celeba_layout).
    dataset 'faces': the same, plus style-id counts from styles.csv; with data_root None, the generator
    itself (faces 0..9999 of seed 0 under the 80/10/10 split). dataset 'mnist': images and label counts."""
    from model.data import celeba

    if dataset == "mnist":
        from model.data.mnist import load_mnist

        splits = {}
        for split in ("train", "test"):
            _, labels = load_mnist(data_root, split)
            splits[split] = {"images": len(labels), "label_counts": np.bincount(labels, minlength=10).tolist()}
        return {"dataset": "mnist", "root": None if data_root is None else str(data_root), "splits": splits}
    if dataset not in ("celeba", "faces"):
        raise ValueError(f"unknown dataset {dataset!r}; expected 'celeba', 'faces' or 'mnist'")
    if dataset == "faces" and data_root is None:
        batch = sample_faces(0, 0, 10_000)
        names, attrs, partition = list(ATTRIBUTES), batch.attrs, split_of(len(batch))
    else:
        layout = celeba.read_layout(data_root, check_images=False)
        names, attrs, partition = list(layout.attributes), layout.attrs, layout.partition
    result: dict = {"dataset": dataset, "root": None if data_root is None else str(data_root), "splits": {}}
    for split, code in (*celeba.SPLITS.items(), ("all", None)):
        rows = attrs if code is None else attrs[partition == code]
        rates = rows.mean(axis=0) if len(rows) else np.zeros(len(names))
        result["splits"][split] = {"images": int(len(rows)),
                                   "positive_rate": {a: round(float(r), 4) for a, r in zip(names, rates, strict=True)}}
    if dataset == "faces" and data_root is not None and (Path(data_root) / "styles.csv").is_file():
        result["style_counts"] = _style_counts(Path(data_root) / "styles.csv", dict(zip(names, attrs.T, strict=True)))
    return result


def _style_counts(path: Path, present: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """Per style attribute: how many faces that show the attribute have each style id."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for a in STYLE_ATTRIBUTES:
        ids = np.array([int(r[a]) for r in rows])
        mask = present[a][: len(ids)] == 1 if a in present else np.ones(len(ids), bool)
        out[a] = np.bincount(ids[mask], minlength=STYLE_COUNTS[a]).tolist()
    return out
