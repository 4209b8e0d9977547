"""Which styles the decoder can draw at all, and whether the encoder carries them (a probe, session 17):

    python experiments/style_ceiling.py [WEIGHTS] [--faces N] [--oracle O]

A resample can only show a style the decoder draws. For Eyeglasses / Bangs / Wearing_Hat:
1. The first N test faces (vcn eval's seed) that have the attribute are rendered again in every style id (the
   renderer's counterfactual: the same face, only the style changed), and the oracle reads, per style id, the share
   of faces on which it sees the attribute present *and* that style: on the rendered image itself (the oracle's own
   ceiling), on the model's reconstruction of it, and on the face as rendered with its own style with the
   attribute's capsule pair swapped in from the restyled twin (VCN.swap: what a style swap draws, and the best a
   resample can hope for, since its capsule comes from a real face too).
2. Does the encoder carry the style? PROBE_FACES unseen training-seed faces with the attribute, each rendered in
   every style, are encoded; a linear classifier of the present capsule's mean (D numbers) learns the style id on
   70 % of the faces and is scored on the other 30 % (every style of a face on the same side).
3. Can the decoder draw it from a typical capsule? The test faces' present capsule is replaced by each style's mean
   capsule (from 2), then pushed k times further from the mean of all styles, and decoded; read as in 1.
Log: experiments/results/session17/style_ceiling.log.
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from model.calibrate import STYLE_START
from model.checkpoint import load_vcn
from model.data import faces
from model.data.faces_attributes import STYLE_COUNTS
from model.evaluate import TEST_SEED
from model.oracle import load_oracle
from model.readings import to_input

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")
PROBE_START = STYLE_START + 90_000  # training seed, past the calibration and style-calibration faces
PROBE_FACES = 400
PUSHES = (0.0, 1.0, 2.0)


def shown(reading, a: int, s: int, style: int) -> float:
    """Share of rows the oracle reads with attribute a present and style head s at `style`."""
    return float((reading.attrs[:, a] & (reading.styles[:, s] == style)).float().mean())


def linear_probe(x: Tensor, y: Tensor, train: Tensor, classes: int) -> Tensor:
    """Multinomial logistic regression (L-BFGS, a little L2) on x[train] (N, D) -> y: per-row correct (bool) on
    the rows not in train."""
    xb = torch.cat([x, torch.ones(len(x), 1)], 1)
    w = torch.zeros(xb.shape[1], classes, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xb[train] @ w, y[train]) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (xb[~train] @ w).argmax(1) == y[~train]


def rendered(model, batch, name: str, style: int) -> Tensor:
    return to_input(torch.as_tensor(faces.render(faces.with_styles(batch, name, style), size=model.cfg.image_size)),
                    model.device)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--faces", type=int, default=60)
    p.add_argument("--oracle", default="weights/oracle.safetensors")
    a = p.parse_args()
    torch.set_num_threads(2)
    model, oracle = load_vcn(a.weights).eval(), load_oracle(a.oracle).eval()
    test, train = faces.sample_faces(TEST_SEED, 0, 2000), faces.sample_faces(0, PROBE_START, 20_000)
    names = model.cfg.capsule_names
    print(f"{a.weights}, oracle {a.oracle}: the first {a.faces} test faces with each attribute, every style id; "
          "share read as present with that style")
    for name in NAMED:
        k, s, slot = names.index(name), oracle.cfg.style_names.index(name), model.slot(name)
        n_styles = STYLE_COUNTS[name]
        sub = test.take(test.attrs[:, k].nonzero()[0][: a.faces])
        seen = train.take(train.attrs[:, k].nonzero()[0][:PROBE_FACES])
        with torch.inference_mode():
            own = to_input(torch.as_tensor(faces.render(sub, size=model.cfg.image_size)), model.device)
            rows = []
            for style in range(n_styles):
                x = rendered(model, sub, name, style)
                rows.append([shown(oracle.read(img), k, s, style)
                             for img in (x, model.reconstruct(x), model.swap(own, x, [name]))])
            mus = [model.encode(rendered(model, seen, name, style)).mu[:, slot].float() for style in range(n_styles)]
            c_own, ctx, mask, _ = model._posterior(own)  # the faces' capsules at their means, the mask they predict
        x, y = torch.cat(mus), torch.arange(n_styles).repeat_interleave(len(mus[0]))
        train_rows = torch.arange(len(x)) % len(mus[0]) < int(0.7 * len(mus[0]))  # every style of a face on one side
        right, held = linear_probe(x, y, train_rows, n_styles), y[~train_rows]
        means = torch.stack([m.mean(0) for m in mus])
        centre = means.mean(0)
        pushed = []
        with torch.inference_mode():
            for style in range(n_styles):
                row = []
                for push in PUSHES:
                    c = c_own.clone()
                    c[:, slot] = (means[style] + push * (means[style] - centre)).to(c.dtype)
                    row.append(shown(oracle.read(model.decode(c, mask, ctx, mask_input=mask)), k, s, style))
                pushed.append(row)
        print(f"{name} ({len(sub.attrs)} test faces; probe on {len(seen.attrs)} training-seed faces): style id: "
              f"rendered / reconstructed / swapped onto the face | linear probe of the capsule | decoded from the "
              f"style's mean capsule pushed {' / '.join(str(v) for v in PUSHES)}")
        for style, (ren, rec, swp) in enumerate(rows):
            print(f"  {style}: {ren:.2f} / {rec:.2f} / {swp:.2f} | {right[held == style].float().mean():.2f} | "
                  + " / ".join(f"{v:.2f}" for v in pushed[style]))
        means_of = [sum(col) / len(col) for col in zip(*rows, strict=True)]
        print(f"  mean: {means_of[0]:.2f} / {means_of[1]:.2f} / {means_of[2]:.2f} | {right.float().mean():.2f} | "
              + " / ".join(f"{sum(col) / len(col):.2f}" for col in zip(*pushed, strict=True)), flush=True)


if __name__ == "__main__":
    main()
