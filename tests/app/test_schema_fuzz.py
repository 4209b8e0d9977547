"""Schemathesis against the app's own OpenAPI document, in-process: generated requests (valid and
invalid) never get a 5xx, and every answer matches what the document promises.

Random bytes are never an image and random text is rarely a valid attribute list, so a hook mixes real
PNGs and well-formed JSON fields into the generated bodies (multipart forms and the raw image bodies of
/api/predict and /api/reconstruct): the fuzzing then also reaches the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from app_inputs import png
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
IMAGES = {"image": png(seed=3), "image_b": png(seed=4)}
FIELDS = {
    "set": ["{}", '{"Eyeglasses": true}', '{"Smiling": false, "Bald": true}'],
    "resample": ["[]", '["Bangs"]'],
    "attributes": ["[]", '["Smiling"]', "{}", '{"Male": true}'],
    "attribute": ["Smiling", "Eyeglasses"],
}


@st.composite
def _plausible(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    for key, image in IMAGES.items():
        if key in body and draw(st.booleans()):
            body[key] = image
    for key, options in FIELDS.items():
        if key in body:
            body[key] = draw(st.sampled_from([body[key], *options]))
    return body


def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    """Schemathesis hook (the name is the hook): sometimes swap in real images and valid JSON fields."""
    if isinstance(body, dict):
        return _plausible(body)
    if isinstance(body, (bytes, Binary)):  # a raw image body
        return st.sampled_from([body, IMAGES["image"]])
    return st.just(body)


@pytest.fixture(scope="module")
def api_schema(make_app: Callable[..., FastAPI]):
    loaded = schemathesis.openapi.from_asgi("/openapi.json", make_app())
    loaded.hook(flatmap_body)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
