"""HTTP routers: the REST API, the page, and health/metrics."""

from app.routes import api, health, pages

__all__ = ["api", "health", "pages"]
