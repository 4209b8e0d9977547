"""What paste regions cost a pasted resample (session 25), side by side in one process: stage 17
(runs/s24/fit3.safetensors, or the first argument) against weights/faces.safetensors, 10 resamples of one face a call,
8 Bangs faces of vcn eval x Bangs (a region) and Eyeglasses (none) x 6 rounds, the files in turn, one torch thread.

    python experiments/resample_latency.py [BEFORE] [AFTER]
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from model.checkpoint import load_vcn
from model.config import CELEBA_ATTRIBUTES
from model.data import faces
from model.evaluate import TEST_SEED

NAMES = ("Bangs", "Eyeglasses")


def main() -> None:
    torch.set_num_threads(1)
    defaults = ["runs/s24/fit3.safetensors", "weights/faces.safetensors"]
    paths = [*sys.argv[1:3], *defaults[len(sys.argv[1:3]):]]
    models = {p: load_vcn(p).eval() for p in paths}
    batch = faces.sample_faces(TEST_SEED, 0, 40)
    images = torch.as_tensor(faces.render(batch, size=64)).permute(0, 3, 1, 2).float() / 255
    bangs = [i for i in range(40) if batch.attrs[i][CELEBA_ATTRIBUTES.index("Bangs")]][:8]
    times: dict[tuple[str, str], list[float]] = {(p, n): [] for p in paths for n in NAMES}
    with torch.inference_mode():
        for seed in range(6):
            for path, model in models.items():
                for i in bangs:
                    for name in NAMES:
                        t0 = time.perf_counter()
                        model.resample(images[i : i + 1], name, 10, seed=seed, paste=True)
                        times[(path, name)].append(time.perf_counter() - t0)
    for (path, name), t in times.items():
        t = sorted(t)
        print(f"{path} {name}: pasted resample x10, median {1000 * statistics.median(t):.1f} ms, "
              f"p90 {1000 * t[int(0.9 * len(t))]:.1f} ms ({len(t)} calls)")


if __name__ == "__main__":
    main()
