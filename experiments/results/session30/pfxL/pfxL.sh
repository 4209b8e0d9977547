#!/usr/bin/env bash
# session 30: pfx's first half (runs/s29/pfx_a: pf's phase 1 + 300 s with the encoder, session 29's pfx.sh), then
# 300 s of the generator alone from lr 1e-3 (pfx: 5e-4)
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root, as session25_scratch.sh expects
f="--lr 2e-3 --perceptual-weight 40 --choice-weight 4 --choice-temperature 4 --context-kl-weight 0.1"
PHASE1=runs/s29/pfx_a/model.safetensors FINISH=300 FINISH_LR=1e-3 bash experiments/session25_scratch.sh runs/s30/pfxL $f
