"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import NotReady
from app.metrics import CONTENT_TYPE_LATEST
from app.schemas import ErrorResponse, Health

router = APIRouter(tags=["health"])


@router.get("/livez", response_model=Health)
async def livez() -> Health:
    """The process is up and the event loop answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": ErrorResponse}})
async def readyz(request: Request) -> Health:
    """The model is loaded and requests will be served (503 before that)."""
    if getattr(request.app.state, "engine", None) is None:
        raise NotReady()
    return Health(status="ready")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests by route and status, latency, batch sizes, model time."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
