#!/usr/bin/env bash
# Session 14: the hour from scratch again (session 7's training command, unchanged), then today's whole
# post-training chain (experiments/session11_chain.sh: bank, calibrate, transfer, calibrate-styles, verify), the
# oracle's eval and the capsule probe. Run from the repository root: bash experiments/session14_scratch.sh
# Outputs in runs/s14/; the first run renders the 60,000 training pairs (not counted in the hour, as in session 7).
set -euo pipefail
mkdir -p runs/s14
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
/usr/bin/time -f "train %e s" vcn train --preset faces64 --out runs/s14/scratch --data-cache runs/faces64_cache60k.safetensors \
  --train-size 60000 --lr-schedule cosine --max-time 3000 --cpu-bf16 1 --no-progress > runs/s14/scratch.log 2>&1
bash experiments/session11_chain.sh runs/s14/scratch runs/s14/chain > runs/s14/chain.log 2>&1
echo done >> runs/s14/chain.log
