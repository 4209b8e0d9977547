"""docs/img/style_lever.png: style resamples before and after session 15's style lever (faces stage 10).

For the first test face (vcn eval's seed) wearing each of Eyeglasses, Bangs and Wearing_Hat, two rows: the face,
its reconstruction and 8 resamples of that attribute's style (seed 3, each file at its own style strength), first by
the file before the lever, then by the one after. Usage: python experiments/lever_figure.py BEFORE AFTER [OUT]
(BEFORE: session 14's file, e.g. `git show 64c0e64:weights/faces.safetensors > /tmp/before.safetensors`).
"""

from __future__ import annotations

import sys

import torch
from figures import eval_faces, save_rows

from model.checkpoint import load_vcn
from model.data import faces


def main() -> None:
    before, after = (load_vcn(w).eval() for w in sys.argv[1:3])
    out = sys.argv[3] if len(sys.argv) > 3 else "docs/img/style_lever.png"
    batch, images = eval_faces(200)
    rows = []
    with torch.inference_mode():
        for name in ("Eyeglasses", "Bangs", "Wearing_Hat"):
            i = next(i for i in range(len(images)) if batch.attrs[i, faces.ATTRIBUTES.index(name)])
            x = images[i : i + 1]
            rows += [torch.cat([x, m.reconstruct(x), m.resample(x, name, 8, seed=3)]) for m in (before, after)]
    save_rows(rows, out, scale=2)


if __name__ == "__main__":
    main()
