"""The Dockerfile's image, without Docker: its COPY lines and its non-editable install, then its command.

No Docker daemon runs here or in CI, so the image itself is never built. This test does what the Dockerfile
does with what it names: the files its COPY lines copy go into a folder standing for /app, the project is
installed from there as a wheel (not editable), and the image's command (`vcn serve`, the console script)
runs there with the image's environment. Then the page, its scripts and an edit with the shipped weights
must answer. A COPY line dropped, a file the package needs but does not ship, or a path the server finds only
in a checkout fails here. (What it cannot check: the base image, apt and pip inside it, the user switch.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.launch import free_port, is_ready

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def copied_paths(dockerfile: str) -> list[str]:
    """The sources of the Dockerfile's COPY lines (no --from stages), in order."""
    sources: list[str] = []
    for line in dockerfile.splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--") for p in parts):
            sources += parts[1:-1]
    return sources


def image_env(dockerfile: str, root: Path) -> dict[str, str]:
    """The ENV settings of the Dockerfile, with /app standing for root."""
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV (.+?)(?<!\\)$", dockerfile, flags=re.M | re.S):
        for key, value in re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")):
            env[key] = value.replace("/app", str(root))
    return env


def test_the_dockerfile_copies_what_the_service_needs():
    sources = copied_paths(DOCKERFILE.read_text())
    for needed in ("pyproject.toml", "model/", "app/", "templates/", "static/", "weights/"):
        assert needed in sources, needed
    for source in sources:
        assert (REPO / source).exists(), source


@pytest.mark.slow
def test_the_image_layout_serves_the_shipped_model(tmp_path):
    dockerfile = DOCKERFILE.read_text()
    root, site = tmp_path / "app", tmp_path / "site"
    root.mkdir()
    for source in copied_paths(dockerfile):
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, root / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / source, root / source)
    # `pip install --no-deps .` from the image's /app: a built wheel (dependencies are this environment's).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), "."], cwd=root, check=True, timeout=300)
    env = {**os.environ, **image_env(dockerfile, root), "PYTHONPATH": str(site), "VCN_DEVICE": "cpu",
           "VCN_PORT": str(free_port())}
    # What the console script imports (its sys.path starts at its own folder, not the working directory): the
    # installed copy, not the checkout's editable one.
    where = subprocess.run([sys.executable, "-c", "import app, model; print(app.__file__, model.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.count(str(site)) == 2, where
    assert env["VCN_WEIGHTS"] == str(root / "weights" / "faces.safetensors")
    # The image's command, the console script, from the image's working directory.
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen([sys.executable, str(site / "bin" / "vcn"), "serve", "--host", "127.0.0.1"],
                              cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['VCN_PORT']}"
    try:
        for _ in range(240):
            if is_ready(url) or server.poll() is not None:
                break
            time.sleep(0.5)
        log.seek(0)
        assert server.poll() is None and is_ready(url), log.read()
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        for script in ("app.js", "api.js", "dom.js"):
            assert httpx.get(f"{url}/static/{script}").status_code == 200, script
        face = httpx.get(url + "/api/random-face", params={"seed": 1})
        edited = httpx.post(url + "/api/edit", files={"image": ("face.png", face.content, "image/png")},
                            data={"set": '{"Eyeglasses": true}', "seed": "1"}, timeout=60)
        assert edited.status_code == 200 and edited.headers["content-type"] == "image/png"
        assert "X-Edit-Confidence" in edited.headers  # the shipped, verified model answered
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
