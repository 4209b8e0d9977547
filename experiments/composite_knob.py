"""Probe: keep the reconstruction's pixels where an edit barely changes them (difference-mask compositing).

    python experiments/composite_knob.py WEIGHTS THRESHOLD ...

out = recon + m * (edited - recon), m = clamp((d - t) / t, 0, 1) with d the edit's mean absolute change per
pixel (over channels, smoothed 5x5) and t the threshold (0 = no compositing). Global low-amplitude drift
(background hue, skin tone, lighting) falls under the threshold and is taken back from the reconstruction;
local changes (glasses, a hat) stay. Same protocol and seeds as vcn eval's edit metrics (edit_knobs.py);
prints one JSON line per threshold. Not part of the VCN unless it pays.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import edit_metrics
from model.evaluate import DEFAULT_ORACLE, N_EDIT, TEST_SEED
from model.oracle import load_oracle


def composited(model, plain_edit, threshold: float):
    """model.edit's replacement: plain_edit (the model's own edit), then the composite."""

    def edit(x, set=None, resample=(), seed=0):
        edited = plain_edit(x, set, resample=resample, seed=seed)
        if threshold <= 0:
            return edited
        recon = model.reconstruct(x)
        d = F.avg_pool2d((edited - recon).abs().mean(1, keepdim=True), 5, 1, 2)
        m = ((d - threshold) / threshold).clamp(0, 1)
        return recon + m * (edited - recon)

    return edit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights")
    p.add_argument("thresholds", type=float, nargs="+")
    p.add_argument("--oracle", default=str(DEFAULT_ORACLE))
    a = p.parse_args()
    model, oracle = load_vcn(a.weights), load_oracle(a.oracle)
    batch = faces.sample_faces(TEST_SEED, 0, N_EDIT)
    images = torch.from_numpy(faces.render(batch, model.cfg.image_size))
    plain = model.edit
    for t in a.thresholds:
        model.edit = composited(model, plain, t)
        start = time.time()
        r = edit_metrics(model, oracle, images, batch, TEST_SEED, 100, torch.device("cpu"))
        print(json.dumps({"threshold": t, **{k: round(v, 4) for k, v in r.items() if isinstance(v, float)},
                          "seconds": round(time.time() - start)}), flush=True)


if __name__ == "__main__":
    main()
