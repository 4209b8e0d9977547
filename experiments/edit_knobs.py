"""Edit metrics of one faces checkpoint under the inference-time edit knobs, with vcn eval's protocol and
seeds (model.edit_metrics.edit_metrics on the first 150 test faces, every attribute flipped: 6,000 edits).

    python experiments/edit_knobs.py WEIGHTS [--rules 0|1] [--where mask|caps|both] [--oracle O] STRENGTH ...

--rules 0: edits leave exclusive partners on (the behaviour before VCNConfig.exclusive).
--where: which generator input the strength extrapolates: "mask" (what VCN.edit does), "caps" (the masked
capsules only) or "both" (a soft capsule mask, which a mask-input generator then also reads).
Prints one JSON line of metrics per strength, then the per-attribute edit success. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from model.capsules import mask_capsules
from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import edit_metrics
from model.evaluate import DEFAULT_ORACLE, N_EDIT, TEST_SEED
from model.oracle import load_oracle


def knob_edit(model, strength: float, where: str, rules: bool):
    @torch.inference_mode()
    def edit(x, set=None, resample=(), seed=0):
        c, ctx, mask, _ = model._posterior(x)
        before = mask.clone()
        model._set_states(c, mask, dict(set or {}), torch.Generator().manual_seed(int(seed)), rules)
        pushed = torch.lerp(before, mask, strength)
        caps = mask_capsules(c, pushed if where in ("caps", "both") else mask)
        read = pushed if where in ("mask", "both") else mask
        return model.generator(caps, ctx, read if model.cfg.mask_input else None)

    return edit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights")
    p.add_argument("strengths", type=float, nargs="+")
    p.add_argument("--rules", type=int, choices=[0, 1], default=1)
    p.add_argument("--where", choices=["mask", "caps", "both"], default="mask")
    p.add_argument("--oracle", default=str(DEFAULT_ORACLE), help="the reader (default: the eval oracle)")
    a = p.parse_args()
    torch.set_num_threads(1)
    model, oracle = load_vcn(a.weights), load_oracle(a.oracle)
    batch = faces.sample_faces(TEST_SEED, 0, N_EDIT)
    images = torch.from_numpy(faces.render(batch, model.cfg.image_size))
    for s in a.strengths:
        model.edit = knob_edit(model, s, a.where, bool(a.rules))
        t = time.time()
        r = edit_metrics(model, oracle, images, batch, TEST_SEED, 100, torch.device("cpu"))
        summary = {k: round(v, 4) for k, v in r.items() if isinstance(v, float)}
        print(json.dumps({"strength": s, "where": a.where, "rules": a.rules, **summary,
                          "seconds": round(time.time() - t)}), flush=True)
        print(json.dumps({k: round(v, 3) for k, v in r["edit_success_per_attribute"].items()}), flush=True)


if __name__ == "__main__":
    main()
