"""`vcn paste-regions` on stage 17 with another region threshold (paste_regions.FULL: the region is 1 where the mean
change is at least this share of its largest; shipped 0.25), session 25:

    python experiments/paste_regions_full.py FULL OUT [STAGE17]

STAGE17 defaults to runs/s24/fit3.safetensors (`git show 769ce33:weights/faces.safetensors`).
"""

from __future__ import annotations

import sys

import torch

from model import paste_regions
from model.calibrate import style_faces
from model.checkpoint import load_vcn, resave_vcn
from model.oracle import load_oracle


def main() -> None:
    paste_regions.FULL = float(sys.argv[1])
    model = load_vcn(sys.argv[3] if len(sys.argv) > 3 else "runs/s24/fit3.safetensors").eval()
    images, attrs = style_faces(2000, 64)
    reader = load_oracle("weights/reader.safetensors").eval()
    out = paste_regions.with_paste_regions(model, reader, images, attrs, log=print)
    resave_vcn(sys.argv[2], out, dtype=torch.float16)


if __name__ == "__main__":
    main()
