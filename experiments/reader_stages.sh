#!/usr/bin/env bash
# The reader's stages on a faces file whose encoder holds (its bank and transfer maps still apply), as sessions 16
# and 17 ran them: calibrate, calibrate-styles, verify, style-clusters (and since session 24 style-fit, since 25
# paste-regions), each on the
# file before, each timed, then the oracle's eval, plain and pasted:
#   bash experiments/reader_stages.sh WEIGHTS WORK_DIR RESULTS_DIR [STYLE STRENGTHS...]
# WORK_DIR gets cal / sty / ver / clu / fit / final .safetensors; RESULTS_DIR eval_plain / eval_pasted .json and .txt. The
# style strengths default to calibrate-styles' own list. READER overrides the reader (weights/reader.safetensors).
set -euo pipefail
W=$1 D=$2 O=$3
shift 3
R=${READER:-weights/reader.safetensors}
styles=()
if [ $# -gt 0 ]; then styles=(--strengths "$@"); fi
mkdir -p "$D" "$O"
t() { local s=$SECONDS; "$@"; echo "TIME $2 $(( SECONDS - s ))s" >&2; }  # stderr: an eval's stdout goes to its table
t vcn calibrate --weights "$W" --out "$D/cal.safetensors" --reader "$R" --half
t vcn calibrate-styles --weights "$D/cal.safetensors" --out "$D/sty.safetensors" --reader "$R" --half "${styles[@]}"
t vcn verify --weights "$D/sty.safetensors" --out "$D/ver.safetensors" --reader "$R" --strengths 1 1.5 2 \
  --confidence 0.995 --half
t vcn style-clusters --weights "$D/ver.safetensors" --out "$D/clu.safetensors" --reader "$R" --half
t vcn style-fit --weights "$D/clu.safetensors" --out "$D/fit.safetensors" --reader "$R" --half
t vcn paste-regions --weights "$D/fit.safetensors" --out "$D/final.safetensors" --reader "$R" --half
t vcn eval --weights "$D/final.safetensors" --device cpu --json "$O/eval_plain.json" > "$O/eval_plain.txt"
t vcn eval --weights "$D/final.safetensors" --device cpu --paste --json "$O/eval_pasted.json" > "$O/eval_pasted.txt"
echo READER_STAGES_DONE
