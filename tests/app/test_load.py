"""Bounded load: 32 concurrent clients for a few seconds, in-process. Zero 5xx; 429 is allowed.

Also: concurrent predict/reconstruct requests, and edits asking the same, really share forward passes, and
the in-flight bound answers 429 rather than queueing without limit.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time

import httpx
from app_inputs import png
from fastapi import FastAPI

CLIENTS = 32
SECONDS = 3.0
IMAGES = [png(seed=i) for i in range(4)]


async def hammer(app: FastAPI, clients: int, seconds: float) -> collections.Counter:
    """``clients`` loops posting predict / reconstruct / edit (two asks) for ``seconds``; returns the status
    counts."""
    statuses: collections.Counter = collections.Counter()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:

            async def one_client(k: int) -> None:
                deadline = time.monotonic() + seconds
                i = 0
                while time.monotonic() < deadline:
                    path = ("/api/predict", "/api/reconstruct", "/api/edit")[(k + i) % 3]
                    image = IMAGES[(k + i) % len(IMAGES)]
                    ask = {"set": '{"Eyeglasses": true}' if k % 2 else '{"Smiling": false}', "seed": str(k)}
                    response = await http.post(path, files={"image": ("a.png", image, "image/png")},
                                               data=ask if path == "/api/edit" else None)
                    statuses[response.status_code] += 1
                    i += 1
                    # In-process calls never touch a socket, so nothing else would get the loop in between;
                    # a real client also backs off after a 429.
                    await asyncio.sleep(0.02 if response.status_code == 429 else 0)

            await asyncio.gather(*(one_client(k) for k in range(CLIENTS)))
            statuses["metrics"] = 0
            metrics = (await http.get("/metrics")).text
            assert (await http.get("/livez")).status_code == 200
    app.state.metrics_text = metrics
    return statuses


def largest_batch(metrics: str, op: str) -> int:
    """The smallest histogram bucket bound holding every recorded batch of ``op``."""
    buckets = re.findall(rf'vcn_batch_size_bucket{{le="([0-9.+Inf]+)",op="{op}"}} ([0-9.]+)', metrics)
    total = float(re.search(rf'vcn_batch_size_count{{op="{op}"}} ([0-9.]+)', metrics).group(1))
    return int(float(next(le for le, count in buckets if float(count) == total)))


def test_32_concurrent_clients(make_app) -> None:
    app = make_app(max_in_flight=24, batch_max_size=8, batch_max_wait_ms=5)
    statuses = asyncio.run(hammer(app, CLIENTS, SECONDS))
    served = statuses[200]
    errors = {code: n for code, n in statuses.items() if isinstance(code, int) and code >= 500}
    assert not errors, statuses
    assert set(statuses) <= {200, 429, "metrics"}, statuses
    assert served >= CLIENTS, statuses
    assert largest_batch(app.state.metrics_text, "predict") > 1, "concurrent requests were never batched"
    assert largest_batch(app.state.metrics_text, "edit") > 1, "concurrent edits were never batched"


def test_in_flight_bound_answers_429(make_app) -> None:
    app = make_app(max_in_flight=2, batch_max_wait_ms=50)
    statuses = asyncio.run(hammer(app, 12, 1.0))
    assert statuses[429] > 0 and statuses[200] > 0, statuses
    assert not any(isinstance(code, int) and code >= 500 for code in statuses), statuses
