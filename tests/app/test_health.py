"""Liveness, readiness (503 until the model is loaded) and the Prometheus metrics."""

from __future__ import annotations

from app_inputs import png
from fastapi.testclient import TestClient


def test_livez_and_readyz(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_not_ready_before_the_model_is_loaded(make_app) -> None:
    app = make_app()
    plain = TestClient(app)  # not entered: the lifespan (model loading) has not run
    assert plain.get("/livez").status_code == 200
    response = plain.get("/readyz")
    assert response.status_code == 503 and response.json()["detail"]
    assert plain.get("/api/attributes").status_code == 503
    busy = plain.post("/api/predict", files={"image": ("a.png", png(), "image/png")})
    assert busy.status_code == 503 and "not loaded" in busy.json()["detail"]
    with TestClient(app) as running:
        assert running.get("/readyz").status_code == 200
    assert plain.get("/readyz").status_code == 503  # and again after shutdown


def _recording(model, ops: tuple[str, ...]) -> dict[str, list[int]]:
    """Wrap the model's ops so each call's batch size is recorded."""
    seen: dict[str, list[int]] = {op: [] for op in ops}

    def wrap(op: str):
        real = getattr(model, op)

        def call(x, *args, **kwargs):
            seen[op].append(x.shape[0])
            return real(x, *args, **kwargs)

        return call

    for op in ops:
        setattr(model, op, wrap(op))
    return seen


def test_warm_up_runs_every_batch_size_before_ready_and_only_when_asked(faces_weights) -> None:
    from conftest import settings_for

    from app.deps import load_model
    from app.main import create_app

    for warmup, expected in (("on", [1, 2, 3]), ("auto", []), ("off", [])):  # auto: on a GPU only (CPU here)
        settings = settings_for(faces_weights, batch_max_size=3, warmup=warmup)
        model = load_model(settings)
        seen = _recording(model, ("predict", "reconstruct", "edit"))
        with TestClient(create_app(settings, model=model)) as running:
            assert running.get("/readyz").status_code == 200
            assert seen == {"predict": expected, "reconstruct": expected, "edit": expected}, warmup


def test_metrics(client: TestClient) -> None:
    client.post("/api/predict", files={"image": ("a.png", png(), "image/png")})
    client.post("/api/predict", files={"image": ("a.png", b"nope", "image/png")})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'vcn_http_requests_total{method="POST",route="/api/predict",status="200"}' in text
    assert 'vcn_http_requests_total{method="POST",route="/api/predict",status="415"}' in text
    assert 'vcn_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/predict"}' in text
    assert 'vcn_batch_size_count{op="predict"}' in text
    assert 'vcn_inference_seconds_count{op="predict"}' in text
    assert "vcn_model_loaded 1.0" in text
    assert "vcn_requests_in_flight 0.0" in text


def test_unknown_paths_do_not_grow_the_label_set(client: TestClient) -> None:
    for i in range(5):
        client.get(f"/no/such/page/{i}")
    text = client.get("/metrics").text
    assert "/no/such/page" not in text
    assert 'route="<unmatched>",status="404"' in text
