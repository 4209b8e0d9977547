"""Assembly of the service: settings, lifespan (model loading), middleware, routers, error handlers.

``create_app()`` builds an app, ``app`` is the instance for ``uvicorn app.main:app`` (settings from the
``VCN_*`` environment), and ``serve()`` is what ``vcn serve`` runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app.batching import Engine
from app.config import Settings
from app.deps import load_model
from app.errors import install_error_handlers
from app.metrics import Metrics
from app.middleware import RequestMiddleware
from app.routes import api, health, pages

log = logging.getLogger("app")


def create_app(settings: Settings | None = None, *, model: Any = None) -> FastAPI:
    """Build the service. The model is loaded in the lifespan, unless an already loaded ``model`` is given
    (``serve`` loads it first so a bad checkpoint fails before the port opens)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = model if model is not None else await run_in_threadpool(load_model, settings)
        engine = Engine(
            loaded,
            metrics=app.state.metrics,
            max_in_flight=settings.max_in_flight,
            batch_max_size=settings.batch_max_size,
            batch_max_wait_ms=settings.batch_max_wait_ms,
        )
        await engine.start()
        if settings.warmup == "on" or (settings.warmup == "auto" and loaded.device.type == "cuda"):
            took = await engine.warm_up()
            log.info("warmed up batch sizes 1-%d in %.1f s", settings.batch_max_size, took)
        app.state.engine = engine
        app.state.metrics.model_loaded.set(1)
        log.info("model ready: %s, %d attributes, on %s", settings.weights, len(engine.names), loaded.device)
        try:
            yield
        finally:
            app.state.engine = None
            app.state.metrics.model_loaded.set(0)
            await engine.stop()

    app = FastAPI(
        title="VCN attribute editor",
        summary="Variational Capsule Network (Huang et al., 2018): predict and edit face attributes",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = None
    app.state.metrics = Metrics()
    app.state.templates = Jinja2Templates(directory=Path(settings.web_root) / "templates")

    app.add_middleware(RequestMiddleware, metrics=app.state.metrics, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)

    app.include_router(api.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(settings.web_root) / "static"), name="static")
    return app


def serve(
    host: str | None = None,
    port: int | None = None,
    weights: str | Path | None = None,
    device: str | None = None,
) -> None:
    """Run the service with uvicorn (``vcn serve``). Arguments left as None come from ``VCN_*`` / defaults.

    A missing, truncated or foreign checkpoint (or bad settings) exits non-zero with a one-line reason.
    """
    import uvicorn

    from model.checkpoint import CheckpointError

    given = {"host": host, "port": port, "weights": weights, "device": device}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SystemExit(f"vcn serve: invalid setting {where}: {first['msg']}") from None
    try:
        model = load_model(settings)
    except (CheckpointError, RuntimeError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if str(settings.weights) not in reason and not isinstance(exc, CheckpointError):
            reason = f"cannot load {settings.weights}: {reason}"
        raise SystemExit(f"vcn serve: {reason}") from None
    uvicorn.run(create_app(settings, model=model), host=settings.host, port=settings.port, log_level="info")


app = create_app()
