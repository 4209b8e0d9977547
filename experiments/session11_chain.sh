#!/usr/bin/env bash
# The shipped post-training chain (weights/README.md stages 3-8) on one run whose encoder moved, each stage
# timed, then the oracle's eval and the capsule probe: bash experiments/session11_chain.sh RUN_DIR OUT_PREFIX
# Transfer pairs come from runs/flip_pairs.safetensors (rendered once beforehand, shared by the runs; the transfer
# waits for it).
set -euo pipefail
run=$1 out=$2
t() { local s=$SECONDS; "$@"; echo "[$(( SECONDS - s )) s] $*" >&2; }
t vcn bank --weights "$run/model.safetensors" --out "${out}_bank.safetensors" --n 8000 --size 256 --edit-strength 1.5
t vcn calibrate --weights "${out}_bank.safetensors" --out "${out}_cal.safetensors" --reader weights/reader.safetensors
until [ -f runs/flip_pairs.safetensors ] && ! pgrep -f rendered_flip_pairs >/dev/null; do sleep 10; done
t vcn transfer --weights "${out}_cal.safetensors" --out "${out}_tr.safetensors" --n 4000 --variety 0.5 --blend 0.05 \
  --pairs-cache runs/flip_pairs.safetensors
t vcn calibrate-styles --weights "${out}_tr.safetensors" --out "${out}_sty.safetensors" --reader weights/reader.safetensors
t vcn verify --weights "${out}_sty.safetensors" --out "${out}_final.safetensors" --half --strengths 1 1.5 2 \
  --confidence 0.995 --reader weights/reader.safetensors
t vcn eval --weights "${out}_final.safetensors" --device cpu --json "${out}_eval.json"
t python experiments/capsule_probe.py "${out}_final.safetensors"
