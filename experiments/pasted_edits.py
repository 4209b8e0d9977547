"""Pasted edits, an inference-time probe: blend each edit into the input image instead of its reconstruction.

    python experiments/pasted_edits.py [WEIGHTS] [--n 150] [--blend B ...]

A shipped edit is blended into the model's reconstruction (vcn.blend_edit: the edit where it changes the
picture, the reconstruction where it barely does), so everything the edit leaves alone is still the
decoder's redrawing of the face: a little blurred, and read differently by the oracle on 2.4 % of
attributes (reconstruction accuracy 97.6 %). `VCN.edit(..., paste=True)` keeps the input's own pixels there
instead. vcn eval's edit protocol (the first N test faces, every attribute flipped: 6,000 edits at 150) and
oracle, each edit decoded as shipped (verified, calibrated strengths), plain and pasted, at the model's blend
threshold and any given with --blend; kept is counted two ways: against the oracle's reading of the
reconstruction (edit_preservation, as vcn eval reports it) and against its reading of the input
(input_preservation: what a user sees as "the rest of my photo"), the latter also for the renderer's own
counterfactuals (reference: the most this oracle allows). One JSON line per row. With --residual, also
pasted rows where the edit's change is added to the input instead (x + w * (edit - reconstruction), clamped
to [0, 1]): the input's texture kept under a colour change, at the risk of ghosts where the reconstruction
and the input differ. With --kernels K..., only pasted rows, with the blend's change smoothed over K x K pixels
instead of 5 x 5.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time

import torch
from torch import Tensor

import model.vcn as vcn_module
from model.checkpoint import load_vcn
from model.counterfactual import CounterfactualEditor
from model.data import faces
from model.edit_metrics import edit_metrics
from model.evaluate import DEFAULT_ORACLE, N_EDIT, TEST_SEED
from model.oracle import load_oracle

KEYS = ("edit_success", "edit_preservation", "attribute_preservation", "nuisance_preservation",
        "input_preservation", "input_attribute_preservation", "input_nuisance_preservation")


def residual_blend(edited: Tensor, recon: Tensor, threshold: float, kernel: int = 5,
                   base: Tensor | None = None) -> Tensor:
    """blend_edit's weights, the change added to base (the input) rather than base replaced by the edit."""
    if base is None:
        return PLAIN_BLEND(edited, recon, threshold, kernel)
    d = (edited - recon).abs().mean(dim=1, keepdim=True)
    d = torch.nn.functional.avg_pool2d(d, kernel, stride=1, padding=kernel // 2, count_include_pad=False)
    w = (d / threshold).clamp(max=1.0)
    return (base + w * (edited - recon)).clamp(0, 1)


PLAIN_BLEND = vcn_module.blend_edit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--n", type=int, default=N_EDIT)
    p.add_argument("--blend", type=float, nargs="*", default=[], help="edit_blend thresholds besides the model's")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--residual", action="store_true", help="also rows with the edit's change added to the input")
    p.add_argument("--only-residual", action="store_true", help="only those rows")
    p.add_argument("--kernels", type=int, nargs="*", default=[],
                   help="pasted rows only, at the model's threshold, with these smoothing kernels instead of 5")
    a = p.parse_args()
    torch.set_num_threads(2)
    oracle = load_oracle(DEFAULT_ORACLE).eval()
    model = load_vcn(a.weights).eval()
    test = faces.sample_faces(TEST_SEED, 0, a.n)
    images = torch.as_tensor(faces.render(test, size=model.cfg.image_size, workers=2))
    shipped = model.cfg
    rows = [("reference", None, None)] if not a.no_reference else []
    for blend in [shipped.edit_blend, *a.blend]:
        rows += [] if a.only_residual else [("plain", blend, False), ("pasted", blend, True)]
        rows += [("residual", blend, True)] if a.residual or a.only_residual else []
    if a.kernels:
        rows = [(f"pasted, kernel {k}", shipped.edit_blend, True) for k in a.kernels]
    for label, blend, paste in rows:
        t0 = time.time()
        vcn_module.blend_edit = residual_blend if label == "residual" else PLAIN_BLEND
        if label.startswith("pasted, kernel"):
            vcn_module.blend_edit = functools.partial(PLAIN_BLEND, kernel=int(label.split()[-1]))
        if blend is None:
            editor = CounterfactualEditor(test, images, tuple(faces.ATTRIBUTES))
            e = edit_metrics(editor, oracle, images, test, TEST_SEED, 100, torch.device("cpu"))
        else:
            model.cfg = dataclasses.replace(shipped, edit_blend=blend)
            e = edit_metrics(model, oracle, images, test, TEST_SEED, 100, model.device, paste=paste)
        print(json.dumps({"row": label, "blend": blend, "n": a.n, **{k: round(e[k], 4) for k in KEYS},
                          "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
