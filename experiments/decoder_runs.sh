# Sourced by the lent-GPU decoder calls (experiments/gpu_session19.sh, gpu_session20.sh): their common set-up and
# `run NAME ARGS...` (experiments/decoder_focus.py from weights/faces.safetensors to /tmp/NAME.safetensors until the
# shared deadline, its log lines prefixed with NAME in $OUT/runs.log, the file copied to $OUT), then `finish` after
# `wait`. Arguments: BUDGET_SECONDS [FACES] (the deadline is start + BUDGET - 40 s; FACES per run's pool).
set -u
BUDGET=${1:-560}; FACES=${2:-24000}
OUT=${OUT:-/tmp/out_decoder}; mkdir -p "$OUT"
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
finish() {
    nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv >> "$OUT/machine.txt" 2>&1
    echo "done at $(date +%s), deadline $DEADLINE" >> "$OUT/runs.log"
}
