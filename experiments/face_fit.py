"""Residuals fitted to each face at request time, a probe (session 25): can the decoder draw every Bangs cut on the
faces where no stored residual does?

    PYTHONPATH=.:experiments python experiments/face_fit.py [W] [--name Bangs] [--steps 0 30 60]

For each of vcn eval's 30 style faces of `name`, residuals are fitted as `vcn style-fit` fits them (model/style_fit
.fit_style: reader's style cross-entropy, presence, the rest as on the reconstruction, the norm cap), but on that
one face alone, starting from the file's residuals the calibration reader sees draw each style most on it. The oracle
then reads every fitted residual drawn onto the face: how many styles a face shows over all of them (session 24: the
stored fitted residuals show 3.77 Bangs cuts a face, the renderer's own restyles 3.90) and what the fit costs.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_inputs

from model.oracle import load_oracle
from model.readings import to_input
from model.style_fit import drawn, fit_style


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--name", default="Bangs")
    p.add_argument("--steps", type=int, nargs="+", default=[0, 30, 60])
    p.add_argument("--faces", type=int, default=30)
    a = p.parse_args()
    cpu, oracle, model, images, attrs, _ = eval_inputs(a.weights)
    reader = load_oracle("weights/reader.safetensors").eval()
    model.requires_grad_(False)
    reader.requires_grad_(False)
    name = a.name
    col, slot = list(model.cfg.capsule_names).index(name), model.slot(name, True)
    s_idx = oracle.cfg.style_names.index(name)
    n_styles = oracle.cfg.style_counts[s_idx]
    wear = attrs[:, col].nonzero().squeeze(1)[: a.faces]
    for steps in a.steps:
        t0, shown, missing = time.time(), [], {}
        for f, i in enumerate(wear.tolist()):
            x = to_input(images[i : i + 1], cpu)
            fitted = fit_style(model, reader, x, name, per_style=1, steps=steps, batch_faces=1, lr=0.05, seed=f)
            with torch.inference_mode():
                c, ctx, mask, _ = model._posterior(x)
                slots = torch.full((1,), slot)
                pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)
                out = oracle.read(drawn(model, c, ctx, mask, pred, slot, fitted.residuals))
            read = torch.where(out.attrs[:, col], out.styles[:, s_idx], -1)
            got = {int(s) for s in read.tolist() if s >= 0}
            shown.append(len(got))
            if len(got) < n_styles:
                missing[f] = sorted(set(range(n_styles)) - got)
        per_face = (time.time() - t0) / len(wear)
        print(f"{name}, {steps} steps on the face itself: {sum(shown) / len(shown):.2f} styles a face over its "
              f"{len(fitted.residuals)} residuals; faces missing a style: {missing}; {per_face:.2f} s a face",
              flush=True)


if __name__ == "__main__":
    main()
