"""Probe (session 21): what a pasted resample loses. On vcn eval's style faces (the first 30 test faces wearing the
attribute, 10 resamples each, all 30 faces under vcn eval's first chunk's seed), the oracle's reading of each
resample plain and pasted: the share read as the face's own style (the oracle's reading of the input), the share of
each style, distinct styles a face.

    PYTHONPATH=.:experiments python experiments/paste_cuts.py W [W2 ...] [--attribute Bangs]

If pasting fades the new cut back into the input where the reconstruction misses the input's own cut, pasted
resamples read as the input's own style more often than plain ones.
"""

from __future__ import annotations

import argparse

import torch
from eval_inputs import eval_set, prepared_model

from model.edit_metrics import RESAMPLES, STYLE_SEEDS
from model.evaluate import N_STYLE, TEST_SEED
from model.readings import to_input


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="+")
    p.add_argument("--attribute", default="Bangs")
    a = p.parse_args()
    cpu, oracle, images, attrs, styles = eval_set()
    for w in a.weights:
        model = prepared_model(w)
        names = tuple(model.cfg.capsule_names)
        k, col, s = styles.index(a.attribute), names.index(a.attribute), oracle.cfg.style_names.index(a.attribute)
        idx = attrs[:, col].bool().nonzero().squeeze(1)[:N_STYLE]
        with torch.inference_mode():
            own = oracle.read(to_input(images[idx], cpu)).styles[:, s]
            recon = oracle.read(model.reconstruct(to_input(images[idx], cpu))).styles[:, s]
            x = to_input(images[idx.repeat_interleave(RESAMPLES)], cpu)
            seed = TEST_SEED + STYLE_SEEDS + 1000 * k  # vcn eval's first chunk's seed, here for all 30 faces
            for paste in (False, True):
                r = oracle.read(model.edit(x, resample=[a.attribute], seed=seed, paste=paste))
                present, ids = r.attrs[:, col], r.styles[:, s]
                same = (ids == own.repeat_interleave(RESAMPLES))[present].float().mean()
                counts = torch.bincount(ids[present], minlength=int(oracle.cfg.style_counts[s]))
                distinct = sum(len(torch.unique(ids[j * RESAMPLES:(j + 1) * RESAMPLES][present[j * RESAMPLES:(j + 1)
                               * RESAMPLES]])) for j in range(len(idx))) / len(idx)
                print(f"{w} {'pasted' if paste else 'plain '}: {a.attribute} present {present.float().mean():.3f}, "
                      f"read as the input's own style {same:.3f}, distinct {distinct:.2f}, styles "
                      + " / ".join(f"{c / counts.sum():.2f}" for c in counts.tolist())
                      + f" (reconstruction reads the input's style on {(recon == own).float().mean():.2f})",
                      flush=True)


if __name__ == "__main__":
    main()
