"""Session 4's one lent-GPU call: faces levers side by side, and a longer-trained MNIST encoder, in one budget.

    python experiments/gpu_session4.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT

MNIST travels as .carry/mnist/*.xz (the working tree a call may send is 64 MiB; the weights take 54 MB) and
is unpacked to data/mnist/ first. Timeline (seconds from start, budget B):
  0        render two caches of 64x64 face pairs (8 workers each): flip pairs, and the same faces with half
           the counterfactuals restyled (`--style-share 0.5`); meanwhile four MNIST encoders train on the GPU
           (shift +-2 px, cosine lr), each a try at a lower test error than the shipped 0.62 %:
             e_r05  from scratch, recon weight 0.05 (session 1's recipe, longer)   e_r0   recon weight 0
             e_b128 recon 0.05 at batch 128                                         e_ft   the shipped model, fine-tuned
  ~60      four faces fine-tunes of the shipped weights until TRAIN_END, all swap 1 + judge 10, batch 128 pairs:
             f_ctrl  the shipped recipe, continued (the control)   f_style  + style pairs
             f_aug   + the judge reads augmented images            f_both   both levers
  ENC_END  each encoder's `vcn eval` (test error); the best one, frozen, gets a new mask-reading generator
           until TRAIN_END, from scratch (g_scratch) and from the shipped generator (g_warm)
  TRAIN_END  faces: `vcn bank`, `vcn calibrate` (the calibration reader) and `vcn eval` each, on the GPU;
           digits: `vcn bank`, `vcn eval`
  end      back in $OUT: the three faces runs with the highest edit_success + edit_preservation and the digit
           model with the best sample accuracy (calibrated / banked, float16), logs.tgz with every log, eval
           JSON and last sample grid (files back are capped at 64 MiB).
With VCN_DRY_RUN=1 (small caches, banks and calibrations) and a small budget this dry-runs on CPU.

    python experiments/gpu_session4.py mnist2 BUDGET_SECONDS     # the second call

The first call's best encoder (e_ft, 0.49 % test error) drew badly under any generator (40 % of samples read
as asked): at recon weight 0.05 its capsules carry too little of each digit. The second call starts from
that model (weights/mnist.safetensors replaced by it in the working tree sent) and fine-tunes encoder and
generator together at a higher reconstruction weight, four ways, to find how much error that costs.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("VCN_WORK", "/tmp/vcn_s4")
from gpu_round import pack_logs  # noqa: E402  (this folder is on sys.path when run as a script)
from gpu_session3 import OUT, REPO, T0, WORK, finish, log, spawn  # noqa: E402

DRY = os.environ.get("VCN_DRY_RUN") == "1"
N_FACES = 300 if DRY else 50_000
N_BANK, CALIBRATE = ("300", ["--n", "4", "--strengths", "1", "2"]) if DRY else ("8000", [])
CACHES = {"flip": (WORK / "cache_flip.safetensors", 0.0), "style": (WORK / "cache_style.safetensors", 0.5)}
FACES = {  # name -> (cache, extra `vcn train` flags over --preset faces64 --init weights/faces.safetensors)
    "f_ctrl": ("flip", []),
    "f_style": ("style", []),
    "f_aug": ("flip", ["--judge-augment", "1"]),
    "f_both": ("style", ["--judge-augment", "1"]),
}
ENCODERS = {  # name -> extra flags over --preset mnist (shift +-2 is the preset's)
    "e_r05": ["--recon-weight", "0.05"],
    "e_r0": ["--recon-weight", "0"],
    "e_b128": ["--recon-weight", "0.05", "--batch-size", "128"],
    "e_ft": ["--recon-weight", "0.05", "--init", "weights/mnist.safetensors", "--mask-input", "1", "--lr", "3e-4"],
}
def now() -> float:
    """Seconds since the driver started, on the clock gpu_session3's log and deadlines use."""
    return time.time() - T0


def unpack_mnist() -> None:
    """.carry/mnist/NAME.xz -> data/mnist/NAME.gz (what model.data.mnist reads)."""
    dest = REPO / "data" / "mnist"
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted((REPO / ".carry" / "mnist").glob("*.xz")):
        target = dest / (f.stem + ".gz")
        if not target.is_file():
            with gzip.open(target, "wb", compresslevel=1) as out:
                out.write(lzma.decompress(f.read_bytes()))


def vcn(*args: str) -> list[str]:
    return ["-m", "model.cli", *args]


def chain(*commands: list[str]) -> list[str]:
    """One Python process running several `vcn` commands in turn (stops at the first that fails)."""
    calls = "; ".join(f"main({c[2:]!r})" for c in commands)
    return ["-c", f"from model.cli import main; {calls}"]


def train_cmd(name: str, preset: str, seconds: float, flags: list[str]) -> list[str]:
    # Loading data and weights comes before a run's clock starts: leave it 20 s of the window.
    return vcn("train", "--preset", preset, "--out", str(WORK / name), "--max-time", f"{seconds - 20:.0f}",
               "--steps", "10000000", "--no-progress", "--ckpt-every", "1000", "--sample-every", "2000",
               "--lr-schedule", "cosine", *flags)


def faces_cmd(name: str, seconds: float) -> list[str]:
    cache, flags = FACES[name]
    path, share = CACHES[cache]
    return train_cmd(name, "faces64", seconds, ["--init", "weights/faces.safetensors", "--data-cache", str(path),
                                                "--train-size", str(N_FACES), "--style-share", str(share),
                                                "--batch-size", "128", *flags])


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def warm_init(encoder_from: Path, out: Path) -> None:
    """The shipped digit model with its encoder replaced by `encoder_from`'s (same shapes)."""
    sys.path.insert(0, str(REPO))
    from model.checkpoint import load_vcn, save_vcn

    shipped, trained = load_vcn(REPO / "weights" / "mnist.safetensors"), load_vcn(encoder_from)
    shipped.encoder.load_state_dict(trained.encoder.state_dict())
    save_vcn(out, shipped)


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 560.0
    enc_end, train_end = budget * 0.41, budget * 0.71
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    unpack_mnist()
    log(f"mnist unpacked; budget {budget:.0f}s, encoders until {enc_end:.0f}s, training until {train_end:.0f}s")
    renders = {name: spawn(f"render_{name}", ["-c", (
        "from pathlib import Path; from model.train import load_face_pairs;"
        f"load_face_pairs({N_FACES}, 0, 64, Path('{path}'), workers=8, style_share={share})")])
        for name, (path, share) in CACHES.items()}
    procs = {name: spawn(name, train_cmd(name, "mnist", enc_end - now(), ["--data-root", "data/mnist", *flags]))
             for name, flags in ENCODERS.items()}
    for name, p in renders.items():
        finish(f"render_{name}", p, budget * 0.25)
    faces = {name: spawn(name, faces_cmd(name, train_end - now()))
             for name in FACES if CACHES[FACES[name][0]][0].is_file()}

    for name, p in procs.items():
        finish(name, p, enc_end + 25)
    evals = {name: spawn(f"eval_{name}", vcn("eval", "--weights", str(WORK / name / "model.safetensors"), "--data-root",
                                              "data/mnist", "--json", str(WORK / f"{name}.json")))
             for name in ENCODERS if (WORK / name / "model.safetensors").is_file()}
    for name, p in evals.items():
        finish(f"eval_{name}", p, enc_end + 60)
    errors = {name: read_json(WORK / f"{name}.json").get("error_rate") for name in evals}
    log(f"encoder test errors: {errors}")
    ranked = sorted((e, n) for n, e in errors.items() if e is not None)
    gens = {}
    if ranked:
        best = WORK / ranked[0][1] / "model.safetensors"
        warm_init(best, WORK / "warm_init.safetensors")
        common = ["--data-root", "data/mnist", "--mask-input", "1", "--freeze", "encoder", "--batch-size", "256"]
        gens["g_scratch"] = spawn("g_scratch", train_cmd("g_scratch", "mnist", train_end - now(), [
            *common, "--init", str(best), "--init-parts", "encoder", "--lr", "1e-3"]))
        gens["g_warm"] = spawn("g_warm", train_cmd("g_warm", "mnist", train_end - now(), [
            *common, "--init", str(WORK / "warm_init.safetensors"), "--lr", "5e-4"]))
    for name, p in {**faces, **gens}.items():
        finish(name, p, train_end + 25)

    post = {}
    for name in faces:
        w = WORK / name / "model.safetensors"
        banked, calibrated = WORK / f"{name}_bank.safetensors", WORK / f"{name}.safetensors"
        post[name] = spawn(f"post_{name}", chain(
            vcn("bank", "--weights", str(w), "--out", str(banked), "--n", N_BANK, "--size", "256", "--workers", "3"),
            vcn("calibrate", "--weights", str(banked), "--out", str(calibrated), "--half", *CALIBRATE),
            vcn("eval", "--weights", str(calibrated), "--json", str(WORK / f"{name}.json"))))
    post.update({name: digits_post(name) for name in gens})
    for name, p in post.items():
        finish(f"post_{name}", p, budget - 30)

    bring_back(list(faces), list(gens))
    pack_logs(WORK, OUT / "logs.tgz", extra=sorted(WORK.glob("*.json")))
    log("done")


def digits_post(name: str):
    """`vcn bank` then `vcn eval` of a digit run, in one background process; the banked file is WORK/name."""
    w, banked = WORK / name / "model.safetensors", WORK / f"{name}.safetensors"
    return spawn(f"post_{name}", chain(
        vcn("bank", "--weights", str(w), "--out", str(banked), "--n", N_BANK, "--size", "256", "--half",
            "--data-root", "data/mnist"),
        vcn("eval", "--weights", str(banked), "--data-root", "data/mnist", "--json", str(WORK / f"{name}.json"))))


def bring_back(faces: list[str], gens: list[str]) -> None:
    """The three best faces runs and the best digit model into $OUT (by their device-side `vcn eval`)."""
    def score(name: str) -> float:
        r = read_json(WORK / f"{name}.json")
        if name.startswith("g_"):
            return r.get("sample_accuracy") or 0.0
        return (r.get("edit_success") or 0.0) + (r.get("edit_preservation") or 0.0)

    for name in faces:
        log(f"{name}: {score(name):.4f} {read_json(WORK / f'{name}.json').get('style_diversity')}")
    chosen = sorted(faces, key=score, reverse=True)[:3] + sorted(gens, key=score, reverse=True)[:1]
    for name in chosen:
        src = WORK / f"{name}.safetensors"
        if src.is_file():
            shutil.copy(src, OUT / src.name)
            log(f"brought back {src.name} (score {score(name):.4f})")


MNIST2 = {  # name -> flags over --preset mnist --init weights/mnist.safetensors --mask-input 1
    "m_r1_lr1": ["--recon-weight", "1", "--lr", "1e-4"],
    "m_r1_lr3": ["--recon-weight", "1", "--lr", "3e-4"],
    "m_r05_lr1": ["--recon-weight", "0.5", "--lr", "1e-4"],
    "m_r03_lr3": ["--recon-weight", "0.3", "--lr", "3e-4"],
}


def mnist2(budget: float) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    unpack_mnist()
    train_end = budget - 45
    procs = {name: spawn(name, train_cmd(name, "mnist", train_end - now(), [
        "--data-root", "data/mnist", "--init", "weights/mnist.safetensors", "--mask-input", "1", *flags]))
        for name, flags in MNIST2.items()}
    for name, p in procs.items():
        finish(name, p, train_end + 10)
    post = {name: digits_post(name) for name in procs}
    for name, p in post.items():
        finish(f"post_{name}", p, budget - 8)
    for name in procs:
        r = read_json(WORK / f"{name}.json")
        log(f"{name}: error {r.get('error_rate')} samples {r.get('sample_accuracy')}")
        if (WORK / f"{name}.safetensors").is_file():
            shutil.copy(WORK / f"{name}.safetensors", OUT / f"{name}.safetensors")
    pack_logs(WORK, OUT / "logs.tgz", extra=sorted(WORK.glob("*.json")))


if __name__ == "__main__":
    if sys.argv[1:2] == ["mnist2"]:
        mnist2(float(sys.argv[2]))
    else:
        main()
