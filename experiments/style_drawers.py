"""Which styles a file's resamples can draw at all (a probe, session 18):

    python experiments/style_drawers.py [WEIGHTS] [--name Bangs] [--strengths 1 2 3]

Every transfer residual of NAME's present capsule is drawn onto the first 4 calibration faces that wear NAME, as a
resample draws it (model.style_clusters.drawn_style_beliefs: the maps' capsule for the face plus the style strength
times the residual), and the calibration reader (weights/reader.safetensors, not the oracle) picks a style for each
picture: per style strength, how many of the T x 4 pictures it reads as each style; at the file's own strength, the
same per style cluster the file's resamples take in turn. Log: experiments/results/session18/style_drawers.log.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses

import torch

from model.calibrate import style_faces
from model.checkpoint import load_vcn
from model.oracle import load_oracle
from model.readings import to_input
from model.style_clusters import N_FACES, drawn_style_beliefs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--name", default="Bangs")
    p.add_argument("--reader", default="weights/reader.safetensors")
    p.add_argument("--strengths", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    a = p.parse_args()
    model, reader = load_vcn(a.weights).eval(), load_oracle(a.reader).eval()
    n_styles = reader.cfg.style_counts[reader.cfg.style_names.index(a.name)]
    images, attrs = style_faces(400, model.cfg.image_size)
    wearing = attrs[:, model.cfg.capsule_names.index(a.name)].nonzero().squeeze(1)[:N_FACES]
    x = to_input(images[wearing], model.device)
    slot = model.slot(a.name, True)
    print(f"{a.weights}: {a.name}'s {model.transfer_residual.shape[1]} residuals drawn onto {len(x)} calibration "
          f"faces; the reader's pick per picture, styles 0..{n_styles - 1}")
    for strength in sorted({*a.strengths, model.cfg.style_strength}):
        at = copy.copy(model)  # only the config differs
        at.cfg = dataclasses.replace(model.cfg, style_strength=strength)
        picks = drawn_style_beliefs(at, reader, x, a.name).view(-1, len(x), n_styles).argmax(-1)  # (T, F)
        print(f"  style strength {strength}: {torch.bincount(picks.flatten(), minlength=n_styles).tolist()}")
        if strength == model.cfg.style_strength and model.style_cluster.numel():
            for c in model.style_cluster[slot].unique().tolist():
                members = model.style_cluster[slot] == c
                print(f"    cluster {c} ({int(members.sum())} residuals): "
                      f"{torch.bincount(picks[members].flatten(), minlength=n_styles).tolist()}")


if __name__ == "__main__":
    main()
