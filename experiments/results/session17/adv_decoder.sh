# Session 17: the shipped network's decoder fine-tuned with the paper's LSGAN (multi-scale discriminator on
# reconstructions and prior edits) on this CPU, the encoder frozen so every capsule stage of the shipped file still
# holds; session 9's recipe and session 15's style lever otherwise (weights/README.md, stage 10), 50 minutes.
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
vcn train --preset faces64 --init weights/faces.safetensors --freeze encoder --out runs/s17/adv \
  --data-cache runs/faces64_cache60k_s05.safetensors --train-size 60000 --seed 1 --style-share 0.5 \
  --judge-augment 1 --batch-size 64 --lr 2e-4 --lr-schedule cosine --perceptual-weight 40 \
  --style-weight 3 --style-augment 1 --adv-weight ${ADV:-10} --cpu-bf16 1 --max-time ${SECS:-3000} --no-progress
