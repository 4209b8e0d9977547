"""Is the judge lever gamed? (session 27) One batch of the lever's fakes (prior edits and prior samples, as
VCNObjective._prior_edits draws them from 64 training faces of seed 0) decoded twice: with the generator's BatchNorm
on the batch's own statistics, as in training, and on its running statistics, as the server decodes; each read by
the frozen training judge (the term, and its reading of Blurry on the fakes asked to be sharp) and by the oracle.
Run in fp32 and under CPU bf16 autocast (the hour trains under it).

    PYTHONPATH=. python experiments/judge_batch_stats.py [W]   (W: session 26's runs/s26/lr2e3/model.safetensors)
"""

from __future__ import annotations

import sys

import torch

from model.capsules import reparameterize, targets_to_mask
from model.checkpoint import load_vcn
from model.config import TrainConfig
from model.data import faces
from model.losses import attribute_judge_loss
from model.oracle import load_oracle
from model.readings import to_input
from model.recipe import VCNObjective
from model.train import _load_judge


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(1)
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "runs/s26/lr2e3/model.safetensors")
    oracle = load_oracle("weights/oracle.safetensors").eval()
    judge = _load_judge(None, torch.device("cpu"), model.cfg)
    objective = VCNObjective(model, TrainConfig(judge_weight=10.0), judge)
    batch = faces.sample_faces(0, 0, 64)
    x = to_input(torch.as_tensor(faces.render(batch, size=64)), torch.device("cpu"))
    attrs = torch.as_tensor(batch.attrs).float()
    blurry = list(faces.ATTRIBUTES).index("Blurry")
    for bf16 in (False, True):
        for training in (True, False):
            model.train(training)
            g = torch.Generator().manual_seed(0)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                caps = model.encode(x)
                c = reparameterize(caps.mu, caps.logvar, g)
                ctx = reparameterize(caps.ctx_mu, caps.ctx_logvar, g)
                mask = targets_to_mask(attrs, model.cfg.kind, model.cfg.num_capsules).to(c.dtype)
                fakes, states = objective._prior_edits(c, ctx, mask, g)
                logits = judge.attribute_logits(fakes)
                term = attribute_judge_loss(logits, states)
            sharp = states[:, blurry] < 0.5
            judged = (logits[sharp, blurry] > 0).float().mean()
            read = oracle.read(fakes.float()).attrs.bool()[sharp, blurry].float().mean()
            print(f"{'bf16' if bf16 else 'fp32'}, BatchNorm on {'the batch' if training else 'running'} statistics: "
                  f"judge term {term:.3f}, judge reads Blurry on {judged:.3f} of the {int(sharp.sum())} fakes asked "
                  f"sharp, the oracle on {read:.3f}")


if __name__ == "__main__":
    main()
