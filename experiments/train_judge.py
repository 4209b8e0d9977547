"""Train the training-time judge (an Oracle network, attribute head only) on cached rendered faces.

The judge reads edits and prior samples during VCN training (TrainConfig.judge_weight). It is trained on
real renders only, and it is never the evaluation oracle (that one is trained on other faces, seed 1, by
model.oracle.train_oracle). Usage: python experiments/train_judge.py CACHE OUT [--steps N]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from model.checkpoint import read_checkpoint
from model.devices import autocast, pick_device
from model.oracle import Oracle, OracleConfig, save_oracle


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cache")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()
    dev = pick_device("auto")
    t, _ = read_checkpoint(a.cache, role="face_cache")
    # Both halves of the cache are real renders (faces and their counterfactuals).
    images = torch.cat([t["images"], t["cf_images"]]).to(dev)
    attrs = torch.cat([t["targets"], t["cf_targets"]]).to(dev).float()
    torch.manual_seed(2)
    judge = Oracle(OracleConfig.for_faces(image_size=images.shape[-1], width=16)).to(dev)
    opt = torch.optim.Adam(judge.parameters(), lr=2e-3)
    n_val = min(4000, images.shape[0] // 10)  # held out from training, for the accuracy printed below
    start = time.time()
    for step in range(a.steps):
        idx = torch.randint(n_val, images.shape[0], (a.batch,), device=dev)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * 0.5 * (1 + torch.cos(torch.tensor(step / a.steps * torch.pi)).item())
        with autocast(dev):
            loss = F.binary_cross_entropy_with_logits(judge.attribute_logits(images[idx].float() / 255).float(),
                                                      attrs[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    judge.eval()
    with torch.no_grad(), autocast(dev):
        acc = ((judge.attribute_logits(images[:n_val].float() / 255) > 0).float() == attrs[:n_val]).float().mean()
    metrics = {"attr_accuracy_heldout": float(acc), "steps": a.steps, "seconds": round(time.time() - start, 1)}
    print("judge", metrics)
    save_oracle(a.out, judge, metrics, role="judge")


if __name__ == "__main__":
    main()
