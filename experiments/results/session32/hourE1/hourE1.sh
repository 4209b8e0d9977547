#!/usr/bin/env bash
# Session 32's hourE1: session 31's hourE at --seed 1 (other faces, other initial weights). Run from the repository
# root. Seed 1's 60,000 pairs are rendered first, beside runs/faces64_cache60k.safetensors (103 s; not counted).
set -euo pipefail
main() {
  export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
  s=$SECONDS
  vcn train --preset faces64 --out runs/s32/render1 --data-cache runs/faces64_cache60k.safetensors --train-size 60000 \
    --seed 1 --workers 2 --max-time 1 --no-progress
  echo "RENDER $(( SECONDS - s )) s" >&2
  ENCODER_S=600 FINISH=600 FINISH_LR=2e-3 bash experiments/session25_scratch.sh runs/s32/hourE1 --lr 2e-3 \
    --perceptual-weight 40 --choice-weight 4 --choice-temperature 4 --context-kl-weight 0.1 --seed 1
}
main "$@"
