"""Session 3's one lent-GPU call: GPU benchmarks, then four trainings side by side, within a time budget.

    python experiments/gpu_session3.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT

Timeline (seconds from start, for a budget B):
  0        render the training cache of 64x64 face pairs on 12 CPU workers, and meanwhile, alone on the GPU,
           `vcn bench model --device cuda` then `vcn bench train --device cuda` (issue 6's GPU figures);
  ~100     four trainings at once on the GPU until B - 120:
             ft_a   the shipped faces model fine-tuned: swap 1 + judge 10 (its CPU recipe), batch 128 pairs,
                    cosine learning rate
             ft_b   the same with swap weight 3 (does a stronger swap loss keep more under edits?)
             mnist_a  the paper's digit net from scratch, recon weight 1, batch 256, cosine
             mnist_b  the same, the generator also reading the mask (the faces lever, for sample accuracy)
  B - 140  `vcn bench http --device cuda`: micro-batching on vs off against a GPU server (needs the wheels
           in .whl/, installed to /tmp/site for that process only);
  end      each model back in float16, logs and sample grids in logs.tgz, the bench JSONs.
Evaluation happens afterwards on the CPU machine (`vcn eval`), with the same oracle as every other row.
With VCN_ROUND_FACES small and a small budget this dry-runs on CPU (VCN_DRY_RUN=1 skips the GPU benches).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gpu_round import pack_logs  # this folder is on sys.path when run as a script

OUT = Path(os.environ.get("OUT", "out"))
WORK = Path(os.environ.get("VCN_WORK", "/tmp/vcn_s3"))
CACHE = WORK / "faces64_cache.safetensors"
PY = sys.executable
REPO = Path(__file__).resolve().parent.parent
N_FACES = int(os.environ.get("VCN_ROUND_FACES", "60000"))
DRY = os.environ.get("VCN_DRY_RUN") == "1"
T0 = time.time()

FACES = {  # name -> extra `vcn train` flags over --preset faces64, all from the shipped weights
    "ft_a": ["--swap-weight", "1", "--judge-weight", "10"],
    "ft_b": ["--swap-weight", "3", "--judge-weight", "10"],
}
DIGITS = {  # name -> extra flags over --preset mnist
    "mnist_a": [],
    "mnist_b": ["--mask-input", "1"],
}


def log(msg: str) -> None:
    line = f"[{time.time() - T0:6.0f}s] {msg}"
    print(line, flush=True)
    with open(WORK / "driver.log", "a") as f:  # into logs.tgz with the rest
        f.write(line + "\n")


def spawn(name: str, args: list[str], extra_path: str = "") -> subprocess.Popen:
    """A Python subprocess with the repo on its path, output to WORK/name.log."""
    path = os.pathsep.join(p for p in (extra_path, str(REPO)) if p)
    env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2",
               VCN_MNIST_ROOT=str(REPO / "data" / "mnist"))
    log(f"start {name}: {' '.join(args)}")
    return subprocess.Popen([PY, *args], stdout=open(WORK / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)


def finish(name: str, p: subprocess.Popen, deadline: float) -> None:
    """Wait for p until `deadline` (seconds since start), then kill it."""
    try:
        p.wait(timeout=max(deadline - (time.time() - T0), 1))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        log(f"{name} killed at its deadline")
    log(f"{name} rc={p.returncode}")


def train_args(name: str, preset: str, flags: list[str], seconds: float) -> list[str]:
    common = ["-m", "model.cli", "train", "--preset", preset, "--out", str(WORK / name), "--max-time", str(seconds),
              "--steps", "10000000", "--no-progress", "--ckpt-every", "2000", "--sample-every", "2000",
              "--lr-schedule", "cosine"]
    if preset == "mnist":
        return [*common, "--data-root", "data/mnist", "--batch-size", "256", *flags]
    return [*common, "--init", "weights/faces.safetensors", "--data-cache", str(CACHE), "--train-size", str(N_FACES),
            "--batch-size", "128", *flags]


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 520.0
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    train_end = budget - 140  # then the HTTP bench (~60-90 s) and packing
    render = spawn("render", ["-c", (
        "from pathlib import Path; from model.train import load_face_pairs;"
        f"load_face_pairs({N_FACES}, 0, 64, Path('{CACHE}'), workers=12)")])
    if not DRY:
        bench = spawn("bench_model", ["-m", "model.cli", "bench", "model", "--device", "cuda", "--variants", "base",
                                      "fast", "bf16-gen", "bf16-all", "--batches", "1", "8", "32", "128", "512",
                                      "--runs", "50", "--rounds", "5", "--json", str(OUT / "bench_model_gpu.json")])
        finish("bench_model", bench, 70)
        bench = spawn("bench_train", ["-m", "model.cli", "bench", "train", "--device", "cuda", "--parts", "training",
                                      "--steps", "150", "--rounds", "1", "--json", str(OUT / "bench_train_gpu.json")])
        finish("bench_train", bench, 125)
    procs = {name: spawn(name, train_args(name, "mnist", flags, train_end - (time.time() - T0)))
             for name, flags in DIGITS.items()}
    finish("render", render, train_end * 0.6)
    if CACHE.is_file():
        for name, flags in FACES.items():
            procs[name] = spawn(name, train_args(name, "faces64", flags, train_end - (time.time() - T0)))
    for name, p in procs.items():
        finish(name, p, train_end + 30)
    pack_weights(list(procs))
    if not DRY:
        http = spawn("bench_http", ["-m", "model.cli", "bench", "http", "--device", "cuda", "--concurrency", "1",
                                    "16", "--requests", "300", "--max-seconds", "5", "--rounds", "2", "--json",
                                    str(OUT / "bench_http_gpu.json")], extra_path="/tmp/site")
        finish("bench_http", http, budget - 12)
    pack_logs(WORK, OUT / "logs.tgz")
    log("done")


def pack_weights(names: list[str]) -> None:
    """Each run's model.safetensors into $OUT as float16 (the device returns files of at most 16 MiB)."""
    sys.path.insert(0, str(REPO))
    import torch

    from model.checkpoint import load_vcn, save_vcn

    for name in names:
        path = WORK / name / "model.safetensors"
        if path.is_file():
            m = load_vcn(path)
            save_vcn(OUT / f"{name}.safetensors", m, metrics=m.metadata.get("metrics"), dtype=torch.float16,
                     recipe=m.metadata.get("train_config"))
            log(f"packed {name} {m.metadata.get('metrics')}")


if __name__ == "__main__":
    main()
