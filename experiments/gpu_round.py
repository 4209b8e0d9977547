"""Run one round of recipe experiments on a GPU machine, in parallel, within a time budget.

Renders the training cache once (16 CPU workers), trains the eval oracle, the training judge, the digit
model and several VCN recipes side by side on the one GPU, evaluates every run with `vcn eval` against the
same oracle and fixed-seed test set, and copies results to $OUT. Each recipe row in docs/recipes-history.md names
the round and run it came from; rerun with: python experiments/gpu_round.py ROUND
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

OUT = Path(os.environ.get("OUT", "out"))
WORK = Path("/tmp/vcn_round")
CACHE = WORK / "faces64_cache.safetensors"
PY = sys.executable
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `model` for pack(), without PYTHONPATH
N_FACES = int(os.environ.get("VCN_ROUND_FACES", "100000"))  # small values for a dry run on CPU
T0 = time.time()

# name -> extra `vcn train` flags. Paper rows use the paper's pure design (no context, no mask input).
ROUNDS: dict[str, dict[str, list[str]]] = {
    "1": {
        "paper": ["--context-dim", "0", "--mask-input", "0", "--swap-weight", "0"],
        "paper_lsgan": ["--context-dim", "0", "--mask-input", "0", "--swap-weight", "0", "--adv-weight", "10"],
        "ctx_mask": ["--swap-weight", "0"],
        "swap": ["--swap-weight", "1"],
        "swap_mmd": ["--swap-weight", "1", "--mmd-weight", "300"],
        "no_recon": ["--context-dim", "0", "--mask-input", "0", "--swap-weight", "0", "--recon-weight", "0"],
    },
}
JUDGED = {"1": {"swap_judge": ["--swap-weight", "1", "--judge-weight", "10"]}}


def log(msg: str) -> None:
    print(f"[{time.time() - T0:6.0f}s] {msg}", flush=True)


def spawn(name: str, args: list[str], threads: int = 2) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.getcwd(), PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads))
    f = open(WORK / f"{name}.log", "w")
    log(f"start {name}: {' '.join(args)}")
    return subprocess.Popen([PY, *args], stdout=f, stderr=subprocess.STDOUT, env=env)


def train_args(name: str, flags: list[str], seconds: float, batch: int) -> list[str]:
    return ["-m", "model.cli", "train", "--preset", "faces64", "--out", str(WORK / name), "--data-cache",
            str(CACHE), "--max-time", str(seconds), "--steps", "1000000", "--batch-size", str(batch),
            "--train-size", str(N_FACES), "--no-progress", "--ckpt-every", "2000", "--sample-every", "2000", *flags]


def main() -> None:
    rnd = sys.argv[1] if len(sys.argv) > 1 else "1"
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 560.0  # seconds for the whole round
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    train_end = budget - 95  # leave time for evaluation and packing

    procs["mnist"] = spawn("mnist", ["-m", "model.cli", "train", "--preset", "mnist", "--out", str(WORK / "mnist"),
                                     "--data-root", "data/mnist", "--max-time", str(train_end - 15), "--steps",
                                     "1000000", "--no-progress", "--ckpt-every", "2000"])
    procs["digit_judge"] = spawn("digit_judge", ["-c", (
        "from model.digit_judge import train_digit_judge; train_digit_judge('data/mnist', steps=4000, batch=256,"
        f" out_path='{WORK}/digit_judge.safetensors', workers=2, log_every=500)")])
    log("rendering cache")
    subprocess.run([PY, "-c", (
        "from pathlib import Path; from model.train import load_face_pairs;"
        f"load_face_pairs({N_FACES}, 0, 64, Path('{CACHE}'), workers=14)")],
        check=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    log("cache ready")
    procs["oracle"] = spawn("oracle", ["-c", (
        "from model.oracle import train_oracle; train_oracle(64, n_train=100000, seed=1, steps=6000, batch=256,"
        f" out_path='{WORK}/oracle.safetensors', max_time={train_end - 120 - (time.time() - T0)}, workers=8,"
        " log_every=200)")], threads=4)
    procs["judge"] = spawn("judge", ["experiments/train_judge.py", str(CACHE), str(WORK / "judge.safetensors"),
                                     "--steps", "2500"])
    for name, flags in ROUNDS[rnd].items():
        procs[name] = spawn(name, train_args(name, flags, train_end - (time.time() - T0), 128))
    procs["judge"].wait()
    log(f"judge done rc={procs['judge'].returncode}")
    for name, flags in JUDGED.get(rnd, {}).items():
        procs[name] = spawn(name, train_args(name, [*flags, "--judge", str(WORK / "judge.safetensors")],
                                             train_end - (time.time() - T0), 128))
    for name, p in procs.items():
        p.wait()
        log(f"{name} rc={p.returncode}")

    evals = {}
    runs = [n for n in [*ROUNDS[rnd], *JUDGED.get(rnd, {})] if (WORK / n / "model.safetensors").is_file()]
    for name in runs:
        weights = str(WORK / name / "model.safetensors")
        evals[name] = spawn(f"eval_{name}", ["-m", "model.cli", "eval", "--weights", weights, "--oracle",
                                             str(WORK / "oracle.safetensors"),
                                             "--json", str(WORK / f"eval_{name}.json")])
    if (WORK / "mnist" / "model.safetensors").is_file():
        weights = str(WORK / "mnist" / "model.safetensors")
        evals["mnist"] = spawn("eval_mnist", ["-m", "model.cli", "eval", "--weights", weights, "--oracle",
                                              str(WORK / "digit_judge.safetensors"), "--data-root", "data/mnist",
                                              "--json", str(WORK / "eval_mnist.json")])
    for name, p in evals.items():
        p.wait()
        log(f"eval {name} rc={p.returncode}")
    pack(runs)


def pack_logs(work: Path, tgz: Path, extra: list[Path] = ()) -> None:
    """Every *.log of `work`, each run's log.csv and last sample grid, and the `extra` files that exist."""
    with tarfile.open(tgz, "w:gz") as tar:
        for f in work.glob("*.log"):
            tar.add(f, arcname=f.name)
        for f in work.glob("*/log.csv"):
            tar.add(f, arcname=f"{f.parent.name}_log.csv")
        for d in work.iterdir():
            samples = sorted((d / "samples").glob("*.png")) if d.is_dir() else []
            if samples:
                tar.add(samples[-1], arcname=f"{d.name}_{samples[-1].name}")
        for f in extra:
            if f.is_file():
                tar.add(f, arcname=f.name)


def pack(runs: list[str]) -> None:
    summary = {}
    for f in sorted(WORK.glob("eval_*.json")):
        summary[f.stem[5:]] = json.loads(f.read_text())
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    pack_logs(WORK, OUT / "logs.tgz", extra=[WORK / "judge.safetensors"])
    for name in ("oracle", "digit_judge"):
        if (WORK / f"{name}.safetensors").is_file():
            shutil.copy(WORK / f"{name}.safetensors", OUT / f"{name}.safetensors")
    # Weights come back in float16 (the device returns files of at most 16 MiB).
    import torch

    from model.checkpoint import load_vcn, save_vcn

    for name in ["mnist", *[r for r in runs if r.startswith("swap")][:3]]:
        path = WORK / name / "model.safetensors"
        if path.is_file():
            m = load_vcn(path)
            save_vcn(OUT / f"{name}.safetensors", m, metrics=m.metadata.get("metrics"), dtype=torch.float16,
                     recipe=m.metadata.get("train_config"))
    log("packed")


if __name__ == "__main__":
    main()
