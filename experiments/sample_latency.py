"""What verified samples cost (session 26), side by side in one process: stage 18 (the first argument) against
weights/faces.safetensors (or the second), 4 new faces a call (/api/sample's default n; --n 16, its largest) x 30
seeds, the files in turn, one torch thread.

    python experiments/sample_latency.py BEFORE [AFTER] [--n N]   (BEFORE: git show 8cd7608:weights/faces.safetensors)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model.checkpoint import load_vcn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--n", type=int, default=4, help="new faces a call")
    a = p.parse_args()
    torch.set_num_threads(1)
    paths = [a.before, a.after]
    models = {p: load_vcn(p).eval() for p in paths}
    times: dict[str, list[float]] = {p: [] for p in paths}
    for model in models.values():
        model.sample({}, a.n, seed=0)  # warm-up
    for seed in range(30):
        for path, model in models.items():
            t0 = time.perf_counter()
            model.sample({}, a.n, seed=seed)
            times[path].append(time.perf_counter() - t0)
    for path, t in times.items():
        t = sorted(t)
        print(f"{path} (sample_tries {models[path].cfg.sample_tries}): {a.n} new faces, median "
              f"{1000 * statistics.median(t):.1f} ms, p90 {1000 * t[int(0.9 * len(t))]:.1f} ms ({len(t)} calls)")


if __name__ == "__main__":
    main()
