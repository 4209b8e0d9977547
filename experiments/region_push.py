"""A push that moves less of the face, an inference-time probe: keep a strong edit only where the strength-1 edit
already changes the picture.

    python experiments/region_push.py [WEIGHTS] [--region T ...] [--kernel K] [--n N]

An edit pushed past strength 1 changes its attribute more and also drifts the rest of the picture (pose, background,
other attributes), which is what edit_preservation loses. The shipped blend (vcn.blend_edit) already keeps the
reconstruction where the pushed edit itself barely changes the picture (edit_blend 0.05). Here a pushed try is also
faded out where the *strength-1* edit of the same capsules does not change the picture: weight
min(1, d1 / T) with d1 the strength-1 change (mean over channels), max-pooled over K x K pixels (so the region is a
little wider than the change) and then the shipped blend on top. The strength-1 try itself is untouched. Runs the
shipped verified edit (so the verifier judges the faded tries) through vcn eval's edit protocol and oracle on the
first N test faces (default 150: 6,000 edits), first as shipped, then for each T.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import edit_metrics
from model.evaluate import DEFAULT_ORACLE, TEST_SEED, _prepare
from model.oracle import load_oracle
from model.vcn import VCN, blend_edit

SHIPPED = VCN._decode_edits


def region_decode(threshold: float, kernel: int):
    """VCN._decode_edits with every try above strength 1 faded out where the strength-1 edit does not change."""

    def decode(self: VCN, c: Tensor, mask: Tensor, ctx: Tensor, before: Tensor, original: Tensor,
               strengths: Sequence[float | Tensor], blend: bool, recon: Tensor | None = None,
               base: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if not (blend and self.cfg.edit_blend):
            return SHIPPED(self, c, mask, ctx, before, original, strengths, blend, recon, base)
        raw, _ = SHIPPED(self, c, mask, ctx, before, original, [1.0, *strengths], False)  # (1 + L, B, C, H, W)
        if recon is None:
            recon = self.decode(original, before, ctx, mask_input=before)
        d1 = (raw[0] - recon).abs().mean(dim=1, keepdim=True)
        region = (F.max_pool2d(d1, kernel, stride=1, padding=kernel // 2) / threshold).clamp(max=1.0)
        outs = []
        for s, edited in zip(strengths, raw[1:], strict=True):
            if not (isinstance(s, float) and s == 1.0):
                edited = torch.lerp(recon, edited, region)
            outs.append(blend_edit(edited, recon, self.cfg.edit_blend, base=None if base is None else base.to(
                edited.dtype)))
        return torch.stack(outs), recon

    return decode


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--region", type=float, nargs="+", default=[0.02, 0.05])
    p.add_argument("--kernel", type=int, default=9)
    p.add_argument("--n", type=int, default=150)
    a = p.parse_args()
    cpu = torch.device("cpu")
    oracle = load_oracle(DEFAULT_ORACLE)
    model = _prepare(load_vcn(a.weights), cpu)
    test = faces.sample_faces(TEST_SEED, 0, a.n)
    images = torch.as_tensor(faces.render(test, size=64))
    for threshold in [None, *a.region]:
        VCN._decode_edits = SHIPPED if threshold is None else region_decode(threshold, a.kernel)
        t0 = time.time()
        r = edit_metrics(model, oracle, images, test, TEST_SEED, 100, cpu)
        print(json.dumps({"region": threshold, "kernel": None if threshold is None else a.kernel,
                          **{k: round(r[k], 4) for k in ("edit_success", "edit_preservation", "attribute_preservation",
                                                         "nuisance_preservation", "input_preservation")},
                          "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
