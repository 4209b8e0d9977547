"""Which styles resamples draw: the oracle's style ids over vcn eval's resamples, per style attribute.

    python experiments/style_histogram.py [WEIGHTS] [--names Bangs Eyeglasses Wearing_Hat]

For each named attribute, the first 30 test faces that have it (vcn eval's faces) and their 10 resamples each (vcn
eval's seeds): how often the oracle reads each style id on the real images, on their reconstructions and on the
resamples where the attribute is still present, and how many faces' resamples show each id at least once. A style
the decoder never draws shows up as a zero in the resample rows while the real images have it.
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from eval_inputs import eval_inputs

from model.edit_metrics import RESAMPLES, STYLE_SEEDS
from model.evaluate import N_STYLE, TEST_SEED
from model.readings import on_cpu, to_input


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--names", nargs="+", default=["Bangs", "Eyeglasses", "Wearing_Hat"])
    a = p.parse_args()
    cpu, oracle, model, images, attrs, styles = eval_inputs(a.weights)
    names = tuple(model.cfg.capsule_names)
    with torch.inference_mode():
        for name in a.names:
            k, at, s = styles.index(name), names.index(name), oracle.cfg.style_names.index(name)
            idx = attrs[:, at].nonzero().squeeze(1)[:N_STYLE]
            x = to_input(images[idx], cpu)
            real, recon = on_cpu(oracle.read(x)), on_cpu(oracle.read(model.reconstruct(x)))
            drawn, faces_with = Counter(), Counter()
            for c, start in enumerate(range(0, len(idx), 10)):  # vcn eval's chunks (batch 100 / 10 resamples)
                group = idx[start:start + 10]
                xs = to_input(images[group.repeat_interleave(RESAMPLES)], cpu)
                r = on_cpu(oracle.read(model.edit(xs, resample=[name], seed=TEST_SEED + STYLE_SEEDS + 1000 * k + c)))
                for j in range(len(group)):
                    rows = slice(j * RESAMPLES, (j + 1) * RESAMPLES)
                    ids = r.styles[rows, s][r.attrs[rows, at]].tolist()
                    drawn.update(ids)
                    faces_with.update(set(ids))
            n_ids = oracle.cfg.style_counts[s]
            def row(counts: Counter, n_ids: int = n_ids) -> str:
                return " ".join(f"{counts.get(i, 0):4d}" for i in range(n_ids))

            print(f"{name} (style ids 0-{n_ids - 1})")
            print(f"  real images        {row(Counter(real.styles[:, s].tolist()))}")
            print(f"  reconstructions    {row(Counter(recon.styles[recon.attrs[:, at], s].tolist()))}")
            print(f"  resamples present  {row(drawn)}")
            print(f"  faces showing it   {row(faces_with)}", flush=True)


if __name__ == "__main__":
    main()
