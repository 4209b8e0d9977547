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
from eval_inputs import eval_inputs

from model.capsule_edits import CapsuleEdits
from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, TEST_SEED

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    cpu, oracle, model, images, attrs, styles = eval_inputs(sys.argv[1] if len(sys.argv) > 1
                                                            else "weights/faces.safetensors")
    model.cfg = dataclasses.replace(model.cfg, transfer_maps=0, style_clusters="residuals")
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
