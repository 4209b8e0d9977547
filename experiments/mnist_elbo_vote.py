"""MNIST test error when the class is chosen by a per-class evidence bound instead of the smallest capsule KL:
score_k = KL_k + w * BCE(x, decode(capsules, mask of class k)) (nats; w = 1 is the ELBO-like choice made
before looking at any result, the others are shown as the sensitivity, not as a tuned pick). Only the top-`m`
classes by KL are rescored. Usage: python experiments/mnist_elbo_vote.py [WEIGHTS] [SPLIT] (SPLIT test, the
default, ~1 minute on 2 cores, or train, the 60,000 images the model trained on, ~5 minutes).
A probe, session 10 (experiments/results/session10/mnist_elbo_vote.log); not in the product.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from model.checkpoint import load_vcn
from model.data.mnist import load_mnist


@torch.inference_mode()
def main() -> None:
    torch.set_num_threads(2)
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/mnist.safetensors").eval()
    split = sys.argv[2] if len(sys.argv) > 2 else "test"
    images, labels = (torch.as_tensor(a) for a in load_mnist(None, split))
    x, labels = images.unsqueeze(1).float().div(255), labels.long()
    k = model.cfg.num_capsules
    kl_all, bce_all = [], []
    for i in range(0, len(x), 500):
        xb = x[i : i + 500]
        caps = model.encode(xb)
        kl_all.append(caps.kl.float())
        bce = []
        for cls in range(k):
            mask = F.one_hot(torch.full((len(xb),), cls), k).float()
            x_hat = model.decode(caps.mu, mask, caps.ctx_mu).float().clamp(1e-6, 1 - 1e-6)
            bce.append(F.binary_cross_entropy(x_hat, xb, reduction="none").flatten(1).sum(1))
        bce_all.append(torch.stack(bce, 1))
    kl, bce = torch.cat(kl_all), torch.cat(bce_all)  # (N, K) each
    print(f"smallest KL (the product): {split} error {100 * (kl.argmin(1) != labels).float().mean():.2f} %")
    print(f"smallest BCE alone: {split} error {100 * (bce.argmin(1) != labels).float().mean():.2f} %")
    print(f"KL of the true class, median {kl.gather(1, labels[:, None]).median():.1f} nats; "
          f"BCE median {bce.gather(1, labels[:, None]).median():.1f} nats")
    for w in (0.1, 0.2, 0.3, 0.5, 1.0, 3.0):
        score = kl + w * bce
        for m, name in ((2, "top-2 by KL"), (k, "all classes")):
            cand = kl.topk(m, dim=1, largest=False).indices
            pick = cand.gather(1, score.gather(1, cand).argmin(1, keepdim=True)).squeeze(1)
            print(f"w = {w:<4} {name:12s} {split} error {100 * (pick != labels).float().mean():.2f} %")


if __name__ == "__main__":
    main()
