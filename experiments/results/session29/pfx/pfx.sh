#!/usr/bin/env bash
# session 29's fourth finish: 300 s with the encoder (no swap or judge), then 300 s of the generator alone
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root, as session25_scratch.sh expects
f="--lr 2e-3 --perceptual-weight 40 --choice-weight 4 --choice-temperature 4 --context-kl-weight 0.1"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
s=$SECONDS
vcn train --preset faces64 --init runs/s29/pf/model.safetensors --out runs/s29/pfx_a --data-cache runs/faces64_cache60k.safetensors \
  --train-size 60000 --lr-schedule cosine --max-time 300 --cpu-bf16 1 --no-progress $f --lr 5e-4 --swap-weight 0 --judge-weight 0
echo "TIME train $(( SECONDS - s )) s" >&2
PHASE1=runs/s29/pfx_a/model.safetensors FINISH=300 bash experiments/session25_scratch.sh runs/s29/pfx $f
