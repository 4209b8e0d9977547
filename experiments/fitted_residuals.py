"""Residuals fitted per style (model/style_fit.py), read by the oracle one by one, a probe (session 24):

    PYTHONPATH=.:experiments python experiments/fitted_residuals.py [W] [--name Bangs] [--per-style 4] [--steps 150]

Fits `name`'s residuals as `vcn style-fit` does (on its faces; --steps 0 keeps the starts, the fit's residuals the
calibration reader sees draw each style most) and lets the oracle read every one drawn onto each of vcn eval's 30
style faces: how often each draws its own style, how many styles a face shows over all of them (and which faces
miss which), and how many distinct styles 10 resamples show when they take the styles in turn, a residual drawn
within each (a simulation of the clusters `vcn style-fit` stores; style_eval.py reads the file's own resamples).
Results: experiments/results/session24/fitted_residuals.log.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_inputs
from torch import Tensor, nn

from model.calibrate import style_faces
from model.oracle import load_oracle
from model.readings import to_input
from model.style_fit import FACES, drawn, fit_style


@torch.inference_mode()
def read_by_oracle(model: nn.Module, oracle: nn.Module, images: Tensor, attrs: Tensor, name: str, residuals: Tensor,
                   target: Tensor, label: str, n_resamples: int = 10, draws: int = 20) -> None:
    col, slot = list(model.cfg.capsule_names).index(name), model.slot(name, True)
    s_idx = oracle.cfg.style_names.index(name)
    n_styles = oracle.cfg.style_counts[s_idx]
    wear = attrs[:, col].nonzero().squeeze(1)[:30]
    x = to_input(images[wear], model.device)
    c, ctx, mask, _ = model._posterior(x)
    slots = torch.full((len(x),), slot)
    pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)
    read = torch.full((len(wear), len(residuals)), -1)
    for f in range(len(wear)):
        out = oracle.read(drawn(model, c[f : f + 1], ctx[f : f + 1], mask[f : f + 1], pred[f : f + 1], slot, residuals))
        read[f] = torch.where(out.attrs[:, col], out.styles[:, s_idx], -1)
    hit = (read == target.unsqueeze(0)).float().mean(0)
    per_style = [hit[target == s].mean().item() for s in range(n_styles)]
    shown = torch.stack([(read == s).any(1) for s in range(n_styles)], 1).float().sum(1).mean().item()
    g, distinct = torch.Generator().manual_seed(1), []
    for _ in range(draws):
        for f in range(len(wear)):
            start, seen = int(torch.randint(n_styles, (1,), generator=g)), set()
            for i in range(n_resamples):
                members = (target == (start + i) % n_styles).nonzero().squeeze(1)
                j = members[torch.randint(len(members), (1,), generator=g)]
                if read[f, j] >= 0:
                    seen.add(int(read[f, j]))
            distinct.append(len(seen))
    missing = {f: [s for s in range(n_styles) if not (read[f] == s).any()] for f in range(len(wear))}
    print("  faces missing a style over all: " + ", ".join(f"{f}: {m}" for f, m in missing.items() if m))
    print(f"{label}: oracle reads each residual's own style on " + " / ".join(f"{v:.2f}" for v in per_style)
          + f" of faces; {shown:.2f} styles a face over all {len(residuals)}; present on "
          f"{(read >= 0).float().mean():.3f} of draws; 10 resamples in turn: {sum(distinct) / len(distinct):.2f} "
          f"distinct (mean of {draws} draws)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--name", default="Bangs")
    p.add_argument("--per-style", type=int, default=4)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    _, oracle, model, images, attrs, _ = eval_inputs(a.weights)
    reader = load_oracle("weights/reader.safetensors").eval()
    for m in (model, reader, oracle):
        m.requires_grad_(False)
    fit_images, fit_attrs = style_faces(2000, model.cfg.image_size)
    wear = fit_attrs[:, list(model.cfg.capsule_names).index(a.name)].nonzero().squeeze(1)[:FACES]
    t0 = time.time()
    fitted = fit_style(model, reader, to_input(fit_images[wear], model.device), a.name, a.per_style, a.steps, log=print)
    print(f"fitted {len(fitted.residuals)} residuals in {time.time() - t0:.0f} s", flush=True)
    read_by_oracle(model, oracle, images, attrs, a.name, fitted.residuals, fitted.styles, f"fitted ({a.steps} steps)")


if __name__ == "__main__":
    main()
