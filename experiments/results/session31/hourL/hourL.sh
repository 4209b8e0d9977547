#!/usr/bin/env bash
# Session 31's hourL: the session-31 hour's phase 1 (runs/s31/hour/model.safetensors, from
# `ENCODER_S=300 FINISH=600 FINISH_LR=2e-3 bash experiments/session25_scratch.sh runs/s31/hour` + the flags below)
# with its 300 s encoder half from lr 1e-3 instead of 5e-4, then the same finish and stages. Run from the repository root.
PHASE1=runs/s31/hour/model.safetensors ENCODER_S=300 FINISH=600 FINISH_LR=2e-3 ENCODER_LR=1e-3 \
  bash experiments/session25_scratch.sh runs/s31/hourL --lr 2e-3 --perceptual-weight 40 --choice-weight 4 \
  --choice-temperature 4 --context-kl-weight 0.1
