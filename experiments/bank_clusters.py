"""Resamples of a model without transfer maps (a CelebA-style model: no counterfactual pairs to fit maps on) drawn
from its capsule bank: each slot's bank clusters in turn (session 14) against independent bank draws (before).

    python experiments/bank_clusters.py [WEIGHTS]

The shipped faces file with its maps switched off in memory (cfg.transfer_maps 0: resamples draw banked capsules),
vcn eval's style protocol, oracle and seed for the 17 style attributes, then two more seed offsets of the draw for
Eyeglasses / Bangs / Wearing_Hat.
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from model.capsule_edits import CapsuleEdits
from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, N_TEST, TEST_SEED, _prepare
from model.oracle import load_oracle

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    cpu = torch.device("cpu")
    model = _prepare(load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"), cpu)
    model.cfg = dataclasses.replace(model.cfg, transfer_maps=0, style_clusters="residuals")
    oracle = _prepare(load_oracle("weights/oracle.safetensors"), cpu)
    batch = faces.sample_faces(TEST_SEED, 0, N_TEST)
    images, attrs = torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool()
    styles = tuple(oracle.cfg.style_names)
    clustered = CapsuleEdits._style_draw
    for label, draw in (("independent bank draws", lambda self, slots, g: self.draw(slots, g)),
                        ("bank clusters in turn", clustered)):
        CapsuleEdits._style_draw = draw
        with torch.inference_mode():
            r = style_metrics(model, oracle, images, attrs, styles, N_STYLE, TEST_SEED, 100, cpu)
            d, pr, k = r["style_diversity"], r["style_presence"], r["style_kept"]
            print(f"{label}: E / B / H " + " / ".join(f"{d[n]:.2f}" for n in NAMED) + f", mean of 17 "
                  f"{sum(d.values()) / len(d):.3f}, still present {sum(pr.values()) / len(pr):.3f}, rest kept "
                  f"{sum(k.values()) / len(k):.4f}", flush=True)
            for shift in (1, 2):
                r = style_metrics(model, oracle, images, attrs, NAMED, N_STYLE, TEST_SEED + 77 * shift, 100, cpu)
                print(f"  seed offset {77 * shift}: " + " / ".join(f"{r['style_diversity'][n]:.2f}" for n in NAMED),
                      flush=True)
    CapsuleEdits._style_draw = clustered


if __name__ == "__main__":
    main()
