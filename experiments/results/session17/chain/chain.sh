# Session 17: stage 12, the decoder fine-tuned with half of each batch wearing Bangs (experiments/decoder_focus.py
# --focus Bangs, 35 minutes, one thread, the encoder frozen), grafted onto stage 11's file (the same encoder, so its
# bank and transfer maps still hold), then the reader's stages again, as session 16's chain: calibrate, calibrate-
# styles, verify, style-clusters, each on the file before, all with weights/reader.safetensors; then the oracle's eval.
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
R=weights/reader.safetensors
W=runs/s17/focus_Bangs.safetensors
D=runs/s17/chain
O=experiments/results/session17/chain
mkdir -p $D
t() { local s=$(date +%s); "$@"; echo "TIME $2 $(( $(date +%s) - s ))s"; }
t vcn calibrate --weights $W --out $D/cal.safetensors --reader $R --half
t vcn calibrate-styles --weights $D/cal.safetensors --out $D/sty.safetensors --reader $R --half
t vcn verify --weights $D/sty.safetensors --out $D/ver.safetensors --reader $R --strengths 1 1.5 2 --confidence 0.995 --half
t vcn style-clusters --weights $D/ver.safetensors --out $D/final.safetensors --reader $R --half
t vcn eval --weights $D/final.safetensors --device cpu --json $O/eval_plain.json > $O/eval_plain.txt
t vcn eval --weights $D/final.safetensors --device cpu --paste --json $O/eval_pasted.json > $O/eval_pasted.txt
echo CHAINDONE
