# Session 17: session 14's hour from scratch (runs/s14: the file after session 11's chain) judged by session 16's
# oracle, as it was and after session 16's reader stages (the shipped chain's last four: calibrate, calibrate-styles,
# verify, style-clusters with weights/reader.safetensors, as experiments/results/session16/chain/chain.sh).
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
R=weights/reader.safetensors
S=runs/s14/chain_final.safetensors
D=runs/s17/scratch
mkdir -p $D
O=experiments/results/session17
t() { local s=$(date +%s); "$@"; echo "TIME $2 $(( $(date +%s) - s ))s"; }
t vcn eval --weights $S --device cpu --json $O/scratch14_plain.json > $O/scratch14_plain.txt
t vcn calibrate --weights $S --out $D/cal.safetensors --reader $R --half
t vcn calibrate-styles --weights $D/cal.safetensors --out $D/sty.safetensors --reader $R --half
t vcn verify --weights $D/sty.safetensors --out $D/ver.safetensors --reader $R --strengths 1 1.5 2 --confidence 0.995 --half
t vcn style-clusters --weights $D/ver.safetensors --out $D/final.safetensors --reader $R --half
t vcn eval --weights $D/final.safetensors --device cpu --json $O/scratch14_stages16_plain.json > $O/scratch14_stages16_plain.txt
echo REJUDGEDONE
