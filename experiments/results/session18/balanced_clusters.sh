# Session 18: balanced style clusters (vcn style-clusters --members M: each cluster one style's best drawers, the
# styles choosing in turn) on stage 12's file, against its k-means clusters, read by the oracle's style figures.
# Needs the checkout of commit b52bad0 (vcn style-clusters --members was reverted after this probe).
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
O=experiments/results/session18
for m in "$@"; do
  vcn style-clusters --weights weights/faces.safetensors --out runs/s18/balanced_$m.safetensors --reader weights/reader.safetensors --half --members $m
done
PYTHONPATH=.:experiments python experiments/style_eval.py $(for m in "$@"; do echo runs/s18/balanced_$m.safetensors; done) > $O/style_eval_balanced.log
echo BALANCEDDONE
