"""Session 15's lent-GPU calls: session 11's style lever (a frozen reader's style heads judge reconstructions
and restyled swaps) at GPU length, with the reader's view augmented, against a control, in one budget.

    python experiments/gpu_session15.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT
    python experiments/gpu_session15.py 280 --runs f_ctl f_sw3 --seed 1 --faces 30000 --pairs 2000 --post 110 \\
        --pair-workers 12    # the second call: a shorter replicate at seed 1, with session 14's file copied over
                             # weights/faces.safetensors for the call (carrying it beside the repo would pass the
                             # 64 MiB limit); its trainings stalled after step 100 (docs/recipes-sessions-15-16.md,
                             # session 15): the cache held seed 0's faces, so each run rendered seed 1's itself on one
                             # core for ~150 s before its first step (found in session 16; now rendered at --seed)

No carry needed (no digit runs). Timeline (seconds from start, budget B):
  0          render the training cache (60,000 face pairs of seed 0 or --seed, half of them style pairs, 14 workers)
  ~40        four fine-tunes of the shipped network until TRAIN_END, session 9's recipe (batch 128 pairs, lr 2e-4
             cosine, style pairs 0.5, augmented judge, perceptual 40) plus:
               f_ctl    nothing: the control
               f_sw3    --style-weight 3 --style-augment 1
               f_sw10   --style-weight 10 --style-augment 1
               f_dec10  the same at weight 10 with the encoder frozen (decoder only)
             meanwhile the transfer fit's 164,000 counterfactual renders go to a cache
  TRAIN_END  whole-network runs: bank, calibrate, transfer, calibrate-styles, verify, style-clusters, eval (the
             shipped chain, weights/README.md stages 3-9); the decoder-only run: its generator grafted into the
             shipped file, then calibrate-styles, style-clusters, eval
  end        back in $OUT: the final files (the control's last, while they fit in 63.5 MB), logs.tgz, times.json
With VCN_DRY_RUN=1 (tiny caches, banks, calibrations and evals) and a small budget it dry-runs on CPU.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("VCN_WORK", "/tmp/vcn_s15")
import gpu_session8  # noqa: E402
import gpu_session9  # noqa: E402
from gpu_session3 import WORK, log, spawn  # noqa: E402
from gpu_session4 import read_json, vcn  # noqa: E402
from gpu_session8 import N_FACES, SMALL, bring, launch, log_faces_eval, run_out, timed, wrap_up  # noqa: E402
from gpu_session9 import FACE_DATA, capsule_stages, render_pairs  # noqa: E402

CLUSTERS = ["--n", "8"] if os.environ.get("VCN_DRY_RUN") == "1" else []  # style-clusters' faces (default 400)
LEVER = ["--style-augment", "1", "--style-weight"]
FACES = {"f_ctl": [], "f_sw3": [*LEVER, "3"], "f_sw10": [*LEVER, "10"],
         "f_dec10": ["--freeze", "encoder", *LEVER, "10"]}
ROOM = 63.5e6  # bytes of final files brought back (the limit is 64 MiB, 67.1 MB, with logs.tgz)


def faces_post(name: str):
    """The shipped chain on one run, each stage timed; a decoder-only run keeps the shipped capsule stages
    (same encoder: bank, transfer maps, edit strengths and verifier still describe its capsules)."""
    w, s = WORK / name / "model.safetensors", WORK / name
    decoder_only = "--freeze" in FACES[name]
    styles = vcn("calibrate-styles", "--weights", f"{s}_tr.safetensors", "--out", f"{s}_sty.safetensors",
                 *SMALL["styles"])
    verify = vcn("verify", "--weights", f"{s}_sty.safetensors", "--out", f"{s}_ver.safetensors",
                 "--strengths", "1", "1.5", "2", "--confidence", "0.995")
    clusters = vcn("style-clusters", "--weights", f"{s}_{'sty' if decoder_only else 'ver'}.safetensors",
                   "--out", f"{s}_final.safetensors", "--half", *CLUSTERS)
    evaluate = vcn("eval", "--weights", f"{s}_final.safetensors", "--json", f"{s}_final.json", *SMALL["eval"])
    if decoder_only:
        return spawn(f"post_{name}", timed(
            ["experiments/graft_generator.py", "weights/faces.safetensors", str(w), f"{s}_tr.safetensors"],
            styles, clusters, evaluate))
    return spawn(f"post_{name}", timed(*capsule_stages(name), styles, verify, clusters, evaluate))


def style_mean(name: str) -> float:
    r = read_json(WORK / f"{name}_final.json").get("style_diversity", {})
    return sum(r.get(a) or 0 for a in ("Eyeglasses", "Bangs", "Wearing_Hat"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("budget", type=float, nargs="?", default=550.0)
    p.add_argument("--runs", nargs="+", choices=list(FACES), default=list(FACES))
    p.add_argument("--seed", type=int, default=None, help="every run's training seed (default: the preset's 0)")
    p.add_argument("--faces", type=int, default=None, help="training pairs rendered (default 60,000)")
    p.add_argument("--pairs", type=int, default=None, help="the transfer fit's faces (default 4,000)")
    p.add_argument("--post", type=float, default=160.0, help="seconds left after training for the chains")
    p.add_argument("--pair-workers", type=int, default=10, help="processes rendering the transfer fit's pairs")
    p.add_argument("--init", default=None, help="the file the runs start from (default: weights/faces.safetensors)")
    a = p.parse_args()
    if a.faces:  # the helpers read these module constants when called
        gpu_session8.N_FACES = a.faces
    if a.pairs:
        gpu_session9.N_PAIRS = a.pairs
    if a.seed is not None:  # `vcn train --seed N` trains on faces of seed N: render those, not seed 0's
        gpu_session8.FACES_SEED = a.seed
    data = [str(gpu_session8.N_FACES) if f == str(N_FACES) else f for f in FACE_DATA]  # --train-size
    if a.init:  # another starting file (within the 64 MiB the call carries)
        data = [a.init if f == "weights/faces.safetensors" else f for f in data]
    seed = [] if a.seed is None else ["--seed", str(a.seed)]
    # post stages ~80 s on the device with the cached pairs (45 s of chain, 35 s of eval), packing ~10
    mnist_end, train_end, digits, faces = launch(a.budget, a.post, {}, {n: [*data, *FACES[n], *seed] for n in a.runs})
    run_out(a.budget, mnist_end, train_end, digits, faces, faces_post, render_pairs(train_end, a.pair_workers),
            finished)
    room = ROOM
    for name in sorted((n for n in a.runs if n != "f_ctl"), key=style_mean, reverse=True) + ["f_ctl"]:
        f = WORK / f"{name}_final.safetensors"
        if f.is_file() and f.stat().st_size <= room:
            bring(f)
            room -= f.stat().st_size
        elif f.is_file():
            log(f"left {f.name} behind: no room")
    wrap_up()


def finished(name: str) -> None:
    """A run's chain is done: its eval logged, and its JSON in $OUT at once (a call cut short still returns it)."""
    log_faces_eval(f"{name}_final")
    bring(WORK / f"{name}_final.json")


if __name__ == "__main__":
    main()
