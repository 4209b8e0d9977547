"""Where edits lose what they should keep: vcn eval's edit protocol, the losses broken down.

    python experiments/kept_breakdown.py [WEIGHTS] [--n N] [--top T] [--reference]

Runs the shipped (verified, blended) edit of every attribute on the first N test faces (default 150: 6,000 edits,
vcn eval's seeds) and counts, as edit_preservation does (against the reconstruction's reading, forced attributes
not counted, nuisance where visible on both and within the tolerance), what was not kept: by the attribute edited,
by the other attribute read differently and by the nuisance factor moved. Prints the T largest of each as a share of
everything counted, so the rows add up to what edit_preservation misses. --reference: the renderer's own
counterfactuals instead of the model's edits (model/counterfactual.py: what the oracle allows a perfect editor).
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from eval_inputs import eval_inputs
from torch import Tensor

from model.counterfactual import CounterfactualEditor
from model.data import faces
from model.edit_metrics import nuisance_kept, references
from model.evaluate import TEST_SEED
from model.readings import read_map, take


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--n", type=int, default=150)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--reference", action="store_true")
    a = p.parse_args()
    cpu, oracle, model, images, _, _ = eval_inputs(a.weights)
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    images = images[: a.n]
    if a.reference:
        model = CounterfactualEditor(batch, images, tuple(faces.ATTRIBUTES))
    names, nuisance = tuple(model.cfg.capsule_names), tuple(oracle.cfg.nuisance_names)
    gt = torch.as_tensor(batch.attrs).bool()
    lost_by_edit, lost_attr, lost_nuisance = Counter(), Counter(), Counter()
    counted = 0
    with torch.inference_mode():
        recon, _ = references(model, oracle, images, 100, cpu)
        for k, name in enumerate(names):
            forced = torch.as_tensor(faces.flip(batch, name).attrs).bool() != gt
            for target in (True, False):
                idx = (gt[:, k] != target).nonzero().squeeze(1)
                if len(idx) == 0:
                    continue
                s0 = TEST_SEED + 1000 * (2 * k + int(target))

                def make(x: Tensor, i: int, name: str = name, target: bool = target, s0: int = s0) -> Tensor:
                    return model.edit(x, {name: target}, seed=s0 + i)

                got, _ = read_map(oracle, make, images[idx], 100, cpu)
                ref, free = take(recon, idx), ~forced[idx]
                changed = (got.attrs != ref.attrs) & free
                kept_n, visible = nuisance_kept(oracle, ref, got)
                moved = visible & ~kept_n
                counted += int(free.sum()) + int(visible.sum())
                lost_by_edit[name] += int(changed.sum()) + int(moved.sum())
                lost_attr.update({names[j]: int(v) for j, v in enumerate(changed.sum(0).tolist()) if v})
                lost_nuisance.update({nuisance[j]: int(v) for j, v in enumerate(moved.sum(0).tolist()) if v})
    total = sum(lost_by_edit.values())
    who = "the renderer" if a.reference else a.weights
    print(f"{who}: {a.n} faces, kept {1 - total / counted:.4f} ({total} of {counted} counted not kept)")
    tables = (("by the attribute edited", lost_by_edit), ("by the other attribute read differently", lost_attr),
              ("by the nuisance factor moved", lost_nuisance))
    for title, table in tables:
        print(f"  {title}: " + ", ".join(f"{n} {v / counted * 100:.2f}" for n, v in table.most_common(a.top))
              + " (points)")


if __name__ == "__main__":
    main()
