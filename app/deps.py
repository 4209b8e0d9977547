"""FastAPI dependencies (settings, the loaded engine, an admitted request slot) and model loading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import torch
from fastapi import Depends, Request

from app.batching import Engine
from app.config import Settings
from app.errors import InvalidInput, NotReady
from app.imaging import ImagePolicy


def load_model(settings: Settings) -> Any:
    """Load the checkpoint named by ``settings.weights`` in eval mode.

    Raises ``CheckpointError`` for an unusable file, ``RuntimeError`` for device cuda without a GPU.
    """
    from model.checkpoint import load_vcn
    from model.devices import pick_device

    device = pick_device(settings.device)
    if device.type == "cuda":
        # Same request, same bytes: no autotuned or nondeterministic kernels when serving.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    model = load_vcn(settings.weights, device=device)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    if settings.optimize:
        from model.fast import optimize_for_inference

        model = optimize_for_inference(model)
    return model


def image_policy(settings: Settings, model: Any) -> ImagePolicy:
    """The decoding rules for this model and these settings."""
    return ImagePolicy(
        size=int(model.cfg.image_size),
        channels=int(model.cfg.channels),
        max_upload_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        face_crop=settings.face_crop,
    )


async def get_settings(request: Request) -> Settings:
    """The app's settings (async: FastAPI would run a plain def in a thread)."""
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    """The loaded engine, or 503 while the model is not loaded."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise NotReady()
    return engine


async def get_policy(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> ImagePolicy:
    """Image decoding rules (needs the model: its size and channels)."""
    return image_policy(request.app.state.settings, engine.model)


async def admitted_engine(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Engine]:
    """The engine, holding one in-flight slot until the response is done (429 when none is free).

    Async on purpose: the slot counter is only ever touched on the event loop thread.
    """
    with engine.admit():
        yield engine


#: No API form has more than a handful of parts; a flood of fields is refused (each one costs parsing).
MAX_FORM_PARTS = 16


async def limit_form_parts(request: Request) -> None:
    """422 for a form with more than `MAX_FORM_PARTS` fields and files (FastAPI has parsed it already,
    bounded by the body limit; this turns a flood into a clear answer instead of silently ignoring it)."""
    if request.method != "POST":
        return
    parts = len((await request.form()).multi_items())
    if parts > MAX_FORM_PARTS:
        raise InvalidInput(f"too many form fields ({parts}); an API call takes at most {MAX_FORM_PARTS}")


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
AdmittedEngine = Annotated[Engine, Depends(admitted_engine)]
PolicyDep = Annotated[ImagePolicy, Depends(get_policy)]
