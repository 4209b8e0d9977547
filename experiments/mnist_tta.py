"""MNIST test error with test-time shifts: capsule KLs averaged (or votes taken) over the image and its
one-pixel shifts. Usage: python experiments/mnist_tta.py [WEIGHTS] (about 3 minutes on the 2 cores).

Measured in session 6 (experiments/results/session6/mnist_tta.log); not in the product.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from model.checkpoint import load_vcn
from model.data.mnist import load_mnist

VIEWS = {"one view": [(0, 0)], "4 axis shifts": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
         "8 shifts": [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]}


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(B, 1, H, W) moved by (dy, dx) pixels, zeros shifted in."""
    return torch.roll(F.pad(x, (2, 2, 2, 2)), (dy, dx), (2, 3))[..., 2:-2, 2:-2]


@torch.inference_mode()
def main() -> None:
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/mnist.safetensors").eval()
    images, labels = (torch.as_tensor(a) for a in load_mnist(None, "test"))
    x, labels = images.unsqueeze(1).float().div(255), labels.long()
    kls = {v: torch.cat([model.encode(shifted(x[i : i + 500], *v)).kl.float() for i in range(0, len(x), 500)])
           for v in VIEWS["8 shifts"]}
    for name, views in VIEWS.items():
        mean_kl = torch.stack([kls[v] for v in views]).mean(0).argmin(-1)
        vote = torch.stack([kls[v].argmin(-1) for v in views]).mode(0).values
        for rule, pred in (("mean KL", mean_kl), ("vote", vote)):
            print(f"{name:14s} {rule:8s} test error {100 * (pred != labels).float().mean().item():.2f} %")


if __name__ == "__main__":
    main()
