#!/usr/bin/env bash
# session 30: pf's phase 1 (session 29's first 2,400 s), then 600 s of the generator alone from lr 2e-3 (pf: 5e-4, pfL: 1e-3)
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root, as session25_scratch.sh expects
f="--lr 2e-3 --perceptual-weight 40 --choice-weight 4 --choice-temperature 4 --context-kl-weight 0.1"
PHASE1=runs/s29/pf/model.safetensors FINISH=600 FINISH_LR=2e-3 bash experiments/session25_scratch.sh runs/s30/pfL2 $f
