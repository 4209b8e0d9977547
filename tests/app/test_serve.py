"""`vcn serve` with an unusable weights file exits non-zero with a one-line reason, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from app.main import serve

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bad_weights(tmp_path_factory: pytest.TempPathFactory, faces_weights: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    truncated = folder / "truncated.safetensors"
    truncated.write_bytes(faces_weights.read_bytes()[:5000])
    text = folder / "notes.safetensors"
    text.write_text("these are not weights\n")
    foreign = folder / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)  # a real safetensors file, but not a VCN checkpoint
    return {"missing": folder / "missing.safetensors", "truncated": truncated, "text": text, "foreign": foreign}


@pytest.mark.parametrize("kind", ["missing", "truncated", "text", "foreign"])
def test_serve_refuses_unusable_weights(bad_weights: dict[str, Path], kind: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serve(host="127.0.0.1", port=0, weights=bad_weights[kind], device="cpu")
    message = exit_info.value.code
    assert isinstance(message, str) and message.startswith("vcn serve: ")  # str code: exit status 1
    assert "\n" not in message and str(bad_weights[kind].name) in message


def test_serve_refuses_bad_settings(faces_weights: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serve(port=70000, weights=faces_weights)
    assert "port" in str(exit_info.value.code)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_serve_refuses_missing_cuda(faces_weights: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serve(weights=faces_weights, device="cuda")
    assert "cuda" in str(exit_info.value.code).lower()


@pytest.mark.parametrize("kind", ["missing", "truncated"])
def test_vcn_serve_command(bad_weights: dict[str, Path], kind: str) -> None:
    """The real command line, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "model.cli", "serve", "--weights", str(bad_weights[kind]), "--port", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert bad_weights[kind].name in lines[0]


def test_the_served_model_is_optimised_unless_told_not_to(make_app) -> None:
    """VCN_OPTIMIZE (default on) folds every BatchNorm into its convolution; the predictions stay the same."""
    from app_inputs import png
    from fastapi.testclient import TestClient

    answers = {}
    for optimize in (True, False):
        with TestClient(make_app(optimize=optimize)) as running:
            model = running.app.state.engine.model
            has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
            assert has_bn is not optimize
            face = {"image": ("f.png", png(seed=3), "image/png")}
            rows = running.post("/api/predict", files=face).json()["attributes"]
            answers[optimize] = [row["present"] for row in rows]
    assert answers[True] == answers[False]
