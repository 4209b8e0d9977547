#!/usr/bin/env bash
# Judge the shipped faces model (bank and prior) and the two other round-1 runs whose weights came back,
# with the final oracle, on CPU. Usage: bash experiments/final_eval.sh ORACLE ROUND1_DIR
set -euo pipefail
oracle=${1:-weights/oracle.safetensors}
round1=${2:-/work/.device/13}
out=experiments/results/final
mkdir -p "$out"
vcn eval --weights weights/faces.safetensors --oracle "$oracle" --device cpu --json "$out/eval_faces.json" \
  > "$out/eval_faces.txt" 2>&1 &
python - "$oracle" "$out" <<'PY' > "$out/eval_faces_prior.txt" 2>&1 &
import json, sys
from model.evaluate import evaluate, format_table, load_model
from model.oracle import load_oracle
m = load_model("weights/faces.safetensors", "cpu")
m.capsule_source = "prior"  # the paper's sampling, same weights
r = evaluate(m, load_oracle(sys.argv[1]), device="cpu")
open(f"{sys.argv[2]}/eval_faces_prior.json", "w").write(json.dumps(r, indent=2))
print(format_table(r))
PY
for run in swap_mmd swap_judge; do
  if [ -f "$round1/$run.safetensors" ]; then
    vcn eval --weights "$round1/$run.safetensors" --oracle "$oracle" --device cpu --json "$out/eval_$run.json" \
      > "$out/eval_$run.txt" 2>&1 &
  fi
done
wait
