"""Every endpoint answers in the documented shape, and the same request gives the same bytes."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re

import numpy as np
import pytest
from app_inputs import png
from fastapi.testclient import TestClient
from PIL import Image

from app import imaging
from app.schemas import PredictResponse

IMAGE = png(seed=1)
IMAGE_B = png(seed=2)


def files(image: bytes = IMAGE, **others: bytes) -> dict[str, tuple[str, bytes, str]]:
    parts = {"image": ("face.png", image, "image/png")}
    parts.update({name: (f"{name}.png", data, "image/png") for name, data in others.items()})
    return parts


def decode_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img


def decode_data_urls(payload: dict) -> list[Image.Image]:
    prefix = "data:image/png;base64,"
    assert all(url.startswith(prefix) for url in payload["images"])
    return [decode_png(base64.b64decode(url[len(prefix) :])) for url in payload["images"]]


def test_attributes(client: TestClient) -> None:
    body = client.get("/api/attributes").json()
    assert body["kind"] == "multilabel"
    assert body["image_size"] == 64 and body["channels"] == 3 and body["dataset"] == "faces"
    assert len(body["attributes"]) == 40 and "Eyeglasses" in body["attributes"]
    assert ["Bald", "Bangs"] in body["exclusive"] and ["No_Beard", "Goatee"] in body["exclusive"]


def test_edit_switches_off_exclusive_partners_unless_told_not_to(client: TestClient) -> None:
    """Bald on a face with bangs and black hair = Bald on with its partners named off (same draws, same
    bytes); with resolve_conflicts=false the partners stay on and the image differs."""
    from model.data import faces

    batch = faces.sample_faces(0, 0, 200)
    i = next(i for i in range(200) if batch.attrs[i, faces.ATTRIBUTES.index("Black_Hair")])
    buf = io.BytesIO()
    Image.fromarray(faces.render(batch.take(slice(i, i + 1)), 64)[0]).save(buf, format="PNG")
    face = files(buf.getvalue())
    exclusive = client.get("/api/attributes").json()["exclusive"]
    partners = sorted({b for a, b in exclusive if a == "Bald"} | {a for a, b in exclusive if b == "Bald"},
                      key=faces.ATTRIBUTES.index)

    def edit(flags: dict, **extra: str) -> bytes:
        response = client.post("/api/edit", files=face, data={"set": json.dumps(flags), "seed": "3", **extra})
        assert response.status_code == 200, response.text
        return response.content

    resolved = edit({"Bald": True})
    assert resolved == edit({"Bald": True, **{p: False for p in partners}})
    assert resolved != edit({"Bald": True}, resolve_conflicts="false")


def test_predict(client: TestClient) -> None:
    response = client.post("/api/predict", files=files())
    assert response.status_code == 200, response.text
    body = response.json()
    names = client.get("/api/attributes").json()["attributes"]
    assert [row["name"] for row in body["attributes"]] == names
    for row in body["attributes"]:
        assert isinstance(row["present"], bool)
        assert 0.0 <= row["score"] <= 1.0
        assert row["kl_present"] is not None and row["kl_absent"] is not None
    assert body["face_found"] is None  # 64x64 input: no face crop attempted
    # the route writes its JSON without FastAPI's response validation: it must still be the documented document
    assert PredictResponse.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize("path", ["/api/predict", "/api/reconstruct"])
@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/octet-stream"])
def test_raw_image_body_answers_like_the_multipart_field(client: TestClient, path: str, content_type: str) -> None:
    """The image sent as the whole body gets the same bytes back as the multipart field (the bytes, not the
    declared type, decide the format: a PNG sent as image/jpeg is still read as a PNG)."""
    multipart = client.post(path, files=files())
    raw = client.post(path, content=IMAGE, headers={"Content-Type": content_type})
    assert multipart.status_code == raw.status_code == 200, raw.text
    assert raw.content == multipart.content
    assert raw.headers["content-type"] == multipart.headers["content-type"]


@pytest.mark.parametrize(
    ("path", "data", "extra"),
    [
        ("/api/reconstruct", {}, {}),
        ("/api/edit", {"set": '{"Eyeglasses": true, "Smiling": false}', "seed": "3"}, {}),
        ("/api/edit", {"set": "{}", "resample": '["Smiling"]', "seed": "4"}, {}),
        ("/api/swap", {"attributes": '["Smiling", "Eyeglasses"]'}, {"image_b": IMAGE_B}),
    ],
    ids=["reconstruct", "edit", "edit-resample", "swap"],
)
def test_single_image_ops(client: TestClient, path: str, data: dict, extra: dict) -> None:
    response = client.post(path, files=files(**extra), data=data)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-face-found"] == "none"
    img = decode_png(response.content)
    assert img.size == (64, 64) and img.mode == "RGB"


@pytest.mark.parametrize(
    ("path", "data", "extra", "count"),
    [
        ("/api/resample", {"attribute": "Eyeglasses", "n": "5", "seed": "1"}, {}, 5),
        ("/api/interpolate", {"attribute": "Smiling", "steps": "4"}, {}, 4),
        ("/api/interpolate", {"steps": "3"}, {"image_b": IMAGE_B}, 3),
    ],
    ids=["resample", "interpolate-attribute", "interpolate-images"],
)
def test_multi_image_ops(client: TestClient, path: str, data: dict, extra: dict, count: int) -> None:
    response = client.post(path, files=files(**extra), data=data)
    assert response.status_code == 200, response.text
    images = decode_data_urls(response.json())
    assert len(images) == count and all(img.size == (64, 64) for img in images)


def test_sample(client: TestClient) -> None:
    response = client.post("/api/sample", data={"attributes": '{"Male": true}', "n": "3", "seed": "5"})
    assert response.status_code == 200, response.text
    assert len(decode_data_urls(response.json())) == 3
    assert client.post("/api/sample").status_code == 200  # every field has a default


def test_random_face(client: TestClient) -> None:
    response = client.get("/api/random-face", params={"seed": 7})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert decode_png(response.content).size == (64, 64)
    assert client.get("/api/random-face", params={"seed": 7}).content == response.content


@pytest.mark.parametrize(
    ("path", "data", "extra"),
    [
        ("/api/predict", {}, {}),
        ("/api/reconstruct", {}, {}),
        ("/api/edit", {"set": '{"Eyeglasses": true}', "resample": '["Bangs"]', "seed": "11"}, {}),
        ("/api/resample", {"attribute": "Eyeglasses", "n": "3", "seed": "11"}, {}),
        ("/api/swap", {"attributes": '["Smiling"]'}, {"image_b": IMAGE_B}),
        ("/api/interpolate", {"attribute": "Smiling", "steps": "3", "seed": "11"}, {}),
    ],
)
def test_same_request_same_bytes(client: TestClient, path: str, data: dict, extra: dict) -> None:
    first = client.post(path, files=files(**extra), data=data)
    second = client.post(path, files=files(**extra), data=data)
    assert first.status_code == 200, first.text
    assert first.content == second.content


def test_interpolation_strength_moves_only_the_frames_past_the_start(client: TestClient) -> None:
    """/api/interpolate's `strength`: where the frames go (the last is the edit at that strength), not where they
    start (the face as it is)."""
    def frames(strength: str) -> list[str]:
        response = client.post("/api/interpolate", files=files(),
                               data={"attribute": "Smiling", "steps": "3", "seed": "4", "strength": strength})
        assert response.status_code == 200, response.text
        return response.json()["images"]

    one, three = frames("1"), frames("3")
    assert one[0] == three[0] and one[-1] != three[-1]
    assert client.post("/api/interpolate", files=files(), data={"attribute": "Smiling", "strength": "0"}
                       ).status_code == 422


def test_seed_matters(client: TestClient) -> None:
    def sample(seed: int) -> bytes:
        return client.post("/api/sample", data={"n": "2", "seed": str(seed)}).content

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_edit_changes_the_image(client: TestClient) -> None:
    recon = client.post("/api/reconstruct", files=files()).content
    edits = {json.dumps({name: flag}) for name in ("Eyeglasses", "Smiling", "Bald") for flag in (True, False)}
    outputs = {client.post("/api/edit", files=files(), data={"set": s, "seed": "1"}).content for s in edits}
    assert outputs - {recon}, "no edit changed a single pixel"


@pytest.mark.skipif(not imaging.face_detection_available(), reason="this OpenCV build has no Haar cascades")
def test_face_crop_reports(make_app) -> None:
    """A photo-sized image gets a face search (none in noise: face_found false, centre crop used)."""
    with TestClient(make_app(face_crop="auto")) as local:
        body = local.post("/api/predict", files=files(png((400, 300)))).json()
        assert body["face_found"] is False
        small = local.post("/api/predict", files=files(png((64, 64)))).json()
        assert small["face_found"] is None
    with TestClient(make_app(face_crop="off")) as local:
        assert local.post("/api/predict", files=files(png((400, 300)))).json()["face_found"] is None


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for name in ("attributes", "predict", "reconstruct", "edit", "resample", "swap", "interpolate", "sample",
                 "random-face"):  # fmt: skip
        assert f"/api/{name}" in paths
    assert client.get("/docs").status_code == 200


def test_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script type="module" src="/static/app.js">' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    # app.js imports its helpers as ES modules: each must be served, as JavaScript, or the page never starts
    imported = re.findall(r"^import .* from '\./([\w-]+\.js)';$", client.get("/static/app.js").text, re.M)
    assert {"api.js", "dom.js"} <= set(imported)
    for module in imported:
        served = client.get(f"/static/{module}")
        assert served.status_code == 200 and "javascript" in served.headers["content-type"]


class TestDigits:
    """A multiclass, one-channel model through the same API."""

    def test_attributes(self, digits_client: TestClient) -> None:
        body = digits_client.get("/api/attributes").json()
        assert body == {
            "attributes": [str(d) for d in range(10)],
            "image_size": 28,
            "kind": "multiclass",
            "dataset": "mnist",
            "channels": 1,
            "exclusive": [],
            "edit_strength": 1.0,
            "attribute_strength": None,
            "switched_on_from": "prior",
            "edit_blend": 0.0,
            "style_strength": 1.0,
            "verify_strengths": [],
            "verify_confidence": None,
        }

    def test_predict_one_class(self, digits_client: TestClient) -> None:
        body = digits_client.post("/api/predict", files=files(png((28, 28)))).json()
        assert sum(row["present"] for row in body["attributes"]) == 1
        assert all(row["kl_absent"] is None for row in body["attributes"])
        assert PredictResponse.model_validate(body).model_dump(mode="json") == body

    def test_ops(self, digits_client: TestClient) -> None:
        image = png((28, 28))
        edit = digits_client.post("/api/edit", files=files(image), data={"set": '{"7": true}'})
        assert edit.status_code == 200 and decode_png(edit.content).mode == "L"
        assert digits_client.post("/api/sample", data={"attributes": '{"3": true}', "n": "2"}).status_code == 200
        assert digits_client.get("/api/random-face").status_code == 200
        frames = digits_client.post("/api/interpolate", files=files(image), data={"attribute": "2", "steps": "3"})
        assert len(frames.json()["images"]) == 3

    @pytest.mark.parametrize("flags", ['{"7": false}', '{"1": true, "2": true}'])
    def test_one_class_only(self, digits_client: TestClient, flags: str) -> None:
        response = digits_client.post("/api/edit", files=files(png((28, 28))), data={"set": flags})
        assert response.status_code == 422
        assert "one class" in response.json()["detail"]


def test_edit_strength_changes_the_edit_and_is_bounded(client: TestClient) -> None:
    assert client.get("/api/attributes").json()["edit_strength"] == 1.0  # the random test model's default

    def edit(**extra: str):
        data = {"set": json.dumps({"Smiling": False, "Eyeglasses": True}), "seed": "1", **extra}
        return client.post("/api/edit", files=files(), data=data)

    plain, default, strong = edit(strength="1"), edit(), edit(strength="2")
    assert plain.status_code == default.status_code == strong.status_code == 200
    assert plain.content == default.content and strong.content != plain.content
    for bad in ("0", "-1", "5", "lots"):
        assert edit(strength=bad).status_code == 422, bad


def test_edits_are_pasted_onto_the_upload_by_default_when_the_model_blends_them(make_app, faces_weights, tmp_path,
                                                                             client):
    """A model with edit_blend: an edit keeps the upload's own pixels where it barely changes the picture unless
    paste=false (then the model's reconstruction is kept there), so the pasted answer is nearer the upload; new
    styles, interpolation frames and swaps alike. A model that does not blend (the random test model) does not
    paste, and asking it to is a 422."""
    from model.checkpoint import load_vcn, resave_vcn

    model = load_vcn(faces_weights)
    model.cfg = dataclasses.replace(model.cfg, edit_blend=0.05)
    resave_vcn(tmp_path / "blending.safetensors", model)
    data = {"set": json.dumps({"Eyeglasses": True, "Smiling": True}), "seed": "2"}
    upload = np.asarray(decode_png(IMAGE).convert("RGB"), dtype=np.float64)
    with TestClient(make_app(tmp_path / "blending.safetensors")) as blending:
        got = {how: blending.post("/api/edit", files=files(), data={**data, **extra})
               for how, extra in (("default", {}), ("pasted", {"paste": "true"}), ("plain", {"paste": "false"}))}
        hows = (("default", {}), ("pasted", {"paste": "true"}), ("plain", {"paste": "false"}))
        styles = {how: blending.post("/api/resample", files=files(),
                                     data={"attribute": "Eyeglasses", "n": "2", "seed": "2", **extra}).json()["images"]
                  for how, extra in hows}
        frames = {how: blending.post("/api/interpolate", files=files(),
                                     data={"attribute": "Smiling", "steps": "3", **extra}).json()["images"]
                  for how, extra in hows}
        swaps = {how: blending.post("/api/swap", files=files(image_b=png(seed=5)),
                                    data={"attributes": '["Smiling"]', **extra}).content for how, extra in hows}
    assert all(r.status_code == 200 for r in got.values())
    assert got["default"].content == got["pasted"].content != got["plain"].content
    off = {how: np.abs(np.asarray(decode_png(r.content), dtype=np.float64) - upload).mean() for how, r in got.items()}
    assert off["pasted"] < off["plain"]
    for answers in (styles, frames, swaps):  # new styles, interpolation frames and swaps are pasted alike
        assert answers["default"] == answers["pasted"] != answers["plain"]
    assert client.post("/api/edit", files=files(), data=data).status_code == 200
    refused = client.post("/api/edit", files=files(), data={**data, "paste": "true"})
    assert refused.status_code == 422 and "edit_blend" in refused.json()["detail"]
    for path, fields, extra in (("/api/resample", {"attribute": "Eyeglasses"}, {}),
                                ("/api/interpolate", {"attribute": "Smiling"}, {}),
                                ("/api/swap", {"attributes": '["Smiling"]'}, {"image_b": png(seed=5)})):
        refused = client.post(path, files=files(**extra), data={**fields, "paste": "true"})
        assert refused.status_code == 422 and "edit_blend" in refused.json()["detail"], path


def test_calibrated_strengths_are_listed_and_apply_when_the_request_names_none(make_app, faces_weights, tmp_path):
    """A model with per-attribute strengths (vcn calibrate): /api/attributes lists them, an edit without
    `strength` uses them (Smiling and Eyeglasses at 2: not the plain edit), an explicit `strength` still wins."""
    from model.checkpoint import load_vcn, resave_vcn

    model = load_vcn(faces_weights)
    per_name = {name: (2.0 if name in ("Smiling", "Eyeglasses") else 1.0) for name in model.cfg.capsule_names}
    model.cfg = dataclasses.replace(model.cfg, attribute_strength=tuple(per_name.values()))
    resave_vcn(tmp_path / "calibrated.safetensors", model)
    with TestClient(make_app(tmp_path / "calibrated.safetensors")) as calibrated, \
            TestClient(make_app(faces_weights)) as plain_model:
        assert calibrated.get("/api/attributes").json()["attribute_strength"] == per_name

        def edit(c: TestClient, **extra: str) -> bytes:
            data = {"set": json.dumps({"Smiling": False, "Eyeglasses": True}), "seed": "1", **extra}
            response = c.post("/api/edit", files=files(), data=data)
            assert response.status_code == 200
            return response.content

        assert edit(calibrated) != edit(calibrated, strength="1")
        assert edit(calibrated) == edit(plain_model, strength="2")
        assert edit(calibrated, strength="1") == edit(plain_model)


def test_style_strength_of_resamples_is_listed_overridable_and_bounded(make_app, faces_weights, tmp_path):
    """A model with a calibrated style strength (vcn calibrate-styles): /api/attributes lists it, resamples
    without `style_strength` use it, an explicit one wins, and out-of-range values are a 422."""
    from model.checkpoint import load_vcn, resave_vcn

    model = load_vcn(faces_weights)
    model.cfg = dataclasses.replace(model.cfg, style_strength=2.5)
    resave_vcn(tmp_path / "styled.safetensors", model)
    with TestClient(make_app(tmp_path / "styled.safetensors")) as styled, \
            TestClient(make_app(faces_weights)) as plain_model:
        assert styled.get("/api/attributes").json()["style_strength"] == 2.5

        def resample(c: TestClient, **extra: str) -> list[str]:
            data = {"attribute": "Eyeglasses", "n": "2", "seed": "3", **extra}
            response = c.post("/api/resample", files=files(), data=data)
            assert response.status_code == 200, response.text
            return response.json()["images"]

        assert resample(styled) == resample(plain_model, style_strength="2.5")
        assert resample(styled, style_strength="1") == resample(plain_model)
        assert resample(styled) != resample(styled, style_strength="1")
        edit = styled.post("/api/edit", files=files(), data={"set": "{}", "resample": '["Eyeglasses"]',
                                                              "style_strength": "1"})
        assert edit.status_code == 200
        for bad in ("0", "-1", "4.5", "much"):
            r = styled.post("/api/resample", files=files(), data={"attribute": "Eyeglasses", "style_strength": bad})
            assert r.status_code == 422, bad


def test_verified_edits_are_listed_and_an_explicit_strength_skips_them(make_app, faces_weights, tmp_path):
    """A model with an embedded verifier (vcn verify): /api/attributes lists the ladder, /api/edit without
    `strength` returns one of the ladder's edits (or the default one), and an explicit strength is not verified."""
    from model.checkpoint import load_vcn, resave_vcn
    from model.oracle import Oracle, OracleConfig
    from model.verify import with_verifier

    model = load_vcn(faces_weights)
    reader = Oracle(OracleConfig(image_size=model.cfg.image_size, attribute_names=model.cfg.capsule_names,
                                 nuisance_names=("hue",), width=2, feature_dim=8))
    resave_vcn(tmp_path / "verified.safetensors", with_verifier(model, reader, (1.0, 1.5), 0.99))
    with TestClient(make_app(tmp_path / "verified.safetensors")) as verified, \
            TestClient(make_app(faces_weights)) as plain_model:
        info = verified.get("/api/attributes").json()
        assert info["verify_strengths"] == [1.0, 1.5] and info["verify_confidence"] == 0.99

        def edit(c: TestClient, **extra: str) -> bytes:
            response = c.post("/api/edit", files=files(), data={"set": '{"Eyeglasses": true}', "seed": "2", **extra})
            assert response.status_code == 200, response.text
            return response.content

        assert edit(verified) in {edit(plain_model, strength="1"), edit(plain_model, strength="1.5"), edit(plain_model)}
        assert edit(verified, strength="2") == edit(plain_model, strength="2")

        # how sure the reader is comes back in headers, for verified edits only
        form = {"set": '{"Eyeglasses": true}', "seed": "2"}
        headers = verified.post("/api/edit", files=files(), data=form).headers
        sure = float(headers["x-edit-confidence"])
        assert 0.0 <= sure <= 1.0 and headers["x-edit-verified"] == str(sure >= 0.99).lower()
        for c, extra in ((verified, {"strength": "2"}), (verified, {"set": "{}", "resample": '["Bangs"]'}),
                         (plain_model, {})):
            response = c.post("/api/edit", files=files(), data={**form, **extra})
            assert response.status_code == 200 and "x-edit-confidence" not in response.headers, extra

        # a swap that changes a state is an edit to the donor's states: verified alike, with the same headers; one
        # that only takes a style (both faces in the same state) is a restyle, not verified
        def states(image: bytes) -> dict[str, bool]:
            rows = verified.post("/api/predict", files={"image": ("x.png", image, "image/png")}).json()["attributes"]
            return {row["name"]: row["present"] for row in rows}

        mine, donor = states(IMAGE), states(png(seed=5))
        differ = [name for name in mine if mine[name] != donor[name]]
        same = [name for name in mine if mine[name] == donor[name]]
        assert differ and same, (mine, donor)
        for names, checked in (([differ[0]], True), ([same[0]], False)):
            swap = {"attributes": json.dumps(names)}
            swapped = verified.post("/api/swap", files=files(image_b=png(seed=5)), data=swap)
            assert swapped.status_code == 200 and ("x-edit-confidence" in swapped.headers) is checked, names
            if checked:
                sure = float(swapped.headers["x-edit-confidence"])
                assert 0.0 <= sure <= 1.0 and swapped.headers["x-edit-verified"] == str(sure >= 0.99).lower()
            unverified = plain_model.post("/api/swap", files=files(image_b=png(seed=5)), data=swap)
            assert unverified.status_code == 200 and "x-edit-confidence" not in unverified.headers
