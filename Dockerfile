# VCN attribute editor: the web service with the shipped weights baked in.
#
#   CPU (default):  docker build -t vcn .
#   GPU (CUDA):     docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t vcn:gpu .
#                   docker run --gpus all -p 8000:8000 vcn:gpu
#   run:            docker run -p 8000:8000 vcn      -> http://localhost:8000 (API docs at /docs)
#
# Settings are VCN_* environment variables (see app/config.py), e.g. -e VCN_MAX_IN_FLIGHT=32.
FROM python:3.11-slim

# Where torch comes from; the version itself is pinned once, in pyproject.toml.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the project metadata alone, so code edits do not re-download torch.
COPY pyproject.toml README.md ./
RUN mkdir -p model app \
    && touch model/__init__.py app/__init__.py \
    && pip install --extra-index-url "${TORCH_INDEX}" . \
    && pip uninstall -y vcn \
    && rm -rf model app

COPY model/ model/
COPY app/ app/
RUN pip install --no-deps .

COPY templates/ templates/
COPY static/ static/
COPY weights/ weights/

RUN groupadd --gid 10001 vcn \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin vcn
USER 10001:10001

ENV VCN_WEIGHTS=/app/weights/faces.safetensors \
    VCN_WEB_ROOT=/app \
    VCN_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('VCN_PORT', '8000'), timeout=4)"]

CMD ["vcn", "serve", "--host", "0.0.0.0"]
