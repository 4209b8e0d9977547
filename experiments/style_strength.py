"""Style resamples at several style strengths (VCNConfig.style_strength), read by a chosen reader:

    python experiments/style_strength.py WEIGHTS [--reader PATH | --oracle] [--strengths 1 1.5 2 ...]

With --reader (default weights/reader.safetensors, the calibration reader) on unseen training-seed faces
(model.calibrate.style_faces: the faces `vcn calibrate-styles` chooses on), which is where the setting is chosen; with
--oracle on vcn eval's test faces and seeds, which is where it is then measured. Prints per strength, for
every style attribute, the distinct styles read in 10 resamples, the share still present and the share of
the rest kept (model.edit_metrics.style_metrics), and their means over the 17 style attributes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from model.calibrate import CALIBRATION_SEED, style_faces, style_means, style_readings
from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import DEFAULT_ORACLE, N_STYLE, TEST_SEED
from model.oracle import load_oracle

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("Eyeglasses", "Bangs", "Wearing_Hat")
KEYS = ("style_diversity", "style_presence", "style_kept")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("--reader", default=str(REPO / "weights" / "reader.safetensors"))
    p.add_argument("--oracle", action="store_true", help="vcn eval's oracle and test faces instead")
    p.add_argument("--strengths", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0])
    p.add_argument("--n", type=int, default=2000, help="faces to pick the style faces from")
    a = p.parse_args()
    model = load_vcn(a.weights).eval()
    if a.oracle:
        reader, seed, batch = load_oracle(DEFAULT_ORACLE), TEST_SEED, faces.sample_faces(TEST_SEED, 0, a.n)
        images = torch.as_tensor(faces.render(batch, size=64, workers=2))
        attrs = torch.as_tensor(batch.attrs).bool()
    else:  # where vcn calibrate-styles chooses
        reader, seed = load_oracle(a.reader), CALIBRATION_SEED
        images, attrs = style_faces(a.n, 64)
    t0 = time.time()
    for s, r in style_readings(model, reader, images, attrs, a.strengths, seed, N_STYLE):
        mean = {key: round(v, 4) for key, v in zip(KEYS, style_means(r).values(), strict=True)}
        print(json.dumps({"style_strength": s, "reader": "oracle" if a.oracle else Path(a.reader).name,
                          "mean": mean,
                          **{name: {k: round(r[k][name], 3) for k in KEYS}
                             for name in TARGETS if name in r["style_diversity"]},
                          "all": {k: round(v, 2) for k, v in r["style_diversity"].items()},
                          "seconds": round(time.time() - t0)}), flush=True)
        t0 = time.time()


if __name__ == "__main__":
    main()
