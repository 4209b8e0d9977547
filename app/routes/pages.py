"""The single-page editor (server renders the shell; static/app.js does the rest)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """The editor page."""
    return request.app.state.templates.TemplateResponse(request, "index.html", {"title": "VCN face editor"})
