# Session 18: the region-weighted decoder (experiments/decoder_focus.py --focus Bangs --region-weight 10: 25 minutes on
# one thread from stage 12, pool 2, then 30 more minutes on two threads, pool 3, from that file) through the reader's
# stages and the oracle's eval (experiments/reader_stages.sh).
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
bash experiments/reader_stages.sh runs/s18/region10b.safetensors runs/s18/chain experiments/results/session18/chain
