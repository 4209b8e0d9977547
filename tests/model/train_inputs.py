"""Tiny training data for the model/train.py, model/phases.py and `vcn stages` tests (test_train.py,
test_phases.py, test_stage_chain.py): a tiny attribute net (ML), random uint8 faces with attribute targets (and
counterfactual pairs), stand-in digits, and the CSV log a run writes."""

import csv
from pathlib import Path

import torch

from model.config import VCNConfig
from model.train import TensorData

ML = VCNConfig(arch="compact", capsule_names=("a", "b", "c"), image_size=16, width=8, capsule_dim=4, context_dim=2)
QUIET = dict(device="cpu", progress=False)  # every test run: CPU, no progress bar

def faces_data(cfg: VCNConfig, n: int, pairs: bool = False, seed: int = 0) -> TensorData:
    """Random uint8 images and attribute targets; with pairs, counterfactuals with one attribute flipped."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, cfg.channels, cfg.image_size, cfg.image_size)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    targets = torch.randint(0, 2, (n, cfg.num_names), dtype=torch.uint8, generator=g)
    if not pairs:
        return TensorData(images, targets)
    cf_targets = targets.clone()
    which = torch.randint(cfg.num_names, (n,), generator=g)
    cf_targets[torch.arange(n), which] ^= 1
    return TensorData(images, targets, torch.randint(0, 256, shape, dtype=torch.uint8, generator=g), cf_targets)


def digit_data(cfg: VCNConfig, n: int, seed: int = 0) -> TensorData:
    """Stand-in digits: class k is a bright 6x6 block at a class-dependent place, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(cfg.num_names, (n,), generator=g)
    images = torch.randint(0, 30, (n, 1, cfg.image_size, cfg.image_size), dtype=torch.uint8, generator=g)
    for i, k in enumerate(labels.tolist()):
        r, c = 3 + 6 * (k // 4), 3 + 6 * (k % 4)
        images[i, 0, r : r + 6, c : c + 6] = 255
    return TensorData(images, labels)


def log_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))
