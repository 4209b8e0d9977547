"""Prometheus metrics, one registry per app instance (so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

disable_created_metrics()  # no *_created series: they double the output and nobody graphs them

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Request counts and latency by route and status, batch sizes and model time by operation."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vcn_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vcn_http_request_duration_seconds",
            "Time from request start to the end of the response",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "vcn_batch_size",
            "Requests run together in one forward pass",
            ["op"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "vcn_inference_seconds",
            "Model time per call (one batch or one request)",
            ["op"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "vcn_requests_in_flight", "Model requests admitted and not yet answered", registry=self.registry
        )
        self.rejected = Counter("vcn_requests_rejected", "Model requests turned away with 429", registry=self.registry)
        self.model_loaded = Gauge("vcn_model_loaded", "1 once the model is loaded", registry=self.registry)

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
