"""vcn eval's style figures alone, for several files side by side: python experiments/style_eval.py W [W2 ...] [--paste]

Only resamples differ between a file and its `vcn style-clusters` copy, so the rest of vcn eval is not rerun: per
file, style_diversity / style_presence / style_kept / style_input_kept / style_reconstructed for the 17 style
attributes (and the mean of 17), with the protocol, seeds, oracle and channels_last model that `vcn eval` uses
(model.evaluate), plus two more seed offsets of the style draw for Eyeglasses / Bangs / Wearing_Hat.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_set, prepared_model

from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, TEST_SEED

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="+")
    p.add_argument("--paste", action="store_true")
    a = p.parse_args()
    cpu, oracle, images, attrs, styles = eval_set()
    for w in a.weights:
        model, t0 = prepared_model(w), time.time()
        with torch.inference_mode():
            r = style_metrics(model, oracle, images, attrs, styles, N_STYLE, TEST_SEED, 100, cpu, a.paste)
        d, pr, k, ki, own = (r[key] for key in ("style_diversity", "style_presence", "style_kept", "style_input_kept",
                                                "style_reconstructed"))
        mean = sum(d.values()) / len(d)
        print(f"{w}{' (pasted)' if a.paste else ''}: mean of {len(d)} styles {mean:.3f}, still present "
              f"{sum(pr.values()) / len(pr):.3f}, rest kept {sum(k.values()) / len(k):.4f} (of the input "
              f"{sum(ki.values()) / len(ki):.4f}); {time.time() - t0:.0f} s", flush=True)
        for name in styles:
            print(f"  {name:18s} {d[name]:.2f}  present {pr[name]:.3f}  kept {k[name]:.3f}  input {ki[name]:.3f}  "
                  f"own style redrawn {own[name]:.3f}")
        for shift in (1, 2):
            with torch.inference_mode():
                r = style_metrics(model, oracle, images, attrs, NAMED, N_STYLE, TEST_SEED + 77 * shift, 100, cpu,
                                  a.paste)
            print(f"  seed offset {77 * shift}: " + " / ".join(f"{r['style_diversity'][n]:.2f}" for n in NAMED)
                  + ", still present " + " / ".join(f"{r['style_presence'][n]:.2f}" for n in NAMED), flush=True)


if __name__ == "__main__":
    main()
