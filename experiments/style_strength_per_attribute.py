"""A style strength per attribute, chosen by the calibration reader (a probe, session 17):

    python experiments/style_strength_per_attribute.py [WEIGHTS] [--n-style N] [--strengths S ...]

`vcn calibrate-styles` picks one style strength for all 17 style attributes: the one whose resamples the reader
reads as the most distinct styles, on the mean. Attributes differ (a hat is a large shape, a choppy fringe a fine
one), so here each attribute gets the strength at which the reader reads *its* resamples as the most distinct (the
smaller on a tie), with the same protocol on the same unseen calibration faces (model.calibrate.style_readings;
N faces per attribute). Then the oracle reads vcn eval's style protocol at every strength (same seeds, all 17
attributes), and the per-attribute choice is looked up attribute by attribute: a resample's draw for one attribute
does not depend on another's strength, so this is what a file with those strengths would score. The residual
clusters stay the file's (drawn at its own strength). Logs: experiments/results/session17/.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_set, prepared_model

from model.calibrate import CALIBRATION_SEED, STRENGTHS, style_faces, style_readings
from model.evaluate import N_STYLE, TEST_SEED
from model.oracle import load_oracle

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--reader", default="weights/reader.safetensors")
    p.add_argument("--n-style", type=int, default=30, help="calibration faces per attribute (calibrate-styles: 30)")
    p.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    a = p.parse_args()
    torch.set_num_threads(2)
    cpu, oracle, images, attrs, styles = eval_set()
    model = prepared_model(a.weights)
    print(f"{a.weights}: style_strength {model.cfg.style_strength}", flush=True)

    t0 = time.time()
    cal_images, cal_attrs = style_faces(2000, model.cfg.image_size)
    reader = load_oracle(a.reader)
    by_reader = {s: r for s, r in style_readings(model, reader, cal_images, cal_attrs, a.strengths, CALIBRATION_SEED,
                                                 a.n_style, 100, cpu)}
    print(f"reader: {time.time() - t0:.0f} s", flush=True)

    t0 = time.time()  # the same protocol, read by the oracle on vcn eval's faces and seeds
    by_oracle = dict(style_readings(model, oracle, images, attrs, a.strengths, TEST_SEED, N_STYLE, 100, cpu))
    print(f"oracle: {time.time() - t0:.0f} s", flush=True)

    def cell(r: dict, name: str) -> str:
        return f"{r['style_diversity'][name]:.2f} ({r['style_presence'][name]:.2f})"

    shipped = model.cfg.style_strength if model.cfg.style_strength in by_oracle else a.strengths[0]
    print("\nper attribute: reader's distinct styles (still present) at each strength | chosen | oracle at the file's "
          "strength -> at the chosen one")
    chosen, at_file, at_chosen, kept_file, kept_chosen = {}, [], [], [], []
    for name in styles:
        reads = {s: by_reader[s]["style_diversity"].get(name) for s in a.strengths}
        if any(v is None for v in reads.values()):
            continue
        chosen[name] = c = max(sorted(reads), key=lambda s: (reads[s], -s))
        o_file, o_chosen = by_oracle[shipped], by_oracle[c]
        at_file.append(o_file["style_diversity"][name])
        at_chosen.append(o_chosen["style_diversity"][name])
        kept_file.append(o_file["style_kept"][name])
        kept_chosen.append(o_chosen["style_kept"][name])
        print(f"  {name:18s} " + "  ".join(f"{s}: {cell(by_reader[s], name)}" for s in a.strengths)
              + f" | {c} | {cell(o_file, name)} -> {cell(o_chosen, name)}", flush=True)
    n = len(at_file)
    print(f"\nmean of {n}: oracle {sum(at_file) / n:.3f} at {shipped} -> {sum(at_chosen) / n:.3f} per attribute; "
          f"rest kept {sum(kept_file) / n:.4f} -> {sum(kept_chosen) / n:.4f}")
    print("E / B / H: " + " / ".join(f"{by_oracle[shipped]['style_diversity'][x]:.2f}" for x in NAMED) + " -> "
          + " / ".join(f"{by_oracle[chosen[x]]['style_diversity'][x]:.2f}" for x in NAMED))
    print("oracle at every strength (mean of 17, E / B / H):")
    for s in a.strengths:
        d = by_oracle[s]["style_diversity"]
        print(f"  {s}: {sum(d.values()) / len(d):.3f}, " + " / ".join(f"{d[x]:.2f}" for x in NAMED))


if __name__ == "__main__":
    main()
