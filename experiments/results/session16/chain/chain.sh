# Session 16: the shipped stage-10 network's reader stages redone with a reader trained on 150k faces (seed 4)
set -e
cd /work/main
R=${READER:-runs/reader_s4_150k.safetensors}
W=weights/faces.safetensors
D=runs/s16
t() { local s=$(date +%s); "$@"; echo "TIME $2 $(( $(date +%s) - s ))s"; }
t vcn calibrate --weights $W --out $D/cal.safetensors --reader $R --half
t vcn calibrate-styles --weights $D/cal.safetensors --out $D/sty.safetensors --reader $R --half
t vcn verify --weights $D/sty.safetensors --out $D/ver.safetensors --reader $R --strengths 1 1.5 2 --confidence 0.995 --half
t vcn style-clusters --weights $D/ver.safetensors --out $D/final.safetensors --reader $R --half
t vcn eval --weights $D/final.safetensors --device cpu --json $D/eval_plain.json > $D/eval_plain.txt
t vcn eval --weights $D/final.safetensors --device cpu --paste --json $D/eval_pasted.json > $D/eval_pasted.txt
echo CHAINDONE
