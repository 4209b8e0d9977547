# Session 18: a decoder fine-tune of stage 12 by experiments/decoder_focus.py --focus Bangs --pool 2 with one of its
# session-18 terms (--swap-weight, --region-weight, --style-weight; session 17's focus2 probe plus that term), read as
# focus2 was: the reader's style clusters redone, the oracle's style figures, the style ceiling.
#   bash experiments/results/session18/decoder_post.sh NAME   (runs/s18/NAME.safetensors)
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
O=experiments/results/session18
N=$1
vcn style-clusters --weights runs/s18/$N.safetensors --out runs/s18/${N}_cl.safetensors --reader weights/reader.safetensors --half
PYTHONPATH=.:experiments python experiments/style_eval.py runs/s18/${N}_cl.safetensors > $O/style_eval_$N.log
PYTHONPATH=. python experiments/style_ceiling.py runs/s18/${N}_cl.safetensors > $O/style_ceiling_$N.log
echo DECODERPOSTDONE
