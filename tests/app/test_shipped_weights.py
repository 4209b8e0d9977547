"""The service on the shipped weights (weights/faces.safetensors), when the file is present."""

from __future__ import annotations

import io
import json

from app_inputs import png
from fastapi.testclient import TestClient
from PIL import Image


def test_shipped_model_serves(shipped_client: TestClient) -> None:
    info = shipped_client.get("/api/attributes").json()
    assert info["attributes"] and info["image_size"] >= 28
    face = shipped_client.get("/api/random-face", params={"seed": 1})
    assert face.status_code == 200
    image = {"image": ("face.png", face.content, "image/png")}
    predicted = shipped_client.post("/api/predict", files=image).json()["attributes"]
    assert [row["name"] for row in predicted] == info["attributes"]
    recon = shipped_client.post("/api/reconstruct", files=image)
    assert Image.open(io.BytesIO(recon.content)).size == (info["image_size"],) * 2
    name = info["attributes"][0]
    flags = json.dumps({name: not predicted[0]["present"]})
    edited = shipped_client.post("/api/edit", files=image, data={"set": flags, "seed": "1"})
    assert edited.status_code == 200 and edited.content != recon.content
    again = shipped_client.post("/api/edit", files=image, data={"set": flags, "seed": "1"})
    assert again.content == edited.content
    # new Bangs cuts, pasted onto the upload with the file's paste regions (the server's default for this file)
    cuts = shipped_client.post("/api/resample", files=image, data={"attribute": "Bangs", "n": "4", "seed": "2"})
    assert cuts.status_code == 200 and len(set(cuts.json()["images"])) == 4, cuts.text[:200]
    plain = shipped_client.post("/api/resample", files=image,
                                data={"attribute": "Bangs", "n": "4", "seed": "2", "paste": "false"})
    assert plain.status_code == 200 and plain.json()["images"] != cuts.json()["images"]
    photo = {"image": ("x.png", png((300, 200)), "image/png")}
    assert shipped_client.post("/api/predict", files=photo).status_code == 200
    # new faces, each the best of the file's 4 verified draws: as many as asked, all different, the same for a seed
    asked = {"attributes": json.dumps({"Eyeglasses": True}), "n": "3", "seed": "3"}
    new = shipped_client.post("/api/sample", data=asked)
    assert new.status_code == 200 and len(set(new.json()["images"])) == 3, new.text[:200]
    assert shipped_client.post("/api/sample", data=asked).json()["images"] == new.json()["images"]
