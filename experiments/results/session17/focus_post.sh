# Session 17: the two decoder-only fine-tunes of experiments/decoder_focus.py (35 minutes each, one thread each, side
# by side: --focus Bangs and the control --focus none), read by the style ceiling, given the reader's style clusters
# again (the decoder changed what each residual draws), then the oracle's style figures and the full eval.
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
O=experiments/results/session17
for f in Bangs none; do
  W=runs/s17/focus_$f.safetensors
  PYTHONPATH=. python experiments/style_ceiling.py $W > $O/style_ceiling_focus_$f.log
  vcn style-clusters --weights $W --out runs/s17/focus_${f}_cl.safetensors --reader weights/reader.safetensors --half
done
PYTHONPATH=.:experiments python experiments/style_eval.py runs/s17/focus_Bangs_cl.safetensors runs/s17/focus_none_cl.safetensors > $O/style_eval_focus.log
for f in Bangs none; do
  vcn eval --weights runs/s17/focus_${f}_cl.safetensors --device cpu --json $O/eval_focus_$f.json > $O/eval_focus_$f.txt
done
echo FOCUSPOSTDONE
