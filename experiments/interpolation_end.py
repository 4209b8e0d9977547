"""How often the last frame of an attribute interpolation shows the attribute flipped, judged by the oracle.

    python experiments/interpolation_end.py [WEIGHTS] [--strength S] [--faces N]

For each of the first N test faces (seed 10,000) and each attribute, `VCN.interpolate(x, 2, attribute=a)`'s last
frame, read by weights/oracle.safetensors; beside it the verified edit of the same face and attribute. Without
--strength the frames end at the model's own strengths (session 13); --strength 1 is how they ended before.
"""

from __future__ import annotations

import argparse
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
    a = p.parse_args()
    model, oracle = load_vcn(a.weights).eval(), load_oracle("weights/oracle.safetensors").eval()
    batch = faces.sample_faces(10_000, 0, a.faces)
    images = torch.as_tensor(faces.render(batch, size=model.cfg.image_size)).permute(0, 3, 1, 2).float() / 255
    gt = torch.as_tensor(batch.attrs).bool()
    names = model.cfg.capsule_names
    start, ends_ok, edits_ok = time.time(), 0, 0
    with torch.inference_mode():
        for i, x in enumerate(images.split(1)):
            ends = torch.cat([model.interpolate(x, 2, attribute=n, seed=i, strength=a.strength)[-1:] for n in names])
            edits = torch.cat([model.edit(x, {n: not bool(gt[i, k])}, seed=[i]) for k, n in enumerate(names)])
            ends_ok += int((oracle.read(ends).attrs.diagonal() == ~gt[i]).sum())
            edits_ok += int((oracle.read(edits).attrs.diagonal() == ~gt[i]).sum())
    n = a.faces * len(names)
    print(f"strength {a.strength or 'default'}: interpolation end frames read flipped {ends_ok / n:.4f}; verified "
          f"edits of the same faces {edits_ok / n:.4f}; {n} each, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
