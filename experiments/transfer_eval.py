"""Edit and style metrics of faces checkpoints, side by side, with vcn eval's protocol and seeds:

    python experiments/transfer_eval.py WEIGHTS[:FIELD=VALUE,...] ...

edit_metrics on the first 150 test faces (every attribute flipped: 6,000 edits) and style_metrics (30 faces
per style attribute, 10 resamples each). FIELD=VALUE overrides float inference settings of the model's
config, e.g. transfer_variety (model/transfer.py) or edit_blend; strength=S drops the calibrated per-attribute
strengths and edits every attribute at S, unverified (as an explicit strength in a request is). Accuracy,
samples and FD are what `vcn eval` adds; these settings change none of them. A CVAE baseline file takes
strength=S too (its edit_strength).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import torch

from model.baseline import load_baseline
from model.calibrate import with_strength
from model.checkpoint import load_vcn, read_checkpoint
from model.data import faces
from model.edit_metrics import edit_metrics, style_metrics
from model.evaluate import DEFAULT_ORACLE, N_EDIT, N_STYLE, TEST_SEED
from model.oracle import load_oracle

STYLES = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    oracle = load_oracle(DEFAULT_ORACLE)
    test = faces.sample_faces(TEST_SEED, 0, 2000)
    images = torch.as_tensor(faces.render(test, size=64, workers=2))
    attrs = torch.as_tensor(test.attrs).bool()
    for spec in sys.argv[1:]:
        t0 = time.time()
        path, _, settings = spec.partition(":")
        baseline = read_checkpoint(path)[1].get("role") == "baseline"
        model = (load_baseline(path) if baseline else load_vcn(path)).eval()
        fields = {k: float(v) for k, v in (kv.split("=") for kv in settings.split(",") if kv)}
        strength = fields.pop("strength", None)
        if strength is not None and not baseline:  # the calibrated and verified strengths make way for the one asked
            model = with_strength(model, strength)
        elif strength is not None:  # the baseline has only the one strength
            fields["edit_strength"] = strength
        model.cfg = dataclasses.replace(model.cfg, **fields)
        e = edit_metrics(model, oracle, images[:N_EDIT], test.take(slice(0, N_EDIT)), TEST_SEED, 100, model.device)
        s = style_metrics(model, oracle, images, attrs, STYLES, N_STYLE, TEST_SEED, 100, model.device)
        row = {k: round(e[k], 4) for k in ("edit_success", "edit_preservation", "attribute_preservation",
                                           "nuisance_preservation", "style_preservation")}
        row["style_diversity"] = {k: round(v, 2) for k, v in s["style_diversity"].items()}
        print(json.dumps({"weights": spec, **row, "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
