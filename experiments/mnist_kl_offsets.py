"""Does a bias per digit capsule help the KL rule? python experiments/mnist_kl_offsets.py [WEIGHTS]

The digit model reads a digit as the capsule with the smallest KL. Fit one additive offset per capsule and a
temperature (multinomial logistic regression on -(KL + offset), 500 Adam steps) on MNIST's training split,
then compare the test error of argmin(KL + offset) with the plain rule. Ten numbers from 60,000 training
images, so it cannot overfit the test split; it can only fix a systematic lean towards some digits.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from model.data.mnist import load_mnist
from model.evaluate import load_model


@torch.no_grad()  # not inference_mode: the offsets below are fitted by autograd on these tensors
def capsule_kls(model, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 10) KLs of every image of the split, and the labels (N,)."""
    x, y = load_mnist(None, split)
    out = [model.encode(torch.from_numpy(x[i:i + 500]).float().div(255).unsqueeze(1)).kl.float()
           for i in range(0, len(x), 500)]
    return torch.cat(out), torch.from_numpy(y.astype(np.int64))


def error(kl: torch.Tensor, labels: torch.Tensor, offset: torch.Tensor) -> float:
    return float((kl + offset).argmin(1).ne(labels).float().mean())


def main() -> None:
    torch.set_num_threads(1)
    model = load_model(sys.argv[1] if len(sys.argv) > 1 else "weights/mnist.safetensors")
    train_kl, train_y = capsule_kls(model, "train")
    test_kl, test_y = capsule_kls(model, "test")
    zero = torch.zeros(10)
    print(f"plain rule: train error {error(train_kl, train_y, zero):.4%}, "
          f"test error {error(test_kl, test_y, zero):.4%}")
    offset = torch.zeros(10, requires_grad=True)
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([offset, log_t], lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(-(train_kl + offset) * log_t.exp(), train_y)
        loss.backward()
        opt.step()
    offset = offset.detach()
    print(f"offsets {[round(v, 3) for v in offset.tolist()]}, temperature {float(log_t.detach().exp()):.3f}")
    print(f"with offsets: train error {error(train_kl, train_y, offset):.4%}, test error "
          f"{error(test_kl, test_y, offset):.4%}")


if __name__ == "__main__":
    main()
