"""Session 8's one lent-GPU call: the faces model from scratch with every stage timed, a GPU-length judgement
of the perceptual decoder lever, and rotation/zoom augmentation for the MNIST error, in one budget.

    python experiments/gpu_session8.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT

Carry `.carry` (MNIST as .xz). Timeline (seconds from start, budget B):
  0          render the training cache (60,000 face pairs of seed 0, half of them style pairs, 14 workers);
             meanwhile three digit runs on the GPU until MNIST_END, each `--augment-rotate/--augment-scale`:
               m_a12   the shipped model fine-tuned (session 4's stage-5 recipe: recon 0.3, lr 3e-4 cosine),
                       rotation up to 12 degrees, zoom 1 +- 0.1
               m_a6    the same at 6 degrees, 1 +- 0.05
               m_s12   from scratch, lr 1e-3 cosine, rotation 12, zoom 0.1
  ~45        three faces runs until TRAIN_END:
               f_s     FROM SCRATCH, the faces64 preset with the shipped levers (swap 1, judge 10, style pairs
                       0.5, augmented judge), batch 128 pairs, cosine lr 3e-4: the time target on a GPU
               f_ctl   the shipped network, decoder only (encoder frozen), lr 2e-4 cosine: the control
               f_p40   the same plus the perceptual term at weight 40 (session 6 tried 20 for 50k pairs on CPU)
  MNIST_END  each digit run: `vcn bank` then `vcn eval` (test error, samples)
  TRAIN_END  f_s: bank, calibrate, transfer, calibrate-styles, eval (the shipped chain, each timed);
             f_ctl / f_p40: the generator grafted into the shipped file, eval; then calibrate + calibrate-styles
             for the new decoder, eval again
  end        back in $OUT: f_s's final file, both grafts, the digit run with the lowest error (samples
             >= 99 %), logs.tgz (every log, eval JSON, the last sample grids), times.json
With VCN_DRY_RUN=1 (tiny caches, banks, calibrations and evals) and a small budget it dry-runs on CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("VCN_WORK", "/tmp/vcn_s8")
from gpu_round import pack_logs  # noqa: E402  (this folder is on sys.path when run as a script)
from gpu_session3 import OUT, WORK, finish, log, spawn  # noqa: E402
from gpu_session4 import digits_post, now, read_json, train_cmd, unpack_mnist, vcn  # noqa: E402

DRY = os.environ.get("VCN_DRY_RUN") == "1"
N_FACES = 300 if DRY else 60_000
FACES_SEED = 0  # the faces' seed; a run trained with --seed N reads (or renders) faces of seed N
CACHE = WORK / "cache_style.safetensors"
SMALL = {  # per-stage flags that make a dry run quick
    "bank": ["--n", "300"] if DRY else ["--n", "8000"],  # the digit runs use gpu_session4's, the same
    "calibrate": ["--n", "4", "--strengths", "1", "2"] if DRY else [],
    "transfer": ["--n", "20"] if DRY else ["--n", "4000"],
    "styles": ["--n", "20", "--strengths", "1", "2"] if DRY else [],
    "eval": ["--n", "100"] if DRY else [],
}
DIGITS = {  # name -> flags over --preset mnist --mask-input 1 --recon-weight 0.3 --data-root data/mnist
    "m_a12": ["--init", "weights/mnist.safetensors", "--lr", "3e-4", "--augment-rotate", "12",
              "--augment-scale", "0.1"],
    "m_a6": ["--init", "weights/mnist.safetensors", "--lr", "3e-4", "--augment-rotate", "6",
             "--augment-scale", "0.05"],
    "m_s12": ["--lr", "1e-3", "--augment-rotate", "12", "--augment-scale", "0.1"],
}
FACE_DATA = ["--data-cache", str(CACHE), "--train-size", str(N_FACES), "--style-share", "0.5", "--judge-augment",
             "1", "--batch-size", "128"]
DECODER = ["--init", "weights/faces.safetensors", "--freeze", "encoder", "--lr", "2e-4"]
FACES = {"f_s": [], "f_ctl": DECODER, "f_p40": [*DECODER, "--perceptual-weight", "40"]}
TIMES: dict[str, float] = {}


def timed(*commands: list[str]) -> list[str]:
    """One process running commands in turn, each `vcn` one in process and a script (["script.py", ...]) as
    a child, printing each one's wall time (the chain's log has them); it stops at the first that fails."""
    calls = []
    for c in commands:
        run = f"main({c[2:]!r})" if c[0] == "-m" else f"subprocess.run([sys.executable, *{c!r}], check=True)"
        calls.append(f"t = time.time(); {run}; print('TIME', {c[2] if c[0] == '-m' else c[0]!r}, "
                     "round(time.time() - t, 1), flush=True)")
    return ["-c", "import subprocess, sys, time; from model.cli import main; " + "; ".join(calls)]


def faces_post(name: str) -> subprocess.Popen:
    w, s = WORK / name / "model.safetensors", WORK / name
    if name == "f_s":  # the shipped chain (weights/README.md, stages 3-6)
        return spawn(f"post_{name}", timed(
            vcn("bank", "--weights", str(w), "--out", f"{s}_bank.safetensors", *SMALL["bank"], "--size", "256",
                "--workers", "6", "--edit-strength", "1.5"),
            vcn("calibrate", "--weights", f"{s}_bank.safetensors", "--out", f"{s}_cal.safetensors",
                *SMALL["calibrate"]),
            vcn("transfer", "--weights", f"{s}_cal.safetensors", "--out", f"{s}_tr.safetensors", *SMALL["transfer"],
                "--variety", "0.5", "--blend", "0.05", "--workers", "8"),
            vcn("calibrate-styles", "--weights", f"{s}_tr.safetensors", "--out", f"{s}_final.safetensors",
                "--half", *SMALL["styles"]),
            vcn("eval", "--weights", f"{s}_final.safetensors", "--json", f"{s}_final.json", *SMALL["eval"])))
    # A decoder-only run: its generator into the shipped file (same encoder, so bank, maps and strengths
    # still describe the capsules), judged as is and after recalibrating the strengths for the new decoder.
    return spawn(f"post_{name}", timed(
        ["experiments/graft_generator.py", "weights/faces.safetensors", str(w), f"{s}_graft.safetensors", "--half"],
        vcn("eval", "--weights", f"{s}_graft.safetensors", "--json", f"{s}_graft.json", *SMALL["eval"]),
        vcn("calibrate", "--weights", f"{s}_graft.safetensors", "--out", f"{s}_recal1.safetensors",
            *SMALL["calibrate"]),
        vcn("calibrate-styles", "--weights", f"{s}_recal1.safetensors", "--out", f"{s}_recal.safetensors", "--half",
            *SMALL["styles"]),
        vcn("eval", "--weights", f"{s}_recal.safetensors", "--json", f"{s}_recal.json", *SMALL["eval"])))


def bring(path: Path) -> None:
    """Copy a finished file into $OUT at once, so a call cut off at its limit still returns it."""
    if path.is_file():
        shutil.copy(path, OUT / path.name)
        log(f"brought back {path.name}")


def launch(budget: float, post_seconds: float, digits: dict[str, list[str]], faces: dict[str, list[str]]
           ) -> tuple[float, float, dict[str, subprocess.Popen], dict[str, subprocess.Popen]]:
    """The common opening of a call: MNIST unpacked; the training cache rendered (14 workers) while the
    digit runs train on the GPU (session 4's stage-5 recipe plus each run's flags) until half the budget;
    then the faces runs (`--preset faces64` plus each run's flags) until post_seconds before the end.
    Returns (mnist_end, train_end, digit runs, faces runs)."""
    mnist_end, train_end = budget * 0.5, budget - post_seconds
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    unpack_mnist()
    log(f"budget {budget:.0f}s: digits until {mnist_end:.0f}s, faces until {train_end:.0f}s")
    render = spawn("render", ["-c", (
        "from pathlib import Path; from model.train import load_face_pairs;"
        f"load_face_pairs({N_FACES}, {FACES_SEED}, 64, Path('{CACHE}'), workers=14, style_share=0.5)")])
    digit_runs = {name: spawn(name, train_cmd(name, "mnist", mnist_end - now(), [
        "--data-root", "data/mnist", "--mask-input", "1", "--recon-weight", "0.3", *flags]))
        for name, flags in digits.items()}
    finish("render", render, budget * 0.2)
    TIMES["render"] = round(now(), 1)
    face_runs = {name: spawn(name, train_cmd(name, "faces64", train_end - now(), flags))
                 for name, flags in faces.items()} if CACHE.is_file() else {}
    TIMES["faces_start"] = round(now(), 1)
    return mnist_end, train_end, digit_runs, face_runs


def run_out(budget: float, mnist_end: float, train_end: float, digits: dict[str, subprocess.Popen],
            faces: dict[str, subprocess.Popen], post: Callable[[str], subprocess.Popen],
            before_post: Callable[[], None] = lambda: None, after_each: Callable[[str], None] = lambda _: None) -> None:
    """The rest of a call after `launch`: each digit run finished and its bank + eval started; before_post();
    each faces run finished and post(name) started (its stages); the digit evals awaited and the best digit
    model brought back; each faces chain awaited, then after_each(name)."""
    for name, p in digits.items():
        finish(name, p, mnist_end + 25)
    digit_post = {name: digits_post(name) for name in digits}
    before_post()
    for name, p in faces.items():
        finish(name, p, train_end + 25)
    TIMES["faces_end"] = round(now(), 1)
    chains = {name: post(name) for name in faces}
    for name, p in digit_post.items():
        finish(f"post_{name}", p, budget - 40)
    bring_best_digit(digits)
    for name, p in chains.items():
        finish(f"post_{name}", p, budget - 15)
        TIMES[f"post_{name}_end"] = round(now(), 1)
        after_each(name)


def bring_best_digit(names) -> None:
    """Log each digit run's eval and bring back the one with the lowest error among those drawing well."""
    results = {n: read_json(WORK / f"{n}.json") for n in names}
    log("digits: " + json.dumps({n: (r.get("error_rate"), r.get("sample_accuracy")) for n, r in results.items()}))
    fine = sorted((r["error_rate"], n) for n, r in results.items()
                  if r.get("error_rate") is not None and (r.get("sample_accuracy") or 0) >= 0.99)
    if fine:
        bring(WORK / f"{fine[0][1]}.safetensors")


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 560.0
    # post stages ~100-150 s on the device, packing ~10
    mnist_end, train_end, digits, faces = launch(budget, 170, DIGITS,
                                                 {n: [*FACE_DATA, *f] for n, f in FACES.items()})
    run_out(budget, mnist_end, train_end, digits, faces, faces_post)
    bring(WORK / "f_s_final.safetensors")
    for name in ("f_ctl", "f_p40"):
        bring(WORK / f"{name}_graft.safetensors")
    for name in faces:
        for tag in ("final", "graft", "recal"):
            log_faces_eval(f"{name}_{tag}")
    wrap_up()


def log_faces_eval(stem: str) -> None:
    """One line of a faces run's device-side eval (WORK/stem.json), if it exists."""
    r = read_json(WORK / f"{stem}.json")
    if r:
        log(f"{stem}: acc {r.get('mean_accuracy')} edits {r.get('edit_success')} kept "
            f"{r.get('edit_preservation')} samples {r.get('sample_accuracy')} FD {r.get('frechet_distance')} "
            f"styles {[r.get('style_diversity', {}).get(a) for a in ('Eyeglasses', 'Bangs', 'Wearing_Hat')]}")


def wrap_up() -> None:
    """times.json, then every log, eval JSON and last sample grid into $OUT/logs.tgz."""
    (WORK / "times.json").write_text(json.dumps(TIMES, indent=1))
    pack_logs(WORK, OUT / "logs.tgz", extra=[WORK / "times.json", *sorted(WORK.glob("*.json"))])
    log("done")


if __name__ == "__main__":
    main()
