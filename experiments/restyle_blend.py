"""Probe (session 13): pasted style resamples and style swaps at lower blend thresholds (cfg.edit_blend), judged by
the oracle on vcn eval's style faces (30 per style attribute).

    python experiments/restyle_blend.py [WEIGHTS]
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics, style_swap_metrics
from model.evaluate import TEST_SEED
from model.oracle import load_oracle


def mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def main() -> None:
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors").eval()
    oracle = load_oracle("weights/oracle.safetensors").eval()
    batch = faces.sample_faces(TEST_SEED, 0, 2000)
    images, attrs = torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool()
    device, styles, shipped = torch.device("cpu"), tuple(faces.STYLE_ATTRIBUTES), model.cfg
    for blend in (0.05, 0.03, 0.02, 0.01):
        model.cfg = dataclasses.replace(shipped, edit_blend=blend)
        start = time.time()
        r = style_metrics(model, oracle, images, attrs, styles, 30, TEST_SEED, 100, device, paste=True)
        s = style_swap_metrics(model, oracle, images, attrs, styles, 30, 100, device, paste=True)
        d, taken = r["style_diversity"], s["swap_style_transfer"]
        print(f"blend {blend}: styles E/B/H {d['Eyeglasses']:.2f}/{d['Bangs']:.2f}/{d['Wearing_Hat']:.2f} mean17 "
              f"{mean(d):.2f} present {mean(r['style_presence']):.3f} input kept {mean(r['style_input_kept']):.4f} | "
              f"swap transfer mean {mean(taken):.3f} E/B/H {taken['Eyeglasses']:.2f}/{taken['Bangs']:.2f}/"
              f"{taken['Wearing_Hat']:.2f} ({time.time() - start:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
