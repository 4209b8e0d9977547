# Session 19: the lent H200's decoder runs (experiments/gpu_session19.sh; each from stage 13, 6.5-7 minutes, 1.2-3.4M
# images) through the reader's stages and the oracle's eval (experiments/reader_stages.sh), one after another:
#   bash experiments/results/session19/chain.sh NAME [NAME ...]      (runs/s19/NAME.safetensors)
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
for n in "$@"; do
  bash experiments/reader_stages.sh runs/s19/$n.safetensors runs/s19/chain_$n experiments/results/session19/chain_$n
done
