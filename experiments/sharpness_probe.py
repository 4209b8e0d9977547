"""How sharp a faces model draws (session 27): on the first N test faces (seed 10,000, as vcn eval), the oracle's
reading of Blurry on reconstructions and on new faces asked to be sharp, the high-frequency energy of
reconstructions against the images' (mean squared Laplacian, ratio), the reconstruction error (summed MSE, as the
training log's recon), and the oracle's reading of all 40 attributes on reconstructions and new faces.

The hour from scratch draws every reconstruction and new face soft enough for the oracle to read Blurry (session
26's lr 2e-3 file: 99.6 % of sharp faces), which alone costs 2.2 points of sample_accuracy; stage 19 reads 1-2 %.

    PYTHONPATH=. python experiments/sharpness_probe.py W... [--n 300]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED
from model.oracle import load_oracle
from model.readings import to_input

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_energy(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N,) mean squared Laplacian per image (replicate padding): how much fine detail it has."""
    k = LAPLACIAN.to(x).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x.float(), (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1]).pow(2).flatten(1).mean(1)


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--n", type=int, default=300)
    a = p.parse_args()
    oracle = load_oracle("weights/oracle.safetensors").eval()
    blurry = list(faces.ATTRIBUTES).index("Blurry")
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    x = to_input(torch.as_tensor(faces.render(batch, size=64)), torch.device("cpu"))
    attrs = torch.as_tensor(batch.attrs).bool()
    sharp = ~attrs[:, blurry]
    real_detail = laplacian_energy(x).mean()  # the images' own, read once for every file
    for path in a.weights:
        model = load_vcn(path).eval()
        rec = model.reconstruct(x).float()
        new = model.sample_states(attrs.float(), seed=5).float()
        r_rec, r_new = oracle.read(rec).attrs.bool(), oracle.read(new).attrs.bool()
        print(f"{path}: recon {(rec - x).pow(2).flatten(1).sum(1).mean():.1f}, detail recon/real "
              f"{laplacian_energy(rec).mean() / real_detail:.3f}, sharp faces read Blurry: recon "
              f"{r_rec[sharp, blurry].float().mean():.3f} new {r_new[sharp, blurry].float().mean():.3f}; read as the "
              f"face's: recon {(r_rec == attrs).float().mean():.4f}, new faces as asked "
              f"{(r_new == attrs).float().mean():.4f} ({a.n} faces)", flush=True)


if __name__ == "__main__":
    main()
