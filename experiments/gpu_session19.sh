#!/usr/bin/env bash
# Session 19's lent-GPU call (one H200, ~9 minutes): stage 13's recipe (the decoder alone, encoder frozen, with the
# squared error on the pixels where a face's cuts differ added again; experiments/decoder_focus.py) at GPU length,
# four runs side by side on the one GPU, each from weights/faces.safetensors (stage 13) on a fresh pool of faces:
#   g_b10    --focus Bangs --region-weight 10, batch 64, lr 1e-4: stage 13's recipe continued (the control)
#   g_b10w   the same at batch 256, lr 2e-4 (more images per step where the GPU is launch-bound)
#   g_be10   --focus Bangs Eyeglasses: Eyeglasses' frames weighed too (its 4.33 styles is the closest met target)
#   g_b30    --region-weight 30
# Each stops at the deadline (start + BUDGET - 40 s); the files (fp16, 15.7 MB each) and one log land in $OUT, and
# their reader stages run on the CPU afterwards (experiments/reader_stages.sh).
#     bash experiments/gpu_session19.sh BUDGET_SECONDS [FACES]       # e.g. 560 (GPU machine), 60 400 (CPU dry run)
source experiments/decoder_runs.sh "$@"
run g_b10 --focus Bangs --region-weight 10 --pool 4 &
run g_b10w --focus Bangs --region-weight 10 --pool 5 --batch 256 --lr 2e-4 &
run g_be10 --focus Bangs Eyeglasses --region-weight 10 --pool 6 &
run g_b30 --focus Bangs --region-weight 30 --pool 7 &
wait
finish
