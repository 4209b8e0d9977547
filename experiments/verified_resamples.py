"""Verified resamples, an inference-time probe: a resample the embedded reader no longer sees the attribute on is
drawn again with a weaker push.

    python experiments/verified_resamples.py [WEIGHTS] [--confidence C ...] [--fallback S | --redraw] [--paste]

A style resample moves the capsule style_strength times as far as the drawn style (2.0 on the shipped file); on
some faces that push loses the attribute (the oracle still reads resampled Bangs on 87 % of them, session 15).
Here each resample of a face that shows the attribute is read by the model's embedded verifier (the calibration
reader, never the oracle); where it is less than C sure the attribute is still there, the same draw at style strength
S (default 1) replaces it, or with --redraw another draw at the same strength (the batch drawn again with another
seed: other clusters in turn). vcn eval's style protocol (30 faces x 10 resamples per style attribute, its seeds and
oracle), first as shipped, then for each C: distinct styles, still present and the rest kept, per attribute and as
the mean of 17.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_inputs
from torch import Tensor

from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, TEST_SEED
from model.vcn import VCN
from model.verify import target_confidence

SHIPPED = VCN.edit
NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def verified_resample(confidence: float, fallback: float | None):
    """VCN.edit whose pure resamples of a present attribute are checked by the verifier, and redrawn weaker."""

    def edit(self: VCN, x: Tensor, set=None, resample=(), seed=0, **kw):
        out = SHIPPED(self, x, set, resample, seed, **kw)
        if set or len(resample) != 1 or self.verifier is None:
            return out
        (name,) = resample
        shows = self.predict(x).present[:, self.cfg.capsule_names.index(name)]  # the face had it to begin with
        sure = target_confidence(self.verifier, out, self.cfg.capsule_names, {name: True})
        redo = shows & (sure < confidence)
        if redo.any():
            again = (SHIPPED(self, x, set, resample, seed + 7919, **kw) if fallback is None
                     else SHIPPED(self, x, set, resample, seed, **{**kw, "style_strength": fallback}))
            out = torch.where(redo.view(-1, 1, 1, 1), again, out)
        return out

    return edit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--confidence", type=float, nargs="+", default=[0.5, 0.9])
    p.add_argument("--fallback", type=float, default=1.0)
    p.add_argument("--redraw", action="store_true")
    p.add_argument("--paste", action="store_true")
    a = p.parse_args()
    cpu, oracle, model, images, attrs, styles = eval_inputs(a.weights)
    for c in [None, *a.confidence]:
        VCN.edit = SHIPPED if c is None else verified_resample(c, None if a.redraw else a.fallback)
        t0 = time.time()
        with torch.inference_mode():
            r = style_metrics(model, oracle, images, attrs, styles, N_STYLE, TEST_SEED, 100, cpu, a.paste)
        d, pr, k = r["style_diversity"], r["style_presence"], r["style_kept"]
        mean = lambda v: sum(v.values()) / len(v)  # noqa: E731
        how = None if c is None else "redraw" if a.redraw else f"strength {a.fallback}"
        print(f"confidence {c} fallback {how}{' pasted' if a.paste else ''}: "
              f"E / B / H {' / '.join(f'{d[n]:.2f}' for n in NAMED)} (present "
              f"{' / '.join(f'{pr[n] * 100:.0f}' for n in NAMED)} %); mean of 17: styles {mean(d):.3f}, present "
              f"{mean(pr) * 100:.1f} %, rest kept {mean(k) * 100:.2f} %; {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
