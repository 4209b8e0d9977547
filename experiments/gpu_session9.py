"""Session 9's one lent-GPU call: the donor swap at GPU length (the lever session 4 left for a GPU) against
the nuisance that edits still move, and a cross-entropy on the capsule KLs for the MNIST error.

    python experiments/gpu_session9.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT

Carry `.carry` (MNIST as .xz). Timeline (seconds from start, budget B):
  0          render the training cache (60,000 face pairs of seed 0, half of them style pairs, 14 workers);
             meanwhile three digit runs on the GPU until MNIST_END: the shipped model fine-tuned by session 4's
             stage-5 recipe (recon 0.3, mask-reading generator, lr 3e-4 cosine) plus the choice term
             (losses.capsule_choice_loss) at temperature T and weight T (so the push per nat stays comparable):
             m_t1, m_t8, m_t32 (T = 1, 8, 32). On the shipped model's first 1,000 training digits the term is
             0.018 / 0.011 / 0.11 nats an image at T = 1 / 8 / 32: their training digits' true KL sits near 10
             nats and the next smallest near 125, so at T = 1 only the few hard images count and a high T keeps
             widening every gap (a soft, larger margin).
  ~45        three faces fine-tunes of the WHOLE shipped network until TRAIN_END (batch 128 pairs, lr 2e-4
             cosine, style pairs 0.5, augmented judge, perceptual 40 as the shipped decoder was trained):
               f_ctl   the control
               f_don   + the donor swap (weight 1) and context KL weight 0.1 (session 4's CPU pair, B)
               f_don3  + the donor swap at weight 3 and context KL weight 0.03
             meanwhile the transfer fit's 164,000 counterfactual renders (4,000 faces x 41) go to a cache
             (`vcn transfer --pairs-cache`), so the three fits below encode instead of rendering
  MNIST_END  each digit run: `vcn bank` then `vcn eval` (test error, samples)
  TRAIN_END  each faces run: bank, calibrate, transfer, calibrate-styles, eval (the shipped chain, each timed)
  end        back in $OUT: every faces run's final file, the digit run with the lowest error (samples >= 99 %),
             logs.tgz (every log, eval JSON, the last sample grids), times.json
With VCN_DRY_RUN=1 (tiny caches, banks, calibrations and evals) and a small budget it dry-runs on CPU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

os.environ.setdefault("VCN_WORK", "/tmp/vcn_s9")
from gpu_session3 import WORK, finish, spawn  # noqa: E402
from gpu_session4 import now, vcn  # noqa: E402
from gpu_session8 import (  # noqa: E402
    CACHE,
    N_FACES,
    SMALL,
    TIMES,
    bring,
    launch,
    log_faces_eval,
    run_out,
    timed,
    wrap_up,
)

DRY = os.environ.get("VCN_DRY_RUN") == "1"
N_PAIRS = 20 if DRY else 4000  # the transfer fit's faces (each flipped once per attribute)
PAIRS = WORK / "flip_pairs.safetensors"
DIGITS = {  # name -> flags over --preset mnist --mask-input 1 --recon-weight 0.3 --data-root data/mnist
    f"m_t{t}": ["--init", "weights/mnist.safetensors", "--lr", "3e-4", "--choice-weight", str(t),
                "--choice-temperature", str(t)] for t in (1, 8, 32)}
FACE_DATA = ["--data-cache", str(CACHE), "--train-size", str(N_FACES), "--style-share", "0.5", "--judge-augment",
             "1", "--batch-size", "128", "--init", "weights/faces.safetensors", "--lr", "2e-4",
             "--perceptual-weight", "40"]
FACES = {"f_ctl": [], "f_don": ["--donor-weight", "1", "--context-kl-weight", "0.1"],
         "f_don3": ["--donor-weight", "3", "--context-kl-weight", "0.03"]}


def capsule_stages(name: str) -> list[list[str]]:
    """The chain's stages that describe a run's capsules (bank, edit strengths, transfer maps from the cached
    pairs), run name's model.safetensors -> WORK/name_tr.safetensors."""
    w, s = WORK / name / "model.safetensors", WORK / name
    return [vcn("bank", "--weights", str(w), "--out", f"{s}_bank.safetensors", *SMALL["bank"], "--size", "256",
                "--workers", "4", "--edit-strength", "1.5"),
            vcn("calibrate", "--weights", f"{s}_bank.safetensors", "--out", f"{s}_cal.safetensors",
                *SMALL["calibrate"]),
            vcn("transfer", "--weights", f"{s}_cal.safetensors", "--out", f"{s}_tr.safetensors", "--n", str(N_PAIRS),
                "--variety", "0.5", "--blend", "0.05", "--workers", "4", "--pairs-cache", str(PAIRS))]


def faces_post(name: str):
    """The shipped chain (weights/README.md, stages 3-6) on a run whose encoder moved, each stage timed."""
    s = WORK / name
    return spawn(f"post_{name}", timed(
        *capsule_stages(name),
        vcn("calibrate-styles", "--weights", f"{s}_tr.safetensors", "--out", f"{s}_final.safetensors", "--half",
            *SMALL["styles"]),
        vcn("eval", "--weights", f"{s}_final.safetensors", "--json", f"{s}_final.json", *SMALL["eval"])))


def render_pairs(deadline: float, workers: int = 10) -> Callable[[], None]:
    """Start rendering the transfer fit's counterfactual pairs into PAIRS (beside the trainings); returns what waits
    for them (until `deadline`, seconds since start) before the chains, which read the cached renders."""
    pairs = spawn("pairs", ["-c", (
        "from pathlib import Path; from model.transfer import rendered_flip_pairs;"
        f"next(iter(rendered_flip_pairs({N_PAIRS}, 64, workers={workers}, cache=Path('{PAIRS}'))))")])

    def pairs_done() -> None:
        finish("pairs", pairs, deadline)
        TIMES["pairs"] = round(now(), 1)
    return pairs_done


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 555.0
    # post stages ~90 s with the cached pairs, packing ~10
    mnist_end, train_end, digits, faces = launch(budget, 150, DIGITS, {n: [*FACE_DATA, *f] for n, f in FACES.items()})
    pairs_done = render_pairs(train_end)

    def bring_and_log(name: str) -> None:
        bring(WORK / f"{name}_final.safetensors")
        log_faces_eval(f"{name}_final")

    run_out(budget, mnist_end, train_end, digits, faces, faces_post, pairs_done, bring_and_log)
    wrap_up()


if __name__ == "__main__":
    main()
