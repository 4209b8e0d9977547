"""Client-facing errors and the handlers that turn them (and anything unexpected) into JSON.

Every error body is ``{"detail": ...}``, the same shape FastAPI uses for its own validation errors.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger("app")


class AppError(Exception):
    """An error the client caused (or may retry); ``status_code`` and ``detail`` go out as JSON."""

    status_code = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class InvalidInput(AppError):
    """Not an image, a truncated one, or a malformed/out-of-range form field."""

    status_code = 422


class UnsupportedMediaType(AppError):
    """Recognisably some other kind of file (SVG, PDF, text, ...)."""

    status_code = 415


class PayloadTooLarge(AppError):
    """Too many bytes, or too many pixels once the header is read."""

    status_code = 413


class Busy(AppError):
    """Too many requests in flight; the client should retry shortly."""

    status_code = 429

    def __init__(self, detail: str = "server busy: too many requests in flight, retry shortly") -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class NotReady(AppError):
    """The model is not loaded (yet)."""

    status_code = 503

    def __init__(self, detail: str = "model not loaded yet") -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


async def app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Answer an `AppError` with its status code and a ``{"detail": ...}`` body."""
    assert isinstance(exc, AppError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Log the traceback server-side; tell the client only that it was our fault."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
