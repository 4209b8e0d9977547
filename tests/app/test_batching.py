"""The micro-batcher without a collecting task, and the two ways a predict/reconstruct reaches the model.

A lone request (the only one admitted) is decoded, run and encoded in one job on the model thread; with
others in flight it takes the shared path (decode and encoding in the thread pool, batched model call).
Both must give the same answers, the same errors and the same metrics.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from app_inputs import png
from fastapi import FastAPI

from app import batching
from app.batching import Batcher, EditParams, Engine, Worker
from app.imaging import uint8_to_tensor
from app.metrics import Metrics
from app.middleware import RequestMiddleware
from app.routes import api as api_routes

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "faces.safetensors"


# ------------------------------------------------------------------------------------------ Batcher
class Recorder:
    """A batch function that records batch sizes; ``gate`` (if set) holds the first call until released."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.sizes: list[int] = []
        self.fail = fail
        self.gate = gate

    def __call__(self, x: torch.Tensor) -> list[float]:
        if self.gate is not None and not self.sizes:
            self.gate.wait(10)
        self.sizes.append(x.shape[0])
        if self.fail:
            raise ValueError("model says no")
        return [float(v) for v in x.flatten(1)[:, 0]]


def run_batcher(fn: Recorder, body, max_size: int = 16, max_wait_s: float = 0.0):
    """Run ``body(batcher)`` on a fresh loop with a started batcher; stop it afterwards."""

    async def main():
        worker = Worker(Metrics())
        batcher = Batcher("predict", fn, worker, max_size, max_wait_s)
        batcher.start()
        try:
            return await body(batcher)
        finally:
            await batcher.stop()
            worker.close()

    return asyncio.run(main())


def image(value: float) -> torch.Tensor:
    return torch.full((1, 1, 2, 2), value)


def test_a_lone_request_is_a_batch_of_one() -> None:
    fn = Recorder()
    assert run_batcher(fn, lambda b: b.submit(image(0.5))) == 0.5
    assert fn.sizes == [1]


def test_requests_queued_while_the_model_is_busy_form_the_next_batch() -> None:
    gate = threading.Event()
    fn = Recorder(gate=gate)

    async def body(b: Batcher):
        first = asyncio.ensure_future(b.submit(image(0)))
        await asyncio.sleep(0.05)  # the first batch is on the model thread, held by the gate
        rest = [asyncio.ensure_future(b.submit(image(v))) for v in (1, 2, 3)]
        await asyncio.sleep(0.01)
        gate.set()
        return await first, await asyncio.gather(*rest)

    assert run_batcher(fn, body) == (0, [1, 2, 3])
    assert fn.sizes == [1, 3]


def test_the_wait_gathers_requests_and_a_full_batch_goes_at_once() -> None:
    fn = Recorder()

    async def body(b: Batcher):
        start = time.monotonic()
        results = await asyncio.gather(*(b.submit(image(v)) for v in range(5)))
        return results, time.monotonic() - start

    # A 30 s wait, but the fifth request fills the batch: it goes at once.
    results, took = run_batcher(fn, body, max_size=5, max_wait_s=30.0)
    assert results == [0, 1, 2, 3, 4] and fn.sizes == [5] and took < 10

    fn = Recorder()
    results, took = run_batcher(fn, body, max_size=16, max_wait_s=0.05)
    assert results == [0, 1, 2, 3, 4] and fn.sizes == [5] and took >= 0.04


def test_a_failed_batch_fails_each_request_and_the_next_batch_runs() -> None:
    fn = Recorder(fail=True)

    async def body(b: Batcher):
        outcomes = await asyncio.gather(b.submit(image(1)), b.submit(image(2)), return_exceptions=True)
        fn.fail = False
        return outcomes, await b.submit(image(3))

    outcomes, after = run_batcher(fn, body)
    assert all(isinstance(o, ValueError) for o in outcomes) and after == 3


def test_stop_fails_waiting_requests_and_refuses_new_ones() -> None:
    gate = threading.Event()
    fn = Recorder(gate=gate)

    async def main():
        worker = Worker(Metrics())
        b = Batcher("predict", fn, worker, 16, 0.0)
        b.start()
        running = asyncio.ensure_future(b.submit(image(0)))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(b.submit(image(1)))
        await asyncio.sleep(0.01)
        await b.stop()
        with pytest.raises(RuntimeError, match="shutting down"):
            await waiting
        with pytest.raises(RuntimeError, match="not running"):
            await b.submit(image(2))
        gate.set()
        assert await running == 0  # the batch already on the model thread still answers
        worker.close()

    asyncio.run(main())


def test_keyed_items_are_batched_only_with_their_key_oldest_key_first() -> None:
    gate = threading.Event()
    calls: list[tuple[str, list[int]]] = []

    def fn(x: torch.Tensor, key: str, args: list[int]) -> list[str]:
        if not calls:
            gate.wait(10)
        calls.append((key, args))
        return [f"{key}{arg}:{v:g}" for arg, v in zip(args, x.flatten(1)[:, 0].tolist(), strict=True)]

    async def body(b: Batcher):
        first = asyncio.ensure_future(b.submit(image(0), "A", 0))
        await asyncio.sleep(0.05)  # on the model thread, held by the gate
        keys = ["B", "A", "B", "A", "A"]
        rest = [asyncio.ensure_future(b.submit(image(i + 1), k, i + 1)) for i, k in enumerate(keys)]
        await asyncio.sleep(0.01)
        gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = run_batcher(fn, body, max_size=2)
    assert first == "A0:0" and rest == ["B1:1", "A2:2", "B3:3", "A4:4", "A5:5"]  # each its own answer
    assert calls == [("A", [0]), ("B", [1, 3]), ("A", [2, 4]), ("A", [5])]


def queued_edits(model, faces: list[torch.Tensor], asks: list[tuple[EditParams, int]]) -> tuple[list, list[int]]:
    """Send edits (face, (params, seed)) to an Engine while its model thread is held busy, so they queue up and
    go in batches; returns each one's answer (or exception) and the batch size of every model.edit call."""
    sizes: list[int] = []
    real_edit = model.edit

    def counting_edit(x, **kwargs):
        sizes.append(x.shape[0])
        return real_edit(x, **kwargs)

    async def main():
        engine = Engine(model, metrics=Metrics(), max_in_flight=64, batch_max_size=16, batch_max_wait_ms=0)
        await engine.start()
        gate = threading.Event()
        engine.worker.submit(lambda: gate.wait(10))  # the model thread is busy while the edits queue up
        model.edit = counting_edit
        try:
            pending = [asyncio.ensure_future(engine.edit(x, p, seed)) for x, (p, seed) in zip(faces, asks, strict=True)]
            await asyncio.sleep(0.05)
            gate.set()
            return await asyncio.gather(*pending, return_exceptions=True)
        finally:
            model.edit = real_edit
            await engine.stop()

    return asyncio.run(main()), sizes


def test_concurrent_edits_of_the_shipped_model_are_batched_and_each_is_its_own_edit_alone() -> None:
    """Verified edits and style draws on the real faces file: a face's picture must not depend on what the
    server batched it with (model/seeds.py), and edits that differ only in what they set are batched."""
    from model.checkpoint import load_vcn
    from model.data import faces as rendered

    model = load_vcn(SHIPPED_WEIGHTS)
    faces = list(uint8_to_tensor(rendered.render(rendered.sample_faces(0, 0, 6), 64)).split(1))
    asks = [(EditParams((("Smiling", True),)), 3), (EditParams((("Eyeglasses", True),), ("Bangs",)), 4),
            (EditParams((("Smiling", True),)), 9), (EditParams((("Blond_Hair", True), ("Smiling", False))), 3),
            (EditParams((("Eyeglasses", True),), ("Bangs",)), 1), (EditParams((("Bald", True),)), 5)]
    answers, sizes = queued_edits(model, faces, asks)
    batched = [out for out, _ in answers]
    # the first launched alone (the batcher was idle); then the two Eyeglasses + Bangs resamples together, and
    # the Smiling, Blond_Hair + Smiling and Bald edits together: they differ only in what they set (Blond_Hair
    # and Bald also switch off their exclusive partners, each face its own)
    assert sizes == [1, 2, 3]
    for x, (p, seed), out in zip(faces, asks, batched, strict=True):
        alone = model.edit(x, set=dict(p.set), resample=list(p.resample), seed=seed)
        assert out.shape == alone.shape == (1, 3, 64, 64)
        torch.testing.assert_close(out, alone, atol=2e-5, rtol=0)
    assert all(sure is not None and 0.0 <= sure <= 1.0 for _, sure in answers)  # every one verified
    assert not torch.allclose(batched[0], batched[3])  # same ask, different faces


def test_an_edit_the_model_refuses_fails_alone_and_its_batch_mates_are_answered(faces_weights) -> None:
    """An ask the routes' checks would stop (here an unknown attribute, sent to the engine directly) makes the
    model refuse the whole batch; the engine then edits each face alone, so only that request fails."""
    from app.errors import InvalidInput
    from model.checkpoint import load_vcn

    model = load_vcn(faces_weights)
    faces = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    asks = [(EditParams((("Smiling", True),)), 7), (EditParams((("No_Such_Thing", True),)), 8),
            (EditParams((("Bald", True),)), 9)]
    (good, bad, other), sizes = queued_edits(model, faces, asks)
    # the first launched alone (the batcher was idle); the other two as one batch, refused; then each alone
    assert sizes == [1, 2, 1, 1]
    assert isinstance(bad, InvalidInput) and "No_Such_Thing" in bad.detail
    for (out, _), x, (ask, seed) in ((good, faces[0], asks[0]), (other, faces[2], asks[2])):
        torch.testing.assert_close(out, model.edit(x, set=dict(ask.set), seed=[seed]), atol=2e-5, rtol=0)


# ------------------------------------------------------------------------- lone and shared requests
async def post_all(app: FastAPI, requests: list[tuple[str, dict]], hold_slot: bool) -> list[httpx.Response]:
    """Send ``requests`` one after another; with ``hold_slot`` another request holds an admission slot
    meanwhile, so none of them is alone."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
            engine = app.state.engine
            out = []
            for path, data in requests:
                if hold_slot:
                    with engine.admit():
                        out.append(await http.post(path, **data))
                else:
                    out.append(await http.post(path, **data))
            out.append(await http.get("/metrics"))
            return out


def test_lone_and_shared_requests_answer_alike(make_app, monkeypatch) -> None:
    pooled = []
    real_pool = batching.run_in_threadpool

    async def counting_pool(fn, *args):
        pooled.append(getattr(fn, "__name__", type(fn).__name__))
        return await real_pool(fn, *args)

    monkeypatch.setattr(batching, "run_in_threadpool", counting_pool)
    monkeypatch.setattr(api_routes, "run_in_threadpool", counting_pool)
    files = {"files": {"image": ("a.png", png(seed=3), "image/png")}}
    edit = {**files, "data": {"set": '{"Smiling": true}', "seed": "7"}}
    text = {"files": {"image": ("a.png", b"just some text, not an image", "image/png")}}
    requests = [("/api/predict", files), ("/api/reconstruct", files), ("/api/edit", edit), ("/api/predict", text),
                ("/api/edit", {**text, "data": edit["data"]})]
    answers = {}
    for hold in (False, True):
        pooled.clear()
        *responses, metrics = asyncio.run(post_all(make_app(), requests, hold))
        answers[hold] = responses
        # shared: every decode (5) and PNG encoding (2) went to the thread pool; lone: only edit's (2 + 1)
        assert len(pooled) == (7 if hold else 3), pooled
        assert 'vcn_batch_size_count{op="predict"} 1.0' in metrics.text
        assert 'vcn_inference_seconds_count{op="edit"} 1.0' in metrics.text
    for (lone, shared), (path, _) in zip(zip(answers[False], answers[True], strict=True), requests, strict=True):
        assert lone.status_code == shared.status_code, path
        assert lone.headers["content-type"] == shared.headers["content-type"], path
        if lone.status_code != 200 or path != "/api/predict":
            assert lone.content == shared.content, path  # same PNG bytes, same error text
            continue
        a, b = lone.json(), shared.json()
        assert a["face_found"] == b["face_found"]
        for x, y in zip(a["attributes"], b["attributes"], strict=True):
            assert (x["name"], x["present"]) == (y["name"], y["present"])
            assert x["score"] == pytest.approx(y["score"], abs=1e-5)
    assert answers[False][3].status_code == 415 and answers[False][3].json()["detail"].startswith("image:")


# ------------------------------------------------------------------------------------- middleware
def test_a_content_length_that_is_not_a_number_is_a_counted_400() -> None:
    metrics = Metrics()
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    middleware = RequestMiddleware(app, metrics=metrics, max_bytes=100)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": [(b"content-length", b"ten")]}
    asyncio.run(middleware(scope, receive, send))
    assert not called and sent[0]["status"] == 400 and b"Content-Length" in sent[1]["body"]
    assert 'vcn_http_requests_total{method="POST",route="<unmatched>",status="400"} 1.0' in metrics.render().decode()
