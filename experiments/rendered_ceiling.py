"""How many styles vcn eval's oracle can tell apart on its own style faces when the renderer draws them, a probe
(session 24): PYTHONPATH=. python experiments/rendered_ceiling.py

Each of vcn eval's 30 style faces of Eyeglasses / Bangs / Wearing_Hat (its test set) is rendered once in every
style of the attribute (faces.with_styles: the same face, only the style changed) and the oracle reads them all.
Distinct styles a face shows over them is what 10 resamples could show at most were each a perfect redraw of the
face in another style: the ceiling of vcn eval's style_diversity under this oracle, whatever the model.
Results: experiments/results/session24/rendered_ceiling.log.
"""

from __future__ import annotations

import torch

from model.data import faces
from model.evaluate import N_TEST, TEST_SEED, _prepare
from model.oracle import load_oracle
from model.readings import to_input

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    cpu = torch.device("cpu")
    oracle = _prepare(load_oracle("weights/oracle.safetensors"), cpu)
    batch = faces.sample_faces(TEST_SEED, 0, N_TEST)
    for name in NAMED:
        col, s = faces.ATTRIBUTES.index(name), oracle.cfg.style_names.index(name)
        n = oracle.cfg.style_counts[s]
        wear = batch.take(batch.attrs[:, col].nonzero()[0][:30])
        reads = []
        for k in range(n):
            img = torch.as_tensor(faces.render(faces.with_styles(wear, name, [k] * len(wear)), size=64))
            with torch.inference_mode():
                r = oracle.read(to_input(img, cpu))
            reads.append(torch.where(r.attrs[:, col], r.styles[:, s], -1))
        reads = torch.stack(reads, 1)  # (30, n): what the oracle reads of each face in each style
        right = (reads == torch.arange(n)).float().mean(0)
        distinct = torch.tensor([len(set(row.tolist()) - {-1}) for row in reads]).float()
        hat = faces.ATTRIBUTES.index("Wearing_Hat")
        short = [(f, row.tolist(), int(wear.attrs[f, hat])) for f, row in enumerate(reads) if distinct[f] < n]
        print(f"{name} ({n} styles): rendered in each style, read right " + " / ".join(f"{v:.2f}" for v in right)
              + f"; distinct styles a face {distinct.mean():.2f} (the ceiling of style_diversity); faces short of "
              f"{n} (face, readings, wears a hat): {short}", flush=True)


if __name__ == "__main__":
    main()
