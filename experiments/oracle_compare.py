"""Two or more face oracles read the same faces: vcn eval's test faces (seed 10,000, which no oracle trains on)
and the renderer's own counterfactuals of the first 150 of them (the eval's reference: what each oracle allows).

    PYTHONPATH=. python experiments/oracle_compare.py weights/oracle.safetensors runs/oracle_s5.safetensors

Prints, per oracle: attribute accuracy (mean, worst, the mouth attributes), style-id accuracy (pooled and
Eyeglasses / Bangs / Wearing_Hat), nuisance MAE, and the reference edit_success / edit_preservation
(attributes / nuisance apart). Session 16 (docs/recipes-sessions-15-16.md): the kept target of 98 % sits at session 2's
oracle's own reference, 98.1 %, so that oracle cannot tell a 98 % model from a perfect one.
"""

from __future__ import annotations

import argparse

import torch

from model.counterfactual import reference_edit_metrics
from model.data import faces
from model.evaluate import N_EDIT, N_TEST, TEST_SEED, _prepare
from model.oracle import _chunked, _to_float, load_oracle, measure_oracle

CPU = torch.device("cpu")
SHOWN = ("Smiling", "Mouth_Slightly_Open", "High_Cheekbones", "Big_Lips")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("oracles", nargs="+")
    p.add_argument("--n", type=int, default=N_TEST, help="test faces read (default: the eval's 2,000)")
    p.add_argument("--n-edit", type=int, default=N_EDIT, help="faces whose 40 renderer flips are read")
    a = p.parse_args()
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    images = torch.as_tensor(faces.render(batch, size=64))
    held = (images, torch.as_tensor(batch.attrs).float(), torch.as_tensor(batch.styles),
            torch.as_tensor(batch.nuisance))
    edit_batch = batch.take(slice(0, a.n_edit))
    for path in a.oracles:
        oracle = _prepare(load_oracle(path), CPU)
        # read as train_oracle measures its held-out faces
        m = measure_oracle(oracle, ((_to_float(x), *rest) for x, *rest in _chunked(held, 500)))
        per, style = m["attr_accuracy_per_attribute"], m["style_accuracy_per_attribute"]
        ref = reference_edit_metrics(oracle, images[:a.n_edit], edit_batch, TEST_SEED, 100, CPU)
        print(f"{path}: {a.n} test faces of seed {TEST_SEED}")
        print(f"  attributes {m['attr_accuracy']:.4f} (worst {m['attr_accuracy_min']:.4f}); "
              + ", ".join(f"{k} {per[k]:.3f}" for k in SHOWN))
        print(f"  style ids {m['style_accuracy']:.4f} (Eyeglasses {style['Eyeglasses']:.3f}, "
              f"Bangs {style['Bangs']:.3f}, Wearing_Hat {style['Wearing_Hat']:.3f}); "
              f"nuisance MAE {m['nuisance_mae']:.4f}")
        print(f"  renderer's flips of {a.n_edit} faces: edit_success {ref['reference_edit_success']:.4f}, "
              f"kept {ref['reference_edit_preservation']:.4f} "
              f"(attributes {ref['reference_attribute_preservation']:.4f}, "
              f"nuisance {ref['reference_nuisance_preservation']:.4f})", flush=True)


if __name__ == "__main__":
    main()
