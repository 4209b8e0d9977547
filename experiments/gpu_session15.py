"""Session 15's one lent-GPU call: session 11's style lever (a frozen reader's style heads judge reconstructions
and restyled swaps) at GPU length, with the reader's view augmented, against a control, in one budget.

    python experiments/gpu_session15.py BUDGET_SECONDS        # on the GPU machine; results land in $OUT

No carry needed (no digit runs). Timeline (seconds from start, budget B):
  0          render the training cache (60,000 face pairs of seed 0, half of them style pairs, 14 workers)
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

import os
import sys

os.environ.setdefault("VCN_WORK", "/tmp/vcn_s15")
from gpu_session3 import WORK, log, spawn  # noqa: E402
from gpu_session4 import read_json, vcn  # noqa: E402
from gpu_session8 import SMALL, bring, launch, log_faces_eval, run_out, timed, wrap_up  # noqa: E402
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
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 550.0
    # post stages ~60-100 s on the device with the cached pairs, packing ~10
    mnist_end, train_end, digits, faces = launch(budget, 160, {}, {n: [*FACE_DATA, *f] for n, f in FACES.items()})
    run_out(budget, mnist_end, train_end, digits, faces, faces_post, render_pairs(train_end), log_faces_eval_final)
    room = ROOM
    for name in sorted((n for n in FACES if n != "f_ctl"), key=style_mean, reverse=True) + ["f_ctl"]:
        f = WORK / f"{name}_final.safetensors"
        if f.is_file() and f.stat().st_size <= room:
            bring(f)
            room -= f.stat().st_size
        elif f.is_file():
            log(f"left {f.name} behind: no room")
    wrap_up()


def log_faces_eval_final(name: str) -> None:
    log_faces_eval(f"{name}_final")


if __name__ == "__main__":
    main()
