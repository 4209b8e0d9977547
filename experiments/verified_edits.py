"""Verified edits, an inference-time probe: push each edit only as far as a reader needs to see it.

    python experiments/verified_edits.py [WEIGHTS] [--ladder 1 1.5 2] [--confidence C] [--best] [--blend B]
                                         [--verifier reader|self] [--seeds K]

The calibrated strengths push every edit of an attribute equally hard (up to 3), and the push is what costs
the nuisance (session 5: 97.1 % kept at strength 1 with the maps, 95.3 % calibrated). Here each edit is
decoded at every strength of the ladder and at the calibrated one, and the first that the verifier reads as
taken with at least C is kept (when none is: the calibrated one, or with --best the most convincing). What
this probe found is built in as model/verify.py (`vcn verify`); docs/recipes-sessions-8-10.md, session 9, has the table.
With --seeds K (session 10), the first rung is tried with K seeds (other residuals of the transfer fit, so
other styles of the attribute) before the ladder pushes harder: can a face the first draw did not convince
be convinced by another draw at strength 1, which keeps more than a push?
Verifier: the calibration reader (weights/reader.safetensors, never the oracle) or the model's own encoder
("self"). Judged by vcn eval's edit protocol and oracle on the first 150 test faces (6,000 edits), side by
side with the plain calibrated edit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
from torch import Tensor

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import edit_metrics
from model.evaluate import DEFAULT_ORACLE, N_EDIT, TEST_SEED
from model.oracle import load_oracle
from model.vcn import VCN


class VerifiedEdits:
    """A VCN whose single-attribute edits stop at the first ladder strength the verifier reads as taken."""

    def __init__(self, model: VCN, verify, ladder: tuple[float, ...], confidence: float = 0.5, best: bool = False,
                 keep=None, seeds: int = 1):
        self.model, self.verify, self.confidence, self.best = model, verify, confidence, best
        first, *rest = ladder  # (strength, draw) per try: `seeds` draws at the first rung, one at the others
        self.tries = [*[(first, j) for j in range(seeds)], *[(s, 0) for s in rest]]
        self.keep = keep  # a reader: choose among the tries that take the one it sees change the least
        self.cfg, self.device = model.cfg, model.device
        self.chosen: list[Tensor] = []

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.model.reconstruct(x)

    @torch.inference_mode()
    def edit(self, x: Tensor, set: dict[str, bool], seed: int = 0) -> Tensor:
        (name, target), = set.items()
        a = self.cfg.capsule_names.index(name)
        tries = [self.model.edit(x, set, seed=seed + 100_003 * j, strength=s) for s, j in self.tries]
        tries.append(self.model.edit(x, set, seed=seed))  # the calibrated strength, the fallback
        # verify: images -> (B, A) probability that each attribute is present
        prob = torch.stack([self.verify(t)[:, a] for t in tries], 1)  # (B, L+1)
        prob = prob if target else 1 - prob
        taken = prob[:, :-1] >= self.confidence
        fallback = prob.argmax(1) if self.best else torch.full_like(taken[:, 0], len(self.tries), dtype=torch.long)
        first = torch.where(taken.any(1), taken.float().argmax(1), fallback)
        if self.keep is not None:  # among the tries that take, the one the reader sees change the least else
            ref = self.keep.read(self.model.reconstruct(x))
            drift = []
            for t in tries:
                r = self.keep.read(t)
                others = (r.attrs != ref.attrs)
                others[:, a] = False
                visible = self.keep.nuisance_visible(ref.attrs) & self.keep.nuisance_visible(r.attrs)
                drift.append(others.sum(1) + (visible & ((r.nuisance - ref.nuisance).abs() >= 0.1)).sum(1))
            drift = torch.stack(drift, 1).float()  # (B, L+1)
            ok = prob >= self.confidence
            score = torch.where(ok, drift, torch.inf) + 1e-3 * torch.arange(len(tries))  # ties: the lower strength
            first = torch.where(ok.any(1), score.argmin(1), first)
        self.chosen.append(first)
        out = torch.stack(tries, 1)  # (B, L+1, C, H, W)
        return out[torch.arange(len(x)), first]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--ladder", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    p.add_argument("--verifier", choices=["reader", "self"], default="reader")
    p.add_argument("--n", type=int, default=N_EDIT)
    p.add_argument("--blend", type=float, default=None, help="edit_blend instead of the model's")
    p.add_argument("--keep", action="store_true", help="among tries that take: the least change the reader sees")
    p.add_argument("--best", action="store_true", help="when no ladder step passes: the most convincing try")
    p.add_argument("--confidence", type=float, default=0.5, help="the verifier's probability of the target state")
    p.add_argument("--seeds", type=int, default=1, help="draws tried at the first rung before the next")
    a = p.parse_args()
    torch.set_num_threads(2)
    oracle = load_oracle(DEFAULT_ORACLE).eval()
    model = load_vcn(a.weights).eval()
    # The probe does its own verifying: a shipped file's (vcn verify) would verify the fallback try again.
    model.cfg = dataclasses.replace(model.cfg, verify_strengths=())
    if a.blend is not None:
        model.cfg = dataclasses.replace(model.cfg, edit_blend=a.blend)
    if a.verifier == "reader":
        reader = load_oracle("weights/reader.safetensors").eval()
        verify = lambda x: torch.sigmoid(reader.attribute_logits(x).float())  # noqa: E731
    else:
        verify = lambda x: model.predict(x).present.float()  # noqa: E731
    test = faces.sample_faces(TEST_SEED, 0, a.n)
    images = torch.as_tensor(faces.render(test, size=64, workers=2))
    t0 = time.time()
    wrapped = VerifiedEdits(model, verify, tuple(a.ladder), a.confidence, a.best,
                           load_oracle("weights/reader.safetensors").eval() if a.keep else None, a.seeds)
    e = edit_metrics(wrapped, oracle, images, test, TEST_SEED, 100, model.device)
    chosen = torch.cat(wrapped.chosen)
    labels = [f"{s}" if j == 0 else f"{s} (draw {j + 1})" for s, j in wrapped.tries] + ["calibrated"]
    share = {label: round(float((chosen == i).float().mean()), 3) for i, label in enumerate(labels)}
    row = {k: round(e[k], 4) for k in ("edit_success", "edit_preservation", "attribute_preservation",
                                       "nuisance_preservation", "style_preservation")}
    print(json.dumps({"weights": a.weights, "verifier": a.verifier, "ladder": a.ladder, "seeds": a.seeds,
                      "confidence": a.confidence,
                      "best": a.best, "keep": a.keep, "blend": model.cfg.edit_blend, **row, "chosen": share,
                      "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
