"""Do the digit model's resamples stay their digit, and how varied are they? python experiments/digit_resamples.py

The first 200 MNIST test digits, 10 resamples each of their class capsule (VCN.resample, seed = index), read by the
digit judge: the share read as the same digit, and the mean pixel distance between a digit's resamples (variety).
Session 14 made a model without transfer maps take its bank's clusters in turn; `--independent` restores the
independent bank draws of before, for the comparison.
"""

from __future__ import annotations

import sys

import torch

from model.capsule_edits import CapsuleEdits
from model.checkpoint import load_vcn
from model.data.mnist import load_mnist
from model.digit_judge import load_digit_judge


def main() -> None:
    if "--independent" in sys.argv:
        CapsuleEdits._style_draw = lambda self, slots, g: self.draw(slots, g)
    model = load_vcn("weights/mnist.safetensors")
    judge = load_digit_judge("weights/digit_judge.safetensors")
    images, labels = load_mnist(None, "test")
    x = torch.as_tensor(images[:200]).float().div(255).unsqueeze(1)
    same, spread = 0, 0.0
    with torch.inference_mode():
        for i in range(len(x)):
            out = model.resample(x[i : i + 1], str(int(labels[i])), 10, seed=i)
            same += int((judge.read(out)[0] == int(labels[i])).sum())
            spread += float(torch.pdist(out.flatten(1)).mean())
    print(f"{'independent bank draws' if '--independent' in sys.argv else 'bank clusters in turn'}: read as their "
          f"digit {same / (10 * len(x)):.4f}, mean distance between a digit's resamples {spread / len(x):.3f}")


if __name__ == "__main__":
    main()
