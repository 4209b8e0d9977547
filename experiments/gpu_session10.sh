#!/usr/bin/env bash
# Session 10's lent-GPU call: micro-batching on against off for predict and (new this session) edit, and the
# model bench with the verified edit, on the GPU. Carry `.whl` (the service's wheels for the device's Python
# 3.12, git-excluded: fastapi starlette pydantic pydantic-core pydantic-settings python-dotenv uvicorn httptools
# python-multipart typing-inspection annotated-types annotated-doc typing_extensions, and opentelemetry-api,
# which fastapi 0.165 imports; the device has torch, httpx, jinja2, prometheus-client, uvloop, opencv and
# pillow). Results in $OUT.
#     bash experiments/gpu_session10.sh            # on the GPU machine
#     DEVICE=cpu bash experiments/gpu_session10.sh # a dry run here (OUT defaults to /tmp/gpu10)
set -uo pipefail
OUT=${OUT:-/tmp/gpu10}; DEVICE=${DEVICE:-cuda}; mkdir -p "$OUT"
if [ "$DEVICE" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi -L; nproc
fi
export PYTHONUNBUFFERED=1
python3 -c "import torch, fastapi, uvicorn; print('torch', torch.__version__, 'fastapi', fastapi.__version__)"
timeout "${HTTP_S:-300}" python3 -m bench.http_bench --device "$DEVICE" --batching-only \
  --batching-ops predict edit edit-mixed --rounds "${ROUNDS:-2}" --requests "${REQUESTS:-400}" --max-seconds 4 \
  --json "$OUT/batching_gpu.json" 2>&1 | tee "$OUT/batching_gpu.log"
timeout "${MODEL_S:-120}" python3 -m bench.model_bench --device "$DEVICE" --variants base fast --batches 8 32 128 \
  --runs 50 --rounds 5 --json "$OUT/model_gpu.json" 2>&1 | tee "$OUT/model_gpu.log"
