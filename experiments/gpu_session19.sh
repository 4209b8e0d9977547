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
set -u
BUDGET=${1:-560}; FACES=${2:-24000}
OUT=${OUT:-/tmp/out19}; mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1
PY=$(command -v python3)
DEADLINE=$(( $(date +%s) + BUDGET - 40 ))
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; $PY -c 'import torch; print(torch.__version__)') > "$OUT/machine.txt" 2>&1
run() {
    local name=$1; shift
    $PY experiments/decoder_focus.py "/tmp/$name.safetensors" --minutes 60 --deadline "$DEADLINE" --threads 2 \
        --workers 4 --faces "$FACES" "$@" 2>&1 | sed -u "s/^/$name /" >> "$OUT/runs.log"
    cp "/tmp/$name.safetensors" "$OUT/" 2>/dev/null || echo "$name wrote no file" >> "$OUT/runs.log"
}
run g_b10 --focus Bangs --region-weight 10 --pool 4 &
run g_b10w --focus Bangs --region-weight 10 --pool 5 --batch 256 --lr 2e-4 &
run g_be10 --focus Bangs Eyeglasses --region-weight 10 --pool 6 &
run g_b30 --focus Bangs --region-weight 30 --pool 7 &
wait
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv >> "$OUT/machine.txt" 2>&1
echo "done at $(date +%s), deadline $DEADLINE" >> "$OUT/runs.log"
