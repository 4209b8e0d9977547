"""Service settings, read from the environment with the ``VCN_`` prefix (e.g. ``VCN_DEVICE=cpu``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _project_dir() -> Path:
    """The checkout (editable install), else the working directory (``pip install .`` then run from the
    project folder, as the Dockerfile does): the first that holds the page's templates."""
    for folder in (REPO_ROOT, Path.cwd()):
        if (folder / "templates" / "index.html").is_file():
            return folder
    return REPO_ROOT


class Settings(BaseSettings):
    """Everything an operator may tune; defaults suit a laptop serving the shipped faces model."""

    model_config = SettingsConfigDict(env_prefix="VCN_", extra="ignore")

    weights: Path = Field(
        default_factory=lambda: _project_dir() / "weights" / "faces.safetensors",
        description="safetensors checkpoint written by `vcn train`",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available")
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest accepted image file")
    max_pixels: int = Field(40_000_000, gt=0, description="largest accepted width*height (bomb guard)")
    max_in_flight: int = Field(64, gt=0, description="model requests admitted at once; more get 429")
    batch_max_size: int = Field(16, gt=0, description="most requests run together in one forward pass")
    # 0: a batch takes what is already queued (a fixed wait halved 1-client throughput; BENCHMARKS.md).
    batch_max_wait_ms: float = Field(0.0, ge=0, description="how long a batch waits to fill up")
    # BENCHMARKS.md: folding BatchNorm into the convs and NHWC layout cut batch-1 latency 12-17 % on CPU;
    # outputs agree with the plain model to float rounding (~1e-6).
    optimize: bool = Field(True, description="fold BatchNorm into convolutions, channels_last on CPU")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = torch's default")
    # On a GPU the first call at each batch size costs 11-66 ms more (cuDNN plans; BENCHMARKS.md 2h), which a
    # batching server would otherwise pay in its first minutes of traffic.
    warmup: Literal["auto", "on", "off"] = Field(
        "auto", description="before ready, run predict, reconstruct and edit once at every batch size up to "
                            "batch_max_size; auto = on a GPU only")
    face_crop: Literal["auto", "on", "off"] = Field(
        "auto", description="crop to the detected face; auto = only for photos larger than 2x model size"
    )
    web_root: Path = Field(default_factory=_project_dir, description="folder holding templates/ and static/")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    @property
    def max_body_bytes(self) -> int:
        """Whole-request limit: two images (swap, interpolate) plus room for the form fields."""
        return 2 * self.max_upload_bytes + 256 * 1024
