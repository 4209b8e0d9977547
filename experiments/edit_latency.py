"""A lone edit's time in process, for comparing two checkouts (or pasted against plain) side by side.

    python experiments/edit_latency.py CHECKOUT [paste] [swap | interpolate]

Imports CHECKOUT's code (ahead of any installed copy) and loads its weights/faces.safetensors, optimised as the
server loads it; one torch thread; times a verified edit of one rendered face switching on each of 16
attributes in turn, 8 times over, and prints the median ms per edit and each repeat's. Run two such commands
alternately (BENCHMARKS.md, session 12). swap: times /api/swap's call instead, each attribute taken from a second
rendered face (BENCHMARKS.md, session 13: swaps became verified edits). interpolate: times an 8-frame interpolation
to each attribute flipped (BENCHMARKS.md, session 14: its last frame became verified).
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time

NAMES = ("Eyeglasses", "Smiling", "Bangs", "Wearing_Hat", "Blond_Hair", "Black_Hair", "Mustache", "Goatee", "Bald",
         "Pale_Skin", "Wearing_Lipstick", "Heavy_Makeup", "Male", "Young", "Chubby", "Big_Nose")


def main() -> None:
    checkout, paste, swap = sys.argv[1], "paste" in sys.argv[2:], "swap" in sys.argv[2:]
    interpolate = "interpolate" in sys.argv[2:]
    sys.path.insert(0, checkout)
    import torch

    torch.set_num_threads(1)
    model_pkg = importlib.import_module("model")
    if not model_pkg.__file__.startswith(checkout):
        raise SystemExit(f"imported {model_pkg.__file__}, not {checkout}'s code")
    load_vcn = importlib.import_module("model.checkpoint").load_vcn
    faces = importlib.import_module("model.data.faces")
    optimize = importlib.import_module("model.fast").optimize_for_inference
    model = optimize(load_vcn(f"{checkout}/weights/faces.safetensors").eval())
    x, x_b = (torch.as_tensor(faces.render(faces.sample_faces(0, 0, 2), 64)).permute(0, 3, 1, 2).float() / 255
              ).split(1)
    how = {"paste": True} if paste else {}

    def one(i: int, name: str) -> None:
        if swap:
            model.swap(x, x_b, [name], **how)
        elif interpolate:
            model.interpolate(x, 8, attribute=name, seed=i, **how)
        else:
            model.edit(x, {name: True}, seed=[i], with_confidence=True, **how)

    for name in NAMES:  # warm-up
        one(0, name)
    repeats = []
    for _ in range(8):
        start = time.perf_counter()
        for i, name in enumerate(NAMES):
            one(i, name)
        repeats.append((time.perf_counter() - start) / len(NAMES) * 1e3)
    what = "swap" if swap else "interpolation" if interpolate else "edit"
    print(checkout, "pasted" if paste else "plain", f"ms per {what}, median",
          round(statistics.median(repeats), 2), [round(t, 2) for t in repeats])


if __name__ == "__main__":
    main()
