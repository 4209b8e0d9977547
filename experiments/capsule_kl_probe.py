"""Where a faces model keeps its information (session 28): on the first N test faces (seed 10,000, as vcn eval), the
KL in nats of each attribute's active capsule (the one the face's true state switches on) and of the context capsule,
and for the attributes named, the KL of the true-state capsule and of its rival when the VCN reads the attribute
right and when it reads it wrong.

Session 28 found the hour's files keep 13-17 nats in Smiling's and Mouth_Slightly_Open's active capsules (session
27's file: every other attribute's 2.3 or less; the context capsule's ~0.01), and read those two wrong where the
rival's KL has not yet been pushed past the true one's.

    PYTHONPATH=. python experiments/capsule_kl_probe.py W... [--n 1000] [--attributes Smiling ...]
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from model.capsules import capsule_kl
from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED
from model.readings import to_input


def quartiles(v: Tensor) -> str:
    """(N,) -> 'q10 / median / q90' of v, one decimal."""
    if v.numel() < 3:
        return f"{v.numel()} faces"
    return " / ".join(f"{q:.1f}" for q in v.float().quantile(torch.tensor([0.1, 0.5, 0.9])).tolist())


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--attributes", nargs="+", default=["Smiling", "Mouth_Slightly_Open", "Eyeglasses"])
    p.add_argument("--top", type=int, default=6, help="how many of the most informative capsules to print")
    a = p.parse_args()
    names = list(faces.ATTRIBUTES)
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    x = to_input(torch.as_tensor(faces.render(batch, size=64)), torch.device("cpu"))
    truth = torch.as_tensor(batch.attrs).bool()
    for path in a.weights:
        model = load_vcn(path).eval()
        pred = model.predict(x)  # the reading, exclusive pairs resolved, as vcn eval's accuracy reads it
        caps = model.encode(x)  # predict keeps only the attribute KLs; the context's comes from here
        ctx_kl = capsule_kl(caps.ctx_mu.float(), caps.ctx_logvar.float()) if caps.ctx_mu.shape[-1] else torch.zeros(1)
        own = torch.where(truth, pred.kl_present, pred.kl_absent)  # (N, A): the capsule the truth switches on
        rival = torch.where(truth, pred.kl_absent, pred.kl_present)
        median = own.median(0).values
        top = sorted(zip(names, median.tolist(), strict=True), key=lambda t: -t[1])[: a.top]
        print(f"{path} ({a.n} faces): active capsules' median KL, summed over attributes {median.sum():.1f} nats; "
              f"the most: " + ", ".join(f"{n} {v:.1f}" for n, v in top) + f"; context {ctx_kl.median():.2f}")
        for name in a.attributes:
            i = names.index(name)
            right = pred.present[:, i] == truth[:, i]
            print(f"  {name}: read right {right.float().mean():.3f}; KL (q10 / median / q90) of the true capsule, its "
                  f"rival: right {quartiles(own[right, i])}, {quartiles(rival[right, i])}; wrong "
                  f"{quartiles(own[~right, i])}, {quartiles(rival[~right, i])}", flush=True)


if __name__ == "__main__":
    main()
