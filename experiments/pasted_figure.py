"""docs/img/pasted_edits.png: edits blended into the reconstruction (as shipped until session 12) and pasted
onto the input, side by side.

Per row, one test face (vcn eval's seed): the input, its reconstruction, then for each of Eyeglasses on,
Smiling flipped, Bangs on and Blond_Hair on the plain edit and the pasted one (seed 0), at 4x.
Usage: python experiments/pasted_figure.py [WEIGHTS] [OUT]
"""

from __future__ import annotations

import sys

import torch
from figures import eval_faces, save_rows

from model.checkpoint import load_vcn
from model.data import faces

EDITS = ("Eyeglasses", "Smiling", "Bangs", "Blond_Hair")


def main() -> None:
    weights = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/pasted_edits.png"
    model = load_vcn(weights).eval()
    batch, images = eval_faces(6)
    tiles = []
    for i in range(len(images)):
        x = images[i : i + 1]
        row = [x, model.reconstruct(x)]
        for name in EDITS:
            target = not bool(batch.attrs[i, faces.ATTRIBUTES.index(name)]) if name == "Smiling" else True
            row += [model.edit(x, {name: target}, seed=0), model.edit(x, {name: target}, seed=0, paste=True)]
        tiles.append(torch.cat(row))
    save_rows(tiles, out)


if __name__ == "__main__":
    main()
