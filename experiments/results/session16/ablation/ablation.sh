# Session 16 ablation: stage 10 with only the verifier and the style clusters from the new reader (strengths and
# style strength as session 15's reader set them)
set -e
cd /work/main
R=runs/reader_s4_150k.safetensors
D=runs/s16
vcn verify --weights $D/stage10.safetensors --out $D/a_ver.safetensors --reader $R --strengths 1 1.5 2 --confidence 0.995 --half
vcn style-clusters --weights $D/a_ver.safetensors --out $D/a_final.safetensors --reader $R --half
vcn eval --weights $D/a_final.safetensors --device cpu --json $D/a_eval_plain.json > $D/a_eval_plain.txt
vcn eval --weights $D/a_final.safetensors --device cpu --paste --json $D/a_eval_pasted.json > $D/a_eval_pasted.txt
echo ABLDONE
