"""Threads and OpenMP wait policy for CPU inference: settings that must be fixed before a process starts, so
each configuration runs in its own process, the configurations in turn (A B C, A B C, ...).

    vcn bench threads [--rounds 3]          # the table
    vcn bench threads --probe               # one process's figures, as JSON (what a round runs)

A probe times predict at batch 1 (p50 over 30 calls) and edit at batch 32 (img/s, median of 5) on the
optimised model (model.fast.optimize_for_inference) with the shipped weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIGS: dict[str, dict[str, str]] = {
    "2 threads, default (spinning) OpenMP wait": {"VCN_BENCH_THREADS": "2"},
    "2 threads, OMP_WAIT_POLICY=passive": {"VCN_BENCH_THREADS": "2", "OMP_WAIT_POLICY": "passive"},
    "1 thread": {"VCN_BENCH_THREADS": "1"},
}


def probe(weights: str | Path = REPO / "weights" / "faces.safetensors") -> dict:
    """This process's predict-1 p50 (ms) and edit-32 throughput (img/s)."""
    import torch

    from bench.common import percentile, time_calls
    from model.checkpoint import load_vcn
    from model.fast import optimize_for_inference

    torch.set_num_threads(int(os.environ.get("VCN_BENCH_THREADS", torch.get_num_threads())))
    model = optimize_for_inference(load_vcn(weights))
    g = torch.Generator().manual_seed(0)
    x1, x32 = torch.rand(1, 3, 64, 64, generator=g), torch.rand(32, 3, 64, 64, generator=g)
    names = model.cfg.capsule_names
    on = {"Eyeglasses" if "Eyeglasses" in names else names[0]: True}
    for _ in range(3):
        model.predict(x1)
        model.edit(x32, on)
    p = time_calls(lambda: model.predict(x1), 30)
    e = time_calls(lambda: model.edit(x32, on), 5)
    return {"threads": torch.get_num_threads(), "predict1_p50_ms": percentile(p, 50) * 1e3,
            "predict1_p90_ms": percentile(p, 90) * 1e3, "edit32_img_per_s": 32 / percentile(e, 50)}


def run(rounds: int = 3) -> dict[str, dict]:
    """Every configuration `rounds` times, interleaved; medians over rounds, printed as a table."""
    from bench.common import machine, markdown_table

    print(json.dumps(machine(), indent=1), flush=True)
    got: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for _ in range(rounds):
        for name, env in CONFIGS.items():
            out = subprocess.run([sys.executable, "-m", "bench.threads_bench", "--probe"], cwd=REPO, check=True,
                                 env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
            got[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("predict1_p50_ms", "predict1_p90_ms", "edit32_img_per_s")
    result = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in got.items()}
    print(markdown_table(["configuration", "predict b=1 p50 ms", "p90 ms", "edit b=32 img/s", "rounds"],
                         [[n, *(r[k] for k in keys), rounds] for n, r in result.items()]))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="vcn bench threads", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--probe", action="store_true", help="measure this process only, print JSON")
    a = p.parse_args(argv)
    if a.probe:
        print(json.dumps(probe()))
    else:
        run(a.rounds)


if __name__ == "__main__":
    main()
