"""Do reconstructions show their face's style to the oracle, or only to the reader a lever trained against?

python experiments/style_reader_vs_oracle.py W [W2 ...]

For Eyeglasses, Bangs and Wearing_Hat, on 1,500 faces of seed 5 (neither training, calibration nor test
faces) that have the attribute: the share of reconstructions whose style the eval oracle reads as the
ground truth, and the share the calibration reader does (weights/reader.safetensors, the style lever's
default reader). A lever that fools its reader raises the second and not the first.
"""

from __future__ import annotations

import sys

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import DEFAULT_ORACLE
from model.oracle import load_oracle

SEED, N, CHUNK = 5, 1500, 250
ATTRIBUTES = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    batch = faces.sample_faces(SEED, 0, N)
    images = torch.from_numpy(faces.render(batch, 64, workers=1)).permute(0, 3, 1, 2).float() / 255
    oracle, reader = load_oracle(DEFAULT_ORACLE), load_oracle("weights/reader.safetensors")
    for w in sys.argv[1:]:
        model = load_vcn(w).eval()
        with torch.inference_mode():
            recon = torch.cat([model.reconstruct(images[i : i + CHUNK]) for i in range(0, N, CHUNK)])
        row = [w]
        for name in ATTRIBUTES:
            a, s = faces.ATTRIBUTES.index(name), faces.STYLE_ATTRIBUTES.index(name)
            has = torch.from_numpy(batch.attrs[:, a] > 0)
            truth = torch.from_numpy(batch.styles[:, s])[has]
            by_oracle = (oracle.read(recon[has]).styles[:, s] == truth).float().mean()
            by_reader = (reader.read(recon[has]).styles[:, s] == truth).float().mean()
            row.append(f"{name} ({int(has.sum())} faces): oracle {by_oracle:.2f}, reader {by_reader:.2f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
