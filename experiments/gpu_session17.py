"""Prepared in session 17 (no device lent) for the next lent GPU: the decoder's fidelity for Bangs, with the paper's
LSGAN as the lever. One call, on the GPU machine, results in $OUT:

    python experiments/gpu_session17.py BUDGET_SECONDS [--runs ...] [--seed N]     # e.g. 565 with 15 minutes lent

Why: the encoder carries Bangs' cut (a linear probe of the present capsule reads it on 83 % of held-out faces,
choppy 82 %), but stage 11's decoder drew it faintly: the oracle read the cut on 46 % of reconstructions (choppy 28 %)
and on 41 % of swaps from the same face's own restyled twin (choppy 13 %), and no push along the capsule means helped
(experiments/style_ceiling.py; docs/recipes-sessions-17-18.md, session 17). Stage 12 (the decoder alone, 35 CPU
minutes on batches where half the faces wear Bangs) reads 56 % / 55 % (choppy 53 / 30 %); these runs start from it.
Blurred small shapes are what a pixel loss settles for and what an adversarial term penalises. On this CPU the
fine-tune ran at 7-14 img/s (about 300 steps in 50 minutes: too short to say anything), so it waits for a GPU.

Session 15's machinery unchanged (experiments/gpu_session15.py: the training cache, the runs side by side from the
shipped file with session 9's recipe plus session 15's style lever, each run through the shipped chain and `vcn
eval`), with these runs:
  f_ctl    the shipped recipe continued (style lever 3): the control
  f_adv3   + --adv-weight 3   (the multi-scale discriminator on reconstructions and prior edits)
  f_adv10  + --adv-weight 10  (round 1's weight, from scratch then)
  f_dadv10 + --adv-weight 10 with the encoder frozen (the generator grafted into the shipped file)
What to read first: `python experiments/style_ceiling.py F` on each final file (reconstructed / swapped cuts), then
the eval JSONs' style_diversity (Bangs) and edit_preservation (the cost). VCN_DRY_RUN=1 with a small budget dry-runs
it on a CPU.
"""

from __future__ import annotations

import gpu_session15

STYLE = ["--style-augment", "1", "--style-weight", "3"]  # the shipped recipe's style lever (stage 10)
gpu_session15.FACES.clear()
gpu_session15.FACES.update({
    "f_ctl": STYLE,
    "f_adv3": [*STYLE, "--adv-weight", "3"],
    "f_adv10": [*STYLE, "--adv-weight", "10"],
    "f_dadv10": ["--freeze", "encoder", *STYLE, "--adv-weight", "10"],
})

if __name__ == "__main__":
    gpu_session15.main()
