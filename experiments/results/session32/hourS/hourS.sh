#!/usr/bin/env bash
# Session 32's hourS: the hour from scratch as two commands (the faces64-hour preset = session 31's hourE, trained in
# its three phases by `vcn train`; `vcn stages` = the script's stages), with --style-share 0.5: half the counterfactual
# pairs restyle a present attribute instead of flipping one. Run from the repository root. The pairs are rendered
# first (not counted in the hour, as for every hour since session 7); TIME lines time each command.
set -euo pipefail
main() {
  local o=${1:-runs/s32/hourS} data="--data-cache runs/faces64_cache60k.safetensors --style-share 0.5 --no-progress"
  export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
  t() { local s=$SECONDS; "$@"; echo "TIME $2 $(( SECONDS - s )) s" >&2; }
  vcn train --preset faces64-hour --out ${o}_render $data --workers 2 --steps 3  # renders the pairs, 3 steps
  t vcn train --preset faces64-hour --out $o $data --max-time 3000 --cpu-bf16 1
  t vcn stages --weights $o/model.safetensors --out ${o}_final.safetensors
  t vcn eval --weights ${o}_final.safetensors --device cpu --json ${o}_eval.json
  echo SCRATCH_DONE >&2
}
main "$@"
