"""Where edits lose what they should keep: vcn eval's edit protocol, the losses broken down.

    python experiments/kept_breakdown.py [WEIGHTS] [--n N] [--top T] [--reference] [--strength S]

Runs the shipped (verified, blended) edit of every attribute on the first N test faces (default 150: 6,000 edits,
vcn eval's seeds) and counts, as edit_preservation does (against the reconstruction's reading, forced attributes
not counted, nuisance where visible on both and within the tolerance), what was not kept: by the attribute edited,
by the other attribute read differently and by the nuisance factor moved. Prints the T largest of each as a share of
everything counted, so the rows add up to what edit_preservation misses. --reference: the renderer's own
counterfactuals instead of the model's edits (model/counterfactual.py: what the oracle allows a perfect editor).
--strength S: every edit at strength S, unverified, the calibrated strengths dropped (transfer_eval.py's strength=S).
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from eval_inputs import eval_inputs

from model.calibrate import with_strength
from model.counterfactual import CounterfactualEditor
from model.data import faces
from model.edit_metrics import edit_readings, nuisance_kept, references
from model.evaluate import TEST_SEED
from model.readings import take


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--n", type=int, default=150)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--reference", action="store_true")
    p.add_argument("--strength", type=float, default=None, help="edit at this strength, unverified")
    p.add_argument("--oracle", default="weights/oracle.safetensors", help="the judge (default: vcn eval's)")
    a = p.parse_args()
    cpu, oracle, model, images, _, _ = eval_inputs(a.weights, a.oracle)
    if a.strength is not None:
        model = with_strength(model, a.strength)
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    images = images[: a.n]
    if a.reference:
        model = CounterfactualEditor(batch, images, tuple(faces.ATTRIBUTES))
    names, nuisance = tuple(model.cfg.capsule_names), tuple(oracle.cfg.nuisance_names)
    lost_by_edit, lost_attr, lost_nuisance = Counter(), Counter(), Counter()
    counted = 0
    with torch.inference_mode():
        recon, _ = references(model, oracle, images, 100, cpu)
        for k, _, idx, got, free in edit_readings(model, oracle, images, batch, TEST_SEED, 100, cpu):
            ref = take(recon, idx)
            changed = (got.attrs != ref.attrs) & free
            kept_n, visible = nuisance_kept(oracle, ref, got)
            moved = visible & ~kept_n
            counted += int(free.sum()) + int(visible.sum())
            lost_by_edit[names[k]] += int(changed.sum()) + int(moved.sum())
            lost_attr.update({names[j]: int(v) for j, v in enumerate(changed.sum(0).tolist()) if v})
            lost_nuisance.update({nuisance[j]: int(v) for j, v in enumerate(moved.sum(0).tolist()) if v})
    total = sum(lost_by_edit.values())
    who = "the renderer" if a.reference else a.weights + ("" if a.strength is None else f" at strength {a.strength:g}")
    print(f"{who}: {a.n} faces, kept {1 - total / counted:.4f} ({total} of {counted} counted not kept)")
    tables = (("by the attribute edited", lost_by_edit), ("by the other attribute read differently", lost_attr),
              ("by the nuisance factor moved", lost_nuisance))
    for title, table in tables:
        print(f"  {title}: " + ", ".join(f"{n} {v / counted * 100:.2f}" for n, v in table.most_common(a.top))
              + " (points)")


if __name__ == "__main__":
    main()
