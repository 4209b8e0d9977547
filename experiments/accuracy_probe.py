"""What the VCN itself predicts (session 28): mean_accuracy as `vcn eval` measures it (model.predict, smallest KL of
each attribute's pair, on the first N test faces of seed 10,000) and the attributes it gets wrong most, for each file.
No oracle is involved, so it is cheap enough to compare short continuations.

The hour from scratch misses the 99 % target on two attributes of the mouth (session 27: Smiling 84.9 %,
Mouth_Slightly_Open 87.2 %; every other attribute 96.6 % or better).

    PYTHONPATH=. python experiments/accuracy_probe.py W... [--n 2000] [--worst 6]
"""

from __future__ import annotations

import argparse

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED, predict_accuracy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--worst", type=int, default=6, help="how many of the least accurate attributes to print")
    a = p.parse_args()
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    images = torch.as_tensor(faces.render(batch, size=64))
    attrs = torch.as_tensor(batch.attrs).bool()
    for path in a.weights:
        model = load_vcn(path).eval()
        acc = predict_accuracy(model, images, attrs, 100, torch.device("cpu"))
        worst = sorted(zip(faces.ATTRIBUTES, acc.tolist(), strict=True), key=lambda t: t[1])[: a.worst]
        print(f"{path}: mean_accuracy {acc.mean():.4f}; worst "
              + ", ".join(f"{name} {v:.3f}" for name, v in worst) + f" ({a.n} faces)", flush=True)


if __name__ == "__main__":
    main()
