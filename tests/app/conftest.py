"""Fixtures for the service tests: small random checkpoints, app factories and running clients.

A randomly initialised network is enough to test the service (shapes, validation, determinism, load);
the shipped weights, when present, get their own smoke test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from app_inputs import write_random_checkpoint
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

REPO = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO / "weights" / "faces.safetensors"


@pytest.fixture(scope="session")
def faces_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("weights") / "faces.safetensors", "faces64")


@pytest.fixture(scope="session")
def digits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("weights") / "digits.safetensors", "mnist")


def settings_for(weights: Path, **overrides) -> Settings:
    """Test settings: CPU (or ``VCN_TEST_DEVICE``), short batching wait, the rest as shipped unless overridden."""
    device = os.environ.get("VCN_TEST_DEVICE", "cpu")
    values = {"weights": weights, "device": device, "batch_max_wait_ms": 2.0, **overrides}
    return Settings(**values)


@pytest.fixture(scope="session")
def make_app(faces_weights: Path) -> Callable[..., FastAPI]:
    """``make_app(weights=None, **settings)`` -> a fresh app (lifespan not started)."""

    def build(weights: Path | None = None, **overrides) -> FastAPI:
        return create_app(settings_for(weights or faces_weights, **overrides))

    return build


@pytest.fixture(scope="session")
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A running faces app (model loaded) shared by the whole session; server errors come back as 500s."""
    with TestClient(make_app(), raise_server_exceptions=False) as running:
        yield running


@pytest.fixture(scope="module")
def digits_client(make_app: Callable[..., FastAPI], digits_weights: Path) -> Iterator[TestClient]:
    """A running digits (multiclass, one channel) app."""
    with TestClient(make_app(digits_weights), raise_server_exceptions=False) as running:
        yield running


@pytest.fixture(scope="module")
def shipped_client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """The app on weights/faces.safetensors; skipped when the file is not there."""
    if not SHIPPED_WEIGHTS.is_file():
        pytest.skip(f"{SHIPPED_WEIGHTS} not present")
    with TestClient(make_app(SHIPPED_WEIGHTS), raise_server_exceptions=False) as running:
        yield running
