"""Style diversity of the shipped faces model when each resampled capsule is scaled by s (an idea, not in
the VCN): python experiments/style_knob.py. vcn eval's style_metrics protocol (30 faces x 10 resamples
per attribute), one torch thread; the model is not channels_last here, so s = 1 differs a little from
vcn eval's figures (the oracle's style readings of blurry glasses are close calls)."""

from __future__ import annotations

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics
from model.evaluate import DEFAULT_ORACLE, TEST_SEED
from model.oracle import load_oracle


def main() -> None:
    torch.set_num_threads(1)
    model, oracle = load_vcn("weights/faces.safetensors"), load_oracle(DEFAULT_ORACLE)
    batch = faces.sample_faces(TEST_SEED, 0, 2000)
    images, attrs = torch.from_numpy(faces.render(batch, 64)), torch.as_tensor(batch.attrs).bool()
    draw = model.draw
    for source in ("bank", "prior"):
        model.capsule_source = source
        for s in (1.0, 1.5, 2.0):
            model.draw = lambda slots, g, s=s: draw(slots, g) * s
            r = style_metrics(model, oracle, images, attrs, ("Eyeglasses", "Bangs", "Wearing_Hat"), 30, TEST_SEED,
                              100, torch.device("cpu"))
            print(source, s, {k: {a: round(v, 2) for a, v in r[k].items()}
                              for k in ("style_diversity", "style_presence")}, flush=True)


if __name__ == "__main__":
    main()
