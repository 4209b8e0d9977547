"""docs/img/swaps.png: attributes taken from a second face with /api/swap, as the server answers (pasted).

Per row, one test face (vcn eval's seed); then for each of Eyeglasses, Smiling, Bangs, Blond_Hair, Goatee and
Wearing_Hat the donor (the first of the next 60 test faces in the other state, as vcn eval picks donors) and the
face with that attribute taken from it, at 4x.
Usage: python experiments/swap_figure.py [WEIGHTS] [OUT]
"""

from __future__ import annotations

import sys

import torch
from figures import eval_faces, save_rows

from model.checkpoint import load_vcn
from model.data import faces

SWAPS = ("Eyeglasses", "Smiling", "Bangs", "Blond_Hair", "Goatee", "Wearing_Hat")


def main() -> None:
    weights = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/swaps.png"
    model = load_vcn(weights).eval()
    batch, images = eval_faces(66)
    columns = [faces.ATTRIBUTES.index(name) for name in SWAPS]
    states = torch.as_tensor(batch.attrs)[:, columns].bool()
    rows = []
    for i in range(6):
        x, row = images[i : i + 1], [images[i : i + 1]]
        for k, name in enumerate(SWAPS):
            donor = 6 + int((states[6:, k] != states[i, k]).nonzero()[0])
            x_b = images[donor : donor + 1]
            row += [x_b, model.swap(x, x_b, [name], paste=True)]
        rows.append(torch.cat(row))
    save_rows(rows, out)


if __name__ == "__main__":
    main()
