# Session 19: resamples moved between style means (and kin) against the shipped path, on stage 13 (the shipped file
# at the session's start: `git show 94eed83:weights/faces.safetensors > runs/stage13.safetensors`), Bangs /
# Eyeglasses / Wearing_Hat, three seed offsets each.
#   bash experiments/results/session19/style_means.sh > experiments/results/session19/style_means.log
set -e
cd /work/main
export OMP_NUM_THREADS=1 PYTHONPATH=.:experiments
W=${1:-runs/stage13.safetensors}
python experiments/style_means.py $W --mode shipped --push 2.5 3 3.5 4
python experiments/style_means.py $W --mode means --push 1 2 3 4
python experiments/style_means.py $W --mode nearest --push 1
python experiments/style_means.py $W --mode residual-means --push 1 2 3
python experiments/style_means.py $W --mode old-residual --push 1 2 3
python experiments/style_means.py $W --mode means --labels reader --push 1 2
python experiments/style_means.py $W --mode style-maps --push 1 2 --faces 8000
