#!/usr/bin/env bash
# Session 25: the hour from scratch on this session's 2-core AMD EPYC (AVX512-BF16, no AMX): session 7's training
# command (50 minutes under CPU bf16), then the after-training stages that change edits, kept and samples (bank,
# calibrate, transfer, calibrate-styles, verify, style-clusters; style-fit and paste-regions only move styles and are
# left out), each timed, and the oracle's eval. Run from the repository root:
#   bash experiments/session25_scratch.sh [OUT [more vcn train flags]]
# OUT defaults to runs/s25/scratch (session 25); session 26's run: bash experiments/session25_scratch.sh
# runs/s26/lr1e3 --lr 1e-3; session 27's: ... runs/s27/p40 --lr 2e-3 --perceptual-weight 40; session 28's: ... runs/s28/pc4
# --lr 2e-3 --perceptual-weight 40 --choice-weight 4 --choice-temperature 4. The 60,000 training
# pairs are rendered first (not counted in the hour, as in sessions 7 and 14). TRAINED=1 skips the training
# (OUT/model.safetensors already written) and runs the rest. Since session 27 verify also picks each new face from 4
# draws (--sample-tries 4, stage 19's setting); sessions 25 and 26 ran without. Session 29's: FINISH=600 ... runs/s29/pf
# [session 28's pc4ctx flags] (the finish below), then PHASE1=runs/s29/pf/model.safetensors FINISH=600 FINISH_ENCODER=1
# [FINISH_FLAGS="--swap-weight 1"] ... runs/s29/pfe (pfs): docs/recipes-sessions-29-30.md. Session 30's hour: ENCODER_S=300
# FINISH=600 FINISH_LR=1e-3 ... runs/s30/hour [session 28's pc4ctx flags]. Session 31's: FINISH_LR=2e-3 with ENCODER_S=300
# (runs/s31/hour) or ENCODER_S=600 (runs/s31/hourE), and experiments/results/session31/hourL/hourL.sh (ENCODER_LR=1e-3).
# Since session 32 hourE is two commands: `vcn train --preset faces64-hour --max-time 3000 --cpu-bf16 1 ...` (its
# phases by share: model/phases.py) and `vcn stages` (these stages: model/stage_chain.py); this script stays as the
# record of how sessions 25-32 ran theirs.
set -euo pipefail
# The whole body is one function, read before it runs: bash reads a plain script as it goes, and an edit to this
# file during the hour's run once broke it after training (session 28).
main() {
  o=${1:-runs/s25/scratch}
  shift || true
  mkdir -p "$(dirname "$o")"
  export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
  t() { local s=$SECONDS; "$@"; echo "TIME $2 $(( SECONDS - s )) s" >&2; }
  # FINISH=S (session 29): the last S of the 3000 s train the generator alone on reconstructions (encoder frozen, no
  # swap or judge term: ~2.5 times the images a second), from FINISH_LR (default 5e-4) down a cosine. FINISH_ENCODER=1:
  # the encoder trains on in that phase too (its margin and choice terms, and the reconstruction through it);
  # FINISH_FLAGS: more vcn train flags for that phase (e.g. --swap-weight 1 to keep the swap term).
  # ENCODER_S=S2 (session 30): before the finish, S2 s train the encoder and generator together without the swap or
  # judge term (the encoder's margin and choice terms and the reconstruction through it), from ENCODER_LR (default
  # 5e-4) down a cosine: session 29's pfx as one command. Phase 1 then runs 3000 - S - S2 s.
  local finish=${FINISH:-0} enc=${ENCODER_S:-0} w=$o/model.safetensors freeze="--freeze encoder"
  local data="--data-cache runs/faces64_cache60k.safetensors --train-size 60000 --lr-schedule cosine --cpu-bf16 1 --no-progress"
  [ -z "${FINISH_ENCODER:-}" ] || freeze=""
  # PHASE1=FILE: the first 3000 - S s already ran (the same command, another finish): start the finish from FILE.
  if [ -n "${PHASE1:-}" ]; then
    mkdir -p $o && cp "$PHASE1" $o/model.safetensors
  elif [ -z "${TRAINED:-}" ]; then
    t vcn train --preset faces64 --out $o $data --max-time $(( 3000 - finish - enc )) "$@"
  fi
  local start=$o/model.safetensors
  if [ "$enc" -gt 0 ]; then
    [ -n "${TRAINED:-}" ] || t vcn train --preset faces64 --init $start --out ${o}_enc $data --max-time $enc "$@" \
      --lr ${ENCODER_LR:-5e-4} --swap-weight 0 --judge-weight 0
    start=${o}_enc/model.safetensors
  fi
  if [ "$finish" -gt 0 ]; then
    w=${o}_fin/model.safetensors
    [ -n "${TRAINED:-}" ] || t vcn train --preset faces64 --init $start --out ${o}_fin $data --max-time $finish \
      "$@" --lr ${FINISH_LR:-5e-4} $freeze --swap-weight 0 --judge-weight 0 ${FINISH_FLAGS:-}
  fi
  # The stages, with the flags sessions 25-32 ran them with (model/stage_chain.py's HOUR_STAGES; until session 32 six
  # lines here, writing ${o}_bank, _cal, _tr, _sty and _ver; now ${o}_final_bank ... _verify beside the final file).
  t vcn stages --weights $w --out ${o}_final.safetensors --reader weights/reader.safetensors
  t vcn eval --weights ${o}_final.safetensors --device cpu --json ${o}_eval.json
  echo SCRATCH_DONE >&2
}
main "$@"
