"""How often the last frame of an attribute interpolation shows the attribute flipped, judged by the oracle.

    python experiments/interpolation_end.py [WEIGHTS] [--strength S] [--faces N] [--unverified]

For each of the first N test faces (seed 10,000) and each attribute, `VCN.interpolate(x, 2, attribute=a)`'s last
frame, read by weights/oracle.safetensors; beside it the verified edit of the same face and attribute. Without
--strength the frames end at the model's own strengths (session 13); --strength 1 is how they ended before.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.oracle import load_oracle


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--strength", type=float, default=None)
    p.add_argument("--faces", type=int, default=40)
    p.add_argument("--unverified", action="store_true")
    a = p.parse_args()
    model, oracle = load_vcn(a.weights).eval(), load_oracle("weights/oracle.safetensors").eval()
    if a.unverified:
        model.cfg = dataclasses.replace(model.cfg, verify_strengths=())
    batch = faces.sample_faces(10_000, 0, a.faces)
    images = torch.as_tensor(faces.render(batch, size=model.cfg.image_size)).permute(0, 3, 1, 2).float() / 255
    gt = torch.as_tensor(batch.attrs).bool()
    names = model.cfg.capsule_names
    start, ends_ok, edits_ok, kept, counted = time.time(), 0, 0, 0, 0
    free = ~(model.partners | torch.eye(len(names), dtype=torch.bool))  # (A, A): row a, what flipping a must keep
    with torch.inference_mode():
        for i, x in enumerate(images.split(1)):
            ends = torch.cat([model.interpolate(x, 2, attribute=n, seed=i, strength=a.strength)[-1:] for n in names])
            edits = torch.cat([model.edit(x, {n: not bool(gt[i, k])}, seed=[i]) for k, n in enumerate(names)])
            read = oracle.read(ends).attrs
            ends_ok += int((read.diagonal() == ~gt[i]).sum())
            recon = oracle.read(model.reconstruct(x)).attrs
            kept += int(((read == recon) & free).sum())
            counted += int(free.sum())
            edits_ok += int((oracle.read(edits).attrs.diagonal() == ~gt[i]).sum())
    n = a.faces * len(names)
    how = "unverified" if a.unverified else "verified where the model verifies"
    print(f"strength {a.strength or 'default'} ({how}): interpolation end frames read flipped {ends_ok / n:.4f}, "
          f"other attributes kept {kept / counted:.4f}; the same faces' edits ({how}) {edits_ok / n:.4f}; {n} each, "
          f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
