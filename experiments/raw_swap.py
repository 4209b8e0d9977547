"""A style swap without the transfer maps (a probe, session 18):

    python experiments/raw_swap.py W [W2 ...]

style_ceiling.py swaps Bangs' capsule pair in from a face's own restyled twin through VCN.swap: the maps' capsule for
the face plus the twin's residual beyond the maps' capsule for the twin, pushed by the file's style strength, as a
resample draws it. Here the pair is taken as it is (the twin's posterior means, the rest the face's own, decoded
under the face's mask), on the same first 60 test faces wearing Bangs, each cut in turn; the oracle reads the share
drawn present in that cut. Log: experiments/results/session18/raw_swap.log.
"""

from __future__ import annotations

import argparse

import torch
from style_ceiling import shown

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED
from model.oracle import load_oracle
from model.readings import to_input

NAME = "Bangs"
FACES = 60


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="+")
    p.add_argument("--oracle", default="weights/oracle.safetensors")
    a = p.parse_args()
    oracle = load_oracle(a.oracle).eval()
    test = faces.sample_faces(TEST_SEED, 0, 2000)
    k, s = faces.ATTRIBUTES.index(NAME), oracle.cfg.style_names.index(NAME)
    sub = test.take(test.attrs[:, k].nonzero()[0][:FACES])
    restyled = [torch.as_tensor(faces.render(faces.with_styles(sub, NAME, style), size=64))
                for style in range(oracle.cfg.style_counts[s])]  # rendered once for every file
    for w in a.weights:
        model = load_vcn(w).eval()
        pair = [model.slot(NAME, True), model.slot(NAME, False)]
        shares = []
        with torch.inference_mode():
            c, ctx, mask, _ = model._posterior(to_input(torch.as_tensor(faces.render(sub, size=64)), model.device))
            for style, images in enumerate(restyled):
                twin = model._posterior(to_input(images, model.device))[0]
                swapped = c.clone()
                swapped[:, pair] = twin[:, pair]
                shares.append(shown(oracle.read(model.decode(swapped, mask, ctx, mask_input=mask)), k, s, style))
        print(f"{w}: {NAME}'s pair swapped in as it is from the twin in each cut, the oracle reads that cut on "
              + " / ".join(f"{v:.2f}" for v in shares) + f" (mean {sum(shares) / len(shares):.2f})", flush=True)


if __name__ == "__main__":
    main()
