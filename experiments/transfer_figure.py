"""docs/img/transfer_edits.png: python experiments/transfer_figure.py [WEIGHTS] [OUT]

Six test faces (seed 10,000), one row each; columns: the face, its reconstruction, Smiling flipped as
session 4 edited (a banked capsule, no blend) and as shipped now (transfer maps + blend), Eyeglasses
flipped the same two ways, and a Smiling style resample the same two ways. The same network weights in
every column: the old way is the shipped file with cfg.transfer_maps and edit_blend set to 0.
"""

from __future__ import annotations

import dataclasses
import sys

import torch
from PIL import Image

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED


@torch.inference_mode()
def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/transfer_edits.png"
    new = load_vcn(path)
    old = load_vcn(path)
    old.cfg = dataclasses.replace(old.cfg, transfer_maps=0, edit_blend=0.0)
    batch = faces.sample_faces(TEST_SEED, 0, 6)
    x = torch.from_numpy(faces.render(batch, new.cfg.image_size)).permute(0, 3, 1, 2).float().div(255)
    smiling = torch.as_tensor(batch.attrs[:, faces.ATTRIBUTES.index("Smiling")]).bool()
    glasses = torch.as_tensor(batch.attrs[:, faces.ATTRIBUTES.index("Eyeglasses")]).bool()
    rows = []
    for i in range(len(x)):
        xi = x[i : i + 1]
        cols = [xi, new.reconstruct(xi)]
        for flags in ({"Smiling": not bool(smiling[i])}, {"Eyeglasses": not bool(glasses[i])}):
            cols += [old.edit(xi, flags, seed=1), new.edit(xi, flags, seed=1)]
        cols += [old.edit(xi, resample=["Smiling"], seed=2), new.edit(xi, resample=["Smiling"], seed=2)]
        rows.append(torch.cat(cols, 3))
    grid = torch.cat(rows, 2)[0].permute(1, 2, 0).clamp(0, 1).mul(255).byte().numpy()
    Image.fromarray(grid).save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
