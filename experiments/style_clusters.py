"""Resamples drawn from clusters of the transfer fit's residuals in turn (shipped, session 13) against independent
draws (before), for Eyeglasses / Bangs / Wearing_Hat, on vcn eval's style faces with three seed offsets.

    python experiments/style_clusters.py [WEIGHTS]
"""

from __future__ import annotations

import sys

import torch

from model.capsule_edits import CapsuleEdits
from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics
from model.evaluate import TEST_SEED
from model.oracle import load_oracle

STYLES = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors").eval()
    oracle = load_oracle("weights/oracle.safetensors").eval()
    batch = faces.sample_faces(TEST_SEED, 0, 2000)
    images, attrs = torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool()
    clustered = CapsuleEdits._style_residual
    for label, draw in (("independent draws", CapsuleEdits._fit_residual), ("clusters in turn", clustered)):
        CapsuleEdits._style_residual = draw
        for shift in (0, 1, 2):
            r = style_metrics(model, oracle, images, attrs, STYLES, 30, TEST_SEED + 77 * shift, 100,
                              torch.device("cpu"))
            d, p = r["style_diversity"], r["style_presence"]
            print(f"{label}, seed offset {77 * shift}: styles " + " / ".join(f"{d[n]:.2f}" for n in STYLES)
                  + ", still present " + " / ".join(f"{p[n]:.2f}" for n in STYLES), flush=True)
    CapsuleEdits._style_residual = clustered


if __name__ == "__main__":
    main()
