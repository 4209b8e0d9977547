"""docs/img/style_strength.png: style resamples at style strength 1 and at the shipped file's own.

For the first test face (vcn eval's seed) wearing each of Eyeglasses, Bangs and Wearing_Hat, two rows:
the face, its reconstruction and 8 resamples of that attribute's style (seed 3), first at strength 1, then
at the file's style_strength. Usage: python experiments/style_figure.py [WEIGHTS] [OUT]
"""

from __future__ import annotations

import dataclasses
import sys

import torch
from torchvision.utils import save_image

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED


def main() -> None:
    weights = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/style_strength.png"
    model = load_vcn(weights).eval()
    shipped = model.cfg.style_strength
    batch = faces.sample_faces(TEST_SEED, 0, 200)
    images = torch.as_tensor(faces.render(batch, size=64)).permute(0, 3, 1, 2).float() / 255
    rows = []
    for name in ("Eyeglasses", "Bangs", "Wearing_Hat"):
        wearing = [i for i in range(len(images)) if batch.attrs[i, faces.ATTRIBUTES.index(name)]][:1]
        for i in wearing:
            x = images[i : i + 1]
            for s in (1.0, shipped):
                model.cfg = dataclasses.replace(model.cfg, style_strength=s)
                rows.append(torch.cat([x, model.reconstruct(x), model.resample(x, name, 8, seed=3)]))
    save_image(torch.cat(rows), out, nrow=10, padding=1)
    print(f"wrote {out} (rows in pairs: strength 1, then {shipped})")


if __name__ == "__main__":
    main()
