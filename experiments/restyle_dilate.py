"""Probe (session 21): pasted style resamples with the pasted region grown, judged by the oracle on vcn eval's style
faces (30 per style attribute, three seed offsets for Eyeglasses / Bangs / Wearing_Hat).

    PYTHONPATH=.:experiments python experiments/restyle_dilate.py W [W2 ...] [--grow 1 3 5]

A pasted resample is blend_edit(resample, reconstruction, base=input): the resample's pixels where it differs from the
reconstruction by more than the blend threshold, the input's elsewhere, a linear ramp between. Stage 15's candidate
draws 3.83 Bangs cuts plain but 3.00 pasted (stage 14: 3.60 / 3.23): is the paste fading the edges of a cut back
into the input's own fringe? Here the blend weight w = min(1, d / threshold) is max-pooled over grow x grow pixels
(grow 1 = as shipped), so every pixel next to a strong change takes the resample too; only resamples are judged.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from eval_inputs import eval_set, prepared_model
from torch import Tensor

import model.vcn as vcn_module
from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, TEST_SEED

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")
SHIPPED = vcn_module.blend_edit


def grown_blend(grow: int):
    """blend_edit with its weight max-pooled over grow x grow pixels (grow 1: blend_edit itself)."""
    def blend(edited: Tensor, recon: Tensor, threshold: float, kernel: int = 5, base: Tensor | None = None) -> Tensor:
        d = (edited - recon).abs().mean(dim=1, keepdim=True)
        d = F.avg_pool2d(d, kernel, stride=1, padding=kernel // 2, count_include_pad=False)
        w = F.max_pool2d((d / threshold).clamp(max=1.0), grow, stride=1, padding=grow // 2)
        return torch.lerp(recon if base is None else base, edited, w)
    return SHIPPED if grow == 1 else blend


def pasted_styles(model: torch.nn.Module, oracle: torch.nn.Module, images: Tensor, attrs: Tensor,
                  styles: tuple[str, ...], device: torch.device) -> tuple[dict, list[dict]]:
    """vcn eval's pasted style metrics of a model, and the style diversity of NAMED at two more seed offsets."""
    with torch.inference_mode():
        r = style_metrics(model, oracle, images, attrs, styles, N_STYLE, TEST_SEED, 100, device, True)
        named = [style_metrics(model, oracle, images, attrs, NAMED, N_STYLE, TEST_SEED + 77 * shift, 100, device,
                               True)["style_diversity"] for shift in (1, 2)]
    return r, named


def summary(r: dict, named: list[dict]) -> str:
    """E/B/H at the three offsets and their means; the mean of all styles, still present, the rest of the input kept."""
    d = r["style_diversity"]
    rows = [d, *named]
    mean3 = [sum(row[n] for row in rows) / 3 for n in NAMED]
    return ("E/B/H " + "; ".join(" / ".join(f"{row[n]:.2f}" for n in NAMED) for row in rows)
            + " -> " + " / ".join(f"{m:.2f}" for m in mean3)
            + f"; mean of 17 {sum(d.values()) / len(d):.3f}, present "
            f"{sum(r['style_presence'].values()) / len(d):.3f}, rest kept of the input "
            f"{sum(r['style_input_kept'].values()) / len(d):.4f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="+")
    p.add_argument("--grow", type=int, nargs="+", default=[1, 3, 5])
    a = p.parse_args()
    cpu, oracle, images, attrs, styles = eval_set()
    for w in a.weights:
        model = prepared_model(w)
        for grow in a.grow:
            vcn_module.blend_edit, t0 = grown_blend(grow), time.time()
            r, named = pasted_styles(model, oracle, images, attrs, styles, cpu)
            print(f"{w} grow {grow}: {summary(r, named)}; {time.time() - t0:.0f} s", flush=True)
    vcn_module.blend_edit = SHIPPED


if __name__ == "__main__":
    main()
