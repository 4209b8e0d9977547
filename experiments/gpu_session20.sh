#!/usr/bin/env bash
# Prepared in session 19 for the next lent GPU (one H100/H200, ~9 minutes in one call): the shipped decoder further,
# where session 19's four runs pointed (docs/recipes-sessions-19-20.md, session 19). Each from
# weights/faces.safetensors (stage 16 since session 23, whose call ran n_rr below at GPU length; written when it was
# stage 15)
# on a fresh pool of faces (pools 9-12), experiments/decoder_focus.py, batch 64, lr 1e-4 unless said:
#   n_bbe    --focus Bangs Bangs Eyeglasses --region-weight 10: Eyeglasses' frames weighed beside Bangs, Bangs keeping
#            two thirds of the wearing faces (session 19's even split, g_be10, gave Eyeglasses +0.57 for Bangs -0.15)
#   n_be     --focus Bangs Eyeglasses --region-weight 10: that even split again, from the shipped file
#   n_b10s   --focus Bangs --region-weight 10 --lr 3e-5: stage 14's recipe at a third of the step (its length
#            was spent at lr 1e-4: more images gave no more cuts)
#   n_rr     --focus Bangs --region-weight 10 --resample-weight 1 --resample-target render --resample-strength 1
#            (sessions 20-22): the decoder also trained on resamples (the next wearing face's residual, at push 1)
#            against the face rendered in that face's cut; stage 15's recipe from stage 14, 90 CPU minutes there
#            (docs/recipes.md, session 22; at push 3 it lost the face's own cut, session 21). Run from stage 15 now.
#            (Session 19's plan had n_bh, the hat's brims beside Bangs, in this place.)
# Each stops at the deadline (start + BUDGET - 40 s); the four files (fp16, 15.7 MB each: 63 MB of the 64 MiB that
# comes back) and one log land in $OUT; their reader stages run on the CPU afterwards, one after another:
#   bash experiments/results/session19/chain.sh NAME... (after copying them to runs/s19/), or reader_stages.sh.
#     bash experiments/gpu_session20.sh BUDGET_SECONDS [FACES]     # e.g. 560 (GPU machine), 60 400 (CPU dry run)
source experiments/decoder_runs.sh "$@"
run n_bbe --focus Bangs Bangs Eyeglasses --region-weight 10 --pool 9 &
run n_be --focus Bangs Eyeglasses --region-weight 10 --pool 10 &
run n_b10s --focus Bangs --region-weight 10 --pool 11 --lr 3e-5 &
run n_rr --focus Bangs --region-weight 10 --resample-weight 1 --resample-target render --resample-strength 1 \
  --pool 12 &
wait
finish
