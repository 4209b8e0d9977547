#!/usr/bin/env bash
# Session 23's lent H200 (one call, ~9 minutes): is the decoder too narrow to draw all four of Bangs' cuts?
# Stage 15's decoder draws 3.77 cuts a face at most over all 256 stored residuals (session 22), and its 64x64 layer
# has 32 channels. Four decoder-only fine-tunes of weights/faces.safetensors side by side, each stage 15's recipe
# (experiments/decoder_focus.py --focus Bangs --region-weight 10 --resample-weight 1 --resample-target render
# --resample-strength 1, batch 64) on the same fresh pool of faces (pool 9, 24,000 faces), differing only in width:
#   n_rr     the shipped width (32 channels at 64x64): the control, stage 15's recipe at GPU length
#   w64      --widen 64: the 64x64 layer at 64 channels (model/widen.py; +34k parameters)
#   w128     --widen 128: the 32x32 and 64x64 layers at 128 (+363k parameters, the file 16.4 MB)
#   w128f    --widen 128 --lr 2e-4: the same at twice the step, the new channels starting from nothing
# Each stops at the deadline (start + BUDGET - 40 s); the four files (fp16, 15.7-16.4 MB) and the logs land in $OUT.
#     bash experiments/gpu_session23.sh BUDGET_SECONDS [FACES]     # e.g. 560 (GPU machine), 60 400 (CPU dry run)
source experiments/decoder_runs.sh "$@"
RR=(--focus Bangs --region-weight 10 --resample-weight 1 --resample-target render --resample-strength 1 --pool 9)
run n_rr "${RR[@]}" &
run w64 "${RR[@]}" --widen 64 &
run w128 "${RR[@]}" --widen 128 &
run w128f "${RR[@]}" --widen 128 --lr 2e-4 &
wait
finish
