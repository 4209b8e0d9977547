"""Does a faces VCN's KL rule lean? (session 29; session 7 asked the same of the digits)

A VCN reads attribute a as present when its present capsule's KL is below its absent one's: d = KL_present -
KL_absent < 0. Here one offset per attribute is fitted on 4,000 training faces (seed 0, past the 60,000 of the
training cache): the b in d < b, on a grid from -30 to 30 nats, that reads the most of them right (0 unless another
is strictly better). The test faces (vcn eval's first N, seed 10,000) are then read with and without the offsets,
by the KL rule alone (no exclusive pairs resolved, as model.predict's reading and vcn eval's mean_accuracy do).
A rule that leans (more false absents than false presents where the hour misses, Smiling and Mouth_Slightly_Open)
would gain; a gain of a few faces says the misses are the encoder's, not the rule's.

    PYTHONPATH=. python experiments/attribute_kl_offsets.py W... [--n 2000] [--worst 6]
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED
from model.readings import chunks, to_input


def rendered_faces(seed: int, start: int, n: int, size: int) -> tuple[Tensor, Tensor]:
    """n rendered faces from (seed, start): images uint8 (n, size, size, 3) and their truth (n, A) bool."""
    batch = faces.sample_faces(seed, start, n)
    return torch.as_tensor(faces.render(batch, size=size)), torch.as_tensor(batch.attrs).bool()


def differences_of(model: torch.nn.Module, images: Tensor) -> Tensor:
    """images uint8 (n, H, W, 3) -> (n, A) KL_present - KL_absent, read in chunks of 200."""
    out = []
    with torch.inference_mode():
        for _, sl in chunks(len(images), 200):
            p = model.predict(to_input(images[sl], torch.device("cpu")))
            out.append((p.kl_present - p.kl_absent).float())
    return torch.cat(out)


def kl_differences(model: torch.nn.Module, seed: int, start: int, n: int) -> tuple[Tensor, Tensor]:
    """(n, A) KL_present - KL_absent of n rendered faces from (seed, start), and their truth (n, A) bool."""
    images, truth = rendered_faces(seed, start, n, model.cfg.image_size)
    return differences_of(model, images), truth


def fitted_offsets(d: Tensor, truth: Tensor, grid: Tensor) -> Tensor:
    """d, truth (n, A) -> (A,) per attribute the offset of grid that reads the most faces right (0 on ties)."""
    right = ((d[None] < grid[:, None, None]) == truth[None]).float().mean(1)  # (G, A)
    at_zero = ((d < 0) == truth).float().mean(0)
    best = right.max(0)
    return torch.where(best.values > at_zero, grid[best.indices], torch.zeros_like(at_zero))


def probe_arguments(doc: str) -> argparse.Namespace:
    """The command line this probe and experiments/flip_reading.py share: weights..., --n, --worst."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--worst", type=int, default=6)
    return p.parse_args()


def main() -> None:
    a = probe_arguments(__doc__)
    grid = torch.linspace(-30, 30, 241)
    for path in a.weights:
        model = load_vcn(path).eval()
        offsets = fitted_offsets(*kl_differences(model, 0, 100_000, 4000), grid)
        d, truth = kl_differences(model, TEST_SEED, 0, a.n)
        plain, shifted = ((d < 0) == truth).float().mean(0), ((d < offsets) == truth).float().mean(0)
        print(f"{path}: KL rule's accuracy {plain.mean():.4f} -> {shifted.mean():.4f} with the fitted offsets "
              f"({a.n} faces)")
        for k in plain.argsort()[: a.worst].tolist():
            false_present = int(((d[:, k] < 0) & ~truth[:, k]).sum())
            false_absent = int(((d[:, k] >= 0) & truth[:, k]).sum())
            print(f"  {faces.ATTRIBUTES[k]}: {plain[k]:.3f} -> {shifted[k]:.3f} (offset {offsets[k]:+.2f} nats); "
                  f"false present {false_present}, false absent {false_absent}")


if __name__ == "__main__":
    main()
