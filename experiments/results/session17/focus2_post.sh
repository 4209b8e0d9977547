# Session 17, after stage 12 shipped: 20 more minutes of the same decoder fine-tune from stage 12 (two threads, a new
# set of 12,000 faces: `PYTHONPATH=. python experiments/decoder_focus.py runs/s17/focus2_Bangs.safetensors --focus Bangs
# --minutes 20 --threads 2 --pool 2`), read with stage 12's strengths and the reader's style clusters redone, beside
# stage 12 itself: the oracle's style figures and the style ceiling. No full eval (not shipped).
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
O=experiments/results/session17
vcn style-clusters --weights runs/s17/focus2_Bangs.safetensors --out runs/s17/focus2_Bangs_cl.safetensors --reader weights/reader.safetensors --half
PYTHONPATH=.:experiments python experiments/style_eval.py weights/faces.safetensors runs/s17/focus2_Bangs_cl.safetensors > $O/style_eval_focus2.log
PYTHONPATH=. python experiments/style_ceiling.py runs/s17/focus2_Bangs_cl.safetensors > $O/style_ceiling_focus2.log
echo FOCUS2DONE
