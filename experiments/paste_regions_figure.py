"""docs/img/paste_regions.png: pasted Bangs resamples without and with paste regions (session 25), side by side.

Per row, one of vcn eval's Bangs faces: the input, then 5 pasted resamples of Bangs (seed 0) from stage 17 (no
regions), then the same 5 from the file with regions, at 4x. Rows where the two differ are shown first.
Usage: python experiments/paste_regions_figure.py [BEFORE] [AFTER] [OUT]
"""

from __future__ import annotations

import sys

import torch
from figures import eval_faces, save_rows

from model.checkpoint import load_vcn
from model.data import faces

N = 5


def main() -> None:
    before = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "runs/s24/fit3.safetensors").eval()
    after = load_vcn(sys.argv[2] if len(sys.argv) > 2 else "weights/faces.safetensors").eval()
    out = sys.argv[3] if len(sys.argv) > 3 else "docs/img/paste_regions.png"
    batch, images = eval_faces(60)
    wear = [i for i in range(len(images)) if batch.attrs[i, faces.ATTRIBUTES.index("Bangs")]]
    rows = []
    with torch.inference_mode():
        for i in wear:
            x = images[i : i + 1]
            a, b = (m.resample(x, "Bangs", N, seed=0, paste=True) for m in (before, after))
            rows.append((float((a - b).abs().mean()), torch.cat([x, a, b])))
    rows.sort(key=lambda r: -r[0])
    save_rows([r[1] for r in rows[:6]], out)


if __name__ == "__main__":
    main()
