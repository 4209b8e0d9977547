"""How many styles the shipped resample path can draw on a face at all, a probe (session 20):

    python experiments/residual_ceiling.py [W] [--push S ...]

A resample's capsule is the maps' prediction for the face plus style_strength times one of the transfer fit's T
residuals (CapsuleEdits.restyled); 10 resamples take 10 of them. Here every one of the T residuals is drawn onto each
of vcn eval's 30 style faces of Eyeglasses / Bangs / Wearing_Hat (its test set; at the file's style strength, or at
each --push), and the oracle reads them all: distinct styles over all T (what any choice of 10 residuals could show
at most, were each face's 10 picked perfectly), with at least 3 draws, and each style's share of the draws.
Results: experiments/results/session20/residual_ceiling.log.
"""

from __future__ import annotations

import argparse

import torch
from eval_inputs import eval_inputs

from model.readings import to_input

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--push", type=float, nargs="+", default=[None])
    a = p.parse_args()
    _, oracle, model, images, attrs, _ = eval_inputs(a.weights)
    names = list(model.cfg.capsule_names)
    for push in a.push:
        s_push = model.cfg.style_strength if push is None else push
        for name in NAMED:
            col, s = names.index(name), oracle.cfg.style_names.index(name)
            slot, count = model.slot(name, True), oracle.cfg.style_counts[s]
            residuals = model.transfer_residual[slot]
            t = len(residuals)
            faces = attrs[:, col].nonzero().squeeze(1)[:30]
            drawn = torch.zeros(len(faces), count)
            with torch.inference_mode():
                c, ctx, mask, _ = model._posterior(to_input(images[faces], model.device))
                slots = torch.full((len(faces),), slot)
                pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)
                for f in range(len(faces)):
                    caps = c[f : f + 1].repeat(t, 1, 1)
                    caps[:, slot] = pred[f] + s_push * residuals  # as CapsuleEdits.restyled draws each
                    m = mask[f : f + 1].expand(t, -1)
                    r = oracle.read(model.decode(caps, m, ctx[f : f + 1].expand(t, -1), mask_input=m))
                    drawn[f] = torch.bincount(r.styles[r.attrs[:, col], s], minlength=count).float()
            share = drawn.sum(0) / drawn.sum()
            print(f"{name} at style strength {s_push}: over all {t} residuals {(drawn > 0).sum(1).float().mean():.2f} "
                  f"distinct styles a face (at least 3 draws: {(drawn >= 3).sum(1).float().mean():.2f}), present on "
                  f"{drawn.sum() / (t * len(faces)) * 100:.0f} % of draws; each style's share of the draws "
                  + " / ".join(f"{v * 100:.0f}" for v in share.tolist()) + " %", flush=True)


if __name__ == "__main__":
    main()
