"""Whatever a client sends gets a clear JSON 4xx (never a 500), and the server keeps serving.

Also the odd-but-valid images (CMYK, 16-bit, palette + alpha, grey, EXIF-rotated, animated) are answered.
"""

from __future__ import annotations

import app_inputs as inputs
import pytest
from fastapi.testclient import TestClient

GOOD = inputs.png()


def post_image(client: TestClient, data: bytes, path: str = "/api/predict", **form: str):
    return client.post(path, files={"image": ("upload.png", data, "image/png")}, data=form)


def assert_clear_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail, "empty error detail"
    text = str(detail).lower()
    for word in words:
        assert word.lower() in text, (word, detail)


@pytest.fixture(autouse=True)
def still_alive(client: TestClient):
    """After every hostile request the service still answers."""
    yield
    assert client.get("/livez").status_code == 200
    assert post_image(client, GOOD).status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, ("empty",)),
        (inputs.TEXT, 415, ("text",)),
        (inputs.HTML, 415, ("html",)),
        (inputs.SVG, 415, ("svg",)),
        (inputs.PDF, 415, ("pdf",)),
        (b"\x00\x01\x02\x03" * 64, 422, ("not an image",)),
        (inputs.truncated(inputs.png((256, 256))), 422, ("truncated",)),
        (inputs.truncated(inputs.jpeg((256, 256))), 422, ("truncated",)),
        (inputs.png()[:40], 422, ("png",)),
        (inputs.bomb_png(20000), 413, ("pixels",)),
        (inputs.bomb_png(8000), 413, ("pixels",)),  # under Pillow's own bomb limit, over ours
    ],
    ids=[
        "empty",
        "text",
        "html",
        "svg",
        "pdf",
        "binary",
        "truncated-png",
        "truncated-jpeg",
        "header-only",
        "bomb-20000",
        "bomb-8000",
    ],
)
def test_bad_images(client: TestClient, data: bytes, status: int, words: tuple[str, ...]) -> None:
    assert_clear_error(post_image(client, data), status, *words)


def test_content_type_header_is_not_trusted(client: TestClient) -> None:
    svg_as_png = client.post("/api/predict", files={"image": ("x.png", inputs.SVG, "image/png")})
    assert_clear_error(svg_as_png, 415)
    png_as_text = client.post("/api/predict", files={"image": ("x.txt", GOOD, "text/plain")})
    assert png_as_text.status_code == 200


def test_second_image_errors_name_their_field(client: TestClient) -> None:
    response = client.post(
        "/api/swap",
        files={"image": ("a.png", GOOD, "image/png"), "image_b": ("b.svg", inputs.SVG, "image/svg+xml")},
        data={"attributes": '["Smiling"]'},
    )
    assert_clear_error(response, 415, "image_b")


def test_missing_image(client: TestClient) -> None:
    assert_clear_error(client.post("/api/predict"), 422)
    assert_clear_error(client.post("/api/predict", data={"other": "field"}), 422, "image")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (GOOD, "text/plain", 415, ("text/plain", "image/*")),
        (b'{"image": 1}', "application/json", 415, ("application/json",)),
        (inputs.HTML, "image/png", 415, ("html",)),
        (inputs.truncated(GOOD), "image/png", 422, ("image:",)),
        (b"", "application/octet-stream", 422, ("empty",)),
    ],
    ids=["text-type", "json-type", "html-as-png", "truncated", "empty"],
)
def test_raw_body_that_is_no_image(client: TestClient, body: bytes, content_type: str, status: int,
                                   words: tuple[str, ...]) -> None:
    for path in ("/api/predict", "/api/reconstruct"):
        assert_clear_error(client.post(path, content=body, headers={"Content-Type": content_type}), status, *words)


def test_raw_body_over_the_upload_limit(make_app) -> None:
    with TestClient(make_app(max_upload_bytes=50_000)) as small:
        big = inputs.encode(inputs.noise((400, 400)), "PNG", compress_level=0)
        response = small.post("/api/predict", content=big, headers={"Content-Type": "image/png"})
        assert_clear_error(response, 413, "limit")


def test_file_over_the_byte_limit(make_app) -> None:
    with TestClient(make_app(max_upload_bytes=50_000)) as small:
        big = inputs.encode(inputs.noise((400, 400)), "PNG", compress_level=0)
        assert len(big) > 50_000
        assert_clear_error(post_image(small, big), 413, "limit")


def test_body_over_the_limit_declared(client: TestClient) -> None:
    body = b"\x89PNG\r\n\x1a\n" + b"\x00" * (50 * 1024 * 1024)
    assert_clear_error(post_image(client, body), 413, "limit")


def test_body_over_the_limit_streamed(client: TestClient) -> None:
    """No Content-Length (chunked): the limit is enforced while reading."""

    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\n'
        for _ in range(30):
            yield b"\x00" * (1024 * 1024)

    response = client.post(
        "/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_clear_error(response, 413, "limit")


@pytest.mark.parametrize("count", [40, 1000, 1001])
def test_form_field_flood(client: TestClient, count: int) -> None:
    fields = {f"f{i}": "x" for i in range(count)}
    response = client.post("/api/predict", files={"image": ("a.png", GOOD, "image/png")}, data=fields)
    assert 400 <= response.status_code < 500, response.status_code
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "form", "words"),
    [
        ("/api/edit", {"set": "{not json"}, ("set", "json")),
        ("/api/edit", {"set": '["Eyeglasses"]'}, ("set", "object")),
        ("/api/edit", {"set": '{"Eyeglasses": "yes"}'}, ("set",)),
        ("/api/edit", {"set": '{"Wings": true}'}, ("unknown", "wings")),
        ("/api/edit", {"set": "{}", "resample": '["Tail"]'}, ("resample", "tail")),
        ("/api/edit", {"set": "{}", "resample": "nope"}, ("resample",)),
        ("/api/edit", {"set": "{}", "seed": "-1"}, ("seed",)),
        ("/api/edit", {"set": "{}", "seed": "abc"}, ("seed",)),
        ("/api/edit", {"set": "{}", "seed": str(2**70)}, ("seed",)),
        ("/api/edit", {}, ("set",)),
        ("/api/resample", {"attribute": "Wings"}, ("wings",)),
        ("/api/resample", {"attribute": "Eyeglasses", "n": "0"}, ("n",)),
        ("/api/resample", {"attribute": "Eyeglasses", "n": "1000000"}, ("n",)),
        ("/api/swap", {"attributes": '["Smiling"]'}, ("image_b",)),
        ("/api/swap", {"attributes": '["Smiling"]', "style_strength": "9"}, ("style_strength",)),
        ("/api/swap", {"attributes": '["Smiling"]', "resolve_conflicts": "maybe"}, ("resolve_conflicts",)),
        ("/api/interpolate", {"attribute": "Smiling", "strength": "0"}, ("strength",)),
        ("/api/interpolate", {}, ("exactly one",)),
        ("/api/interpolate", {"attribute": "Smiling", "steps": "1"}, ("steps",)),
        ("/api/interpolate", {"attribute": "Smiling", "steps": "1000000"}, ("steps",)),
        ("/api/interpolate", {"attribute": "Horns"}, ("horns",)),
    ],
)
def test_bad_fields(client: TestClient, path: str, form: dict, words: tuple[str, ...]) -> None:
    assert_clear_error(post_image(client, GOOD, path, **form), 422, *words)


@pytest.mark.parametrize(
    "form",
    [{"attributes": "[]"}, {"attributes": '{"Wings": true}'}, {"n": "0"}, {"n": "17"}, {"seed": "-5"}],
)
def test_bad_sample_fields(client: TestClient, form: dict) -> None:
    assert_clear_error(client.post("/api/sample", data=form), 422)


def test_bad_query(client: TestClient) -> None:
    assert_clear_error(client.get("/api/random-face", params={"seed": -1}), 422)
    assert_clear_error(client.get("/api/random-face", params={"seed": "x"}), 422)


def test_wrong_method_and_path(client: TestClient) -> None:
    assert client.get("/api/predict").status_code == 405
    assert client.get("/api/nothing-here").status_code == 404


def test_json_body_instead_of_form(client: TestClient) -> None:
    response = client.post("/api/edit", json={"set": {"Eyeglasses": True}})
    assert_clear_error(response, 422)


@pytest.mark.parametrize(
    "data",
    [
        inputs.cmyk_jpeg(),
        inputs.png16_rgb(),
        inputs.png16_grey(),
        inputs.palette_alpha_png(),
        inputs.rgba_png(),
        inputs.grey_png(),
        inputs.exif_rotated_jpeg(),
        inputs.animated_gif(),
        inputs.webp(),
        inputs.encode(inputs.noise((64, 64)), "BMP"),
        inputs.encode(inputs.noise((64, 64)), "TIFF"),
        inputs.png((1, 1)),
        inputs.png((3000, 20)),
    ],
    ids=[
        "cmyk-jpeg",
        "png16-rgb",
        "png16-grey",
        "palette-alpha",
        "rgba",
        "grey",
        "exif-rotated",
        "animated-gif",
        "webp",
        "bmp",
        "tiff",
        "1x1",
        "very-wide",
    ],
)
def test_odd_but_valid_images(client: TestClient, data: bytes) -> None:
    for path in ("/api/predict", "/api/reconstruct"):
        response = post_image(client, data, path)
        assert response.status_code == 200, response.text
