# Session 17: the adversarially fine-tuned generator (adv_decoder.sh) grafted into the shipped file, whose capsule
# stages still hold (the encoder was frozen), then the reader stages that read the decoder (calibrate-styles,
# style-clusters; as session 15's decoder-only run), the oracle's eval and the style ceiling.
set -e
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
R=weights/reader.safetensors
D=runs/s17/adv
O=experiments/results/session17
t() { local s=$(date +%s); "$@"; echo "TIME $2 $(( $(date +%s) - s ))s"; }
t python experiments/graft_generator.py weights/faces.safetensors $D/model.safetensors ${D}_graft.safetensors --half
PYTHONPATH=. t python experiments/style_ceiling.py ${D}_graft.safetensors > $O/style_ceiling_adv.log
t vcn calibrate-styles --weights ${D}_graft.safetensors --out ${D}_sty.safetensors --reader $R --half
t vcn style-clusters --weights ${D}_sty.safetensors --out ${D}_final.safetensors --reader $R --half
t vcn eval --weights ${D}_final.safetensors --device cpu --json $O/eval_adv_plain.json > $O/eval_adv_plain.txt
echo ADVCHAINDONE
