"""Decoding details that the HTTP tests cannot see: orientation, frames, colour handling, framing."""

from __future__ import annotations

import io

import app_inputs as inputs
import numpy as np
import pytest
import torch
from PIL import Image

from app import imaging
from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

LIMIT = 40_000_000
needs_face_detector = pytest.mark.skipif(
    not imaging.face_detection_available(), reason="this OpenCV build has no Haar cascades"
)


def decode(data: bytes, mode: str = "RGB") -> np.ndarray:
    return np.asarray(imaging.decode(data, max_pixels=LIMIT, mode=mode)).astype(int)


def test_exif_rotation_comes_out_upright() -> None:
    img = imaging.decode(inputs.exif_rotated_jpeg(), max_pixels=LIMIT)
    assert img.size == (40, 80)  # stored landscape, displayed portrait
    arr = np.asarray(img).astype(int)
    top, bottom = arr[5, 20], arr[75, 20]
    assert top[0] > 200 and top[2] < 60, top  # red on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # blue below


def test_animated_gif_gives_the_first_frame() -> None:
    arr = decode(inputs.animated_gif())
    assert (arr[..., 0] > 200).all() and (arr[..., 2] < 60).all()


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    assert abs(decode(inputs.png16_rgb(value=40000)).mean() - 40000 / 257) < 1.5
    assert abs(decode(inputs.png16_grey(value=50000), "L").mean() - 50000 / 257) < 1.5


def test_transparency_is_flattened_onto_white() -> None:
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert (decode(inputs.encode(img)) == 255).all()
    palette = decode(inputs.palette_alpha_png())
    assert palette.shape == (48, 48, 3)


def test_cmyk_and_grey_become_rgb_or_l() -> None:
    assert decode(inputs.cmyk_jpeg()).shape == (64, 64, 3)
    assert decode(inputs.grey_png()).shape == (64, 64, 3)
    assert decode(inputs.png(), "L").shape == (64, 64)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidInput),
        (inputs.SVG, UnsupportedMediaType),
        (inputs.TEXT, UnsupportedMediaType),
        (b"\x00\x00\x01\x00" + b"\x00" * 40, UnsupportedMediaType),  # .ico
        (inputs.bomb_png(20000), PayloadTooLarge),
        (inputs.truncated(inputs.png((128, 128))), InvalidInput),
    ],
)
def test_decode_errors(data: bytes, error: type) -> None:
    with pytest.raises(error):
        imaging.decode(data, max_pixels=LIMIT)


def test_sniff_recognises_accepted_formats() -> None:
    assert imaging.sniff(inputs.png()) == "PNG"
    assert imaging.sniff(inputs.jpeg()) == "JPEG"
    assert imaging.sniff(inputs.animated_gif()) == "GIF"
    assert imaging.sniff(inputs.webp()) == "WEBP"


def test_prepare_shape_and_range() -> None:
    policy = imaging.ImagePolicy(size=64, channels=3, max_upload_bytes=10**7, max_pixels=LIMIT)
    prepared = imaging.prepare(inputs.png((200, 100)), policy)
    assert prepared.tensor.shape == (1, 3, 64, 64) and prepared.tensor.dtype == torch.float32
    assert 0.0 <= float(prepared.tensor.min()) and float(prepared.tensor.max()) <= 1.0
    assert prepared.face_found is None  # 100 px is not over twice 64


def test_one_channel_models_get_light_ink_on_black() -> None:
    """Dark digit on white paper is inverted to the MNIST convention."""
    arr = np.full((28, 28), 255, dtype=np.uint8)
    arr[8:20, 12:16] = 0
    policy = imaging.ImagePolicy(size=28, channels=1, max_upload_bytes=10**6, max_pixels=LIMIT)
    x = imaging.prepare(inputs.encode(Image.fromarray(arr, "L")), policy).tensor
    assert x.shape == (1, 1, 28, 28)
    assert float(x[0, 0, 0, 0]) < 0.1 and float(x[0, 0, 14, 14]) > 0.9


def test_face_crop_policy() -> None:
    auto = imaging.ImagePolicy(size=64, channels=3, max_upload_bytes=1, max_pixels=1, face_crop="auto")
    assert not imaging.wants_face_crop(auto, 128, 500)
    assert imaging.wants_face_crop(auto, 129, 500)
    on = imaging.ImagePolicy(size=64, channels=3, max_upload_bytes=1, max_pixels=1, face_crop="on")
    assert imaging.wants_face_crop(on, 10, 10)


def test_face_box_frames_and_stays_inside() -> None:
    left, top, right, bottom = imaging.face_box((100, 100, 100, 100), 1000, 1000)
    assert right - left == bottom - top == 150
    assert left < 100 and right > 200 and top < 100 and bottom > 200  # whole face with a margin
    assert (top + bottom) / 2 < 150  # lifted: more forehead than neck, like CelebA's aligned crops
    assert imaging.face_box((0, 0, 300, 300), 320, 240) == (30, 0, 270, 240)  # clipped to fit


@needs_face_detector
def test_no_face_in_noise() -> None:
    assert imaging.find_face(inputs.noise((300, 300))) is None


def test_png_round_trip_is_exact() -> None:
    x = torch.rand(3, 16, 16)
    png = imaging.to_png(x)
    back = torch.from_numpy(np.array(Image.open(io.BytesIO(png)))).permute(2, 0, 1) / 255
    assert torch.allclose(back, x, atol=0.5 / 255 + 1e-6)
    assert imaging.to_png(x) == png
    assert imaging.to_png(torch.full((1, 4, 4), float("nan"))).startswith(b"\x89PNG")


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return w * h / (area - w * h)


@needs_face_detector
def test_face_crop_frames_a_face_in_a_photo() -> None:
    """Rendered faces pasted into a larger 'photo': where the detector finds one, the crop frames it
    about as the training images are framed, and ``prepare`` reports it."""
    faces = pytest.importorskip("model.data.faces")
    policy = imaging.ImagePolicy(size=64, channels=3, max_upload_bytes=10**7, max_pixels=LIMIT)
    found = 0
    for seed in range(12):
        canvas = Image.new("RGB", (800, 600), (200, 210, 220))
        canvas.paste(Image.fromarray(faces.render(faces.sample_faces(seed, 0, 1), 256)[0]), (300, 150))
        face = imaging.find_face(canvas)
        if face is None:
            continue
        found += 1
        assert _iou(imaging.face_box(face, 800, 600), (300, 150, 556, 406)) > 0.5
        assert imaging.prepare(inputs.encode(canvas), policy).face_found is True
    assert found >= 1, "the detector found none of the rendered faces"
