#!/bin/bash
# Session 7: the session-6 from-scratch hour again, under CPU bf16 autocast; then the post stages, timed.
# Run from anywhere: bash experiments/results/session7/scratch_bf16.sh (outputs in runs/s7/). The first run
# renders and caches the 60,000 training pairs (minutes; not counted in the hour).
cd "$(dirname "$0")/../../.." || exit 1
mkdir -p runs/s7
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
S=runs/s7
/usr/bin/time -f "train %e s" vcn train --preset faces64 --out $S/scratch --data-cache runs/faces64_cache60k.safetensors --train-size 60000 --lr-schedule cosine --max-time 3000 --cpu-bf16 1 --no-progress > $S/scratch.log 2>&1
t() { local name=$1; shift; local t0=$(date +%s); "$@" > $S/scratch_$name.log 2>&1; local rc=$?; echo "$name $(( $(date +%s) - t0 )) s rc=$rc" >> $S/post_scratch.times; }
t bank vcn bank --weights $S/scratch/model.safetensors --out $S/scratch_bank.safetensors --n 8000 --size 256 --edit-strength 1.5
t eval_bank vcn eval --weights $S/scratch_bank.safetensors --device cpu --json $S/eval_scratch_bank.json
t calibrate vcn calibrate --weights $S/scratch_bank.safetensors --out $S/scratch_cal.safetensors
t transfer vcn transfer --weights $S/scratch_cal.safetensors --out $S/scratch_tr.safetensors --n 4000 --variety 0.5 --blend 0.05
t styles vcn calibrate-styles --weights $S/scratch_tr.safetensors --out $S/scratch_final.safetensors --half
t eval_final vcn eval --weights $S/scratch_final.safetensors --device cpu --json $S/eval_scratch_final.json
echo done >> $S/post_scratch.times
