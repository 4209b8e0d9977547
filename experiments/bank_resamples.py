"""Resamples from the capsule bank instead of the transfer residuals (a probe, session 18):

    python experiments/bank_resamples.py [W] [--strengths 1 1.5 2]

The shipped file restyles a capsule as the maps' capsule for the face plus style_strength times a transfer
residual (CapsuleEdits.restyled). Without maps it takes a banked capsule of a real face (the slot's bank clusters
in turn), style_strength of the way from the face's own. Here the same file is read both ways by the oracle with
vcn eval's style protocol (the maps switched off in a copy's config, nothing retrained): the mean of 17 styles and
the rest kept, and Eyeglasses / Bangs / Wearing_Hat as styles / still present / kept.
Log: experiments/results/session18/bank_resamples.log.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses

import torch
from eval_inputs import eval_set, prepared_model

from model.calibrate import style_readings
from model.evaluate import N_STYLE, TEST_SEED

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--strengths", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    a = p.parse_args()
    cpu, oracle, images, attrs, _ = eval_set()
    shipped = prepared_model(a.weights)
    for maps, strengths in [(shipped.cfg.transfer_maps, [shipped.cfg.style_strength]), (0, a.strengths)]:
        model = copy.copy(shipped)  # the file's network and buffers, only the config replaced
        model.cfg = dataclasses.replace(shipped.cfg, transfer_maps=maps)
        with torch.inference_mode():  # the oracle's style heads are exactly vcn eval's style attributes
            for strength, r in style_readings(model, oracle, images, attrs, strengths, TEST_SEED, N_STYLE, 100, cpu):
                d, pr, k = r["style_diversity"], r["style_presence"], r["style_kept"]
                print(f"{'transfer residuals' if maps else 'bank'}, style strength {strength}: mean of {len(d)} "
                      f"styles {sum(d.values()) / len(d):.3f}, rest kept {sum(k.values()) / len(k):.4f} | "
                      + ", ".join(f"{n} {d[n]:.2f} / {pr[n]:.2f} / {k[n]:.3f}" for n in NAMED), flush=True)


if __name__ == "__main__":
    main()
