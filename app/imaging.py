"""Bytes to model tensors and back: every decoding, validation and encoding step of the service.

Uploads are untrusted. The pipeline is: bounded read -> content sniffing (the bytes decide the type,
never the client's header) -> header-only open with a pixel limit (decompression bombs) -> decode of the
first frame -> EXIF orientation -> colour conversion to RGB (or L for one-channel models) -> optional face
crop -> square crop and resize to the model's size -> float tensor in [0, 1].
"""

from __future__ import annotations

import base64
import io
import logging
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from fastapi import UploadFile
from PIL import Image, ImageOps

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

#: Raster formats we decode, keyed by Pillow format name. Pillow is never asked to guess among its other
#: plugins (some of which hand data to external programs, e.g. EPS to Ghostscript).
ACCEPTED = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
ACCEPTED_TEXT = "PNG, JPEG, GIF, WebP, BMP or TIFF"

#: Face framing, in units of the detector's box width ``w``: the crop is a square of side
#: ``FACE_SCALE * w`` whose centre sits ``FACE_LIFT * w`` above the box centre. This matches CelebA's
#: aligned crops (eyes a little above the middle, forehead to chin in frame, some hair and background).
FACE_SCALE = 1.5
FACE_LIFT = 0.1
#: Detection runs on a copy at most this many pixels on its longer side (speed; faces stay findable).
DETECT_MAX_SIDE = 640

log = logging.getLogger("app")

FaceCrop = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class ImagePolicy:
    """What the model expects and what the operator allows."""

    size: int
    channels: int
    max_upload_bytes: int
    max_pixels: int
    face_crop: FaceCrop = "auto"


@dataclass(frozen=True)
class Prepared:
    """A model-ready image: ``tensor`` is (1, C, H, W) float32 in [0, 1] on the CPU.

    ``face_found`` is None when no face crop was attempted (not wanted, or no detector in this OpenCV),
    else whether the detector found a face.
    """

    tensor: torch.Tensor
    face_found: bool | None


# --------------------------------------------------------------------------------------------- reading
async def read_upload(upload: UploadFile, limit: int, field: str = "image") -> bytes:
    """Read at most ``limit`` bytes of an upload; one byte more means it is too large (413)."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{field}: file larger than the {limit} byte limit")
    return data


def sniff(data: bytes) -> str:
    """Return the Pillow format name of ``data`` judged by its leading bytes, or raise 415/422."""
    head = data[:64]
    if not head:
        raise InvalidInput("empty file: expected an image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(data) >= 26:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    kind = _describe_other(head)
    if kind is not None:
        raise UnsupportedMediaType(f"unsupported file type ({kind}); send a {ACCEPTED_TEXT} image")
    raise InvalidInput(f"not an image: unrecognised content; send a {ACCEPTED_TEXT} image")


def _describe_other(head: bytes) -> str | None:
    """Name a recognisable non-accepted type (for the 415 message), or None for unknown bytes."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"%PDF"):
        return "PDF"
    if stripped[:1] == b"<":
        low = stripped.lower()
        if b"<svg" in low or low.startswith(b"<?xml"):
            return "SVG/XML"
        return "HTML/XML"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypavif", b"ftypmif1", b"ftypmsf1"):
        return "HEIC/AVIF"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf")):
        return "archive"
    if head.startswith((b"\x00\x00\x01\x00", b"8BPS", b"qoif")):
        return "unsupported image format"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return "text" if printable >= 0.95 * len(text) else None


# -------------------------------------------------------------------------------------------- decoding
def decode(data: bytes, *, max_pixels: int, mode: Literal["RGB", "L"] = "RGB") -> Image.Image:
    """Decode the first frame of an accepted image, upright, flattened onto white, in ``mode``."""
    fmt = sniff(data)
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image has too many pixels (limit {max_pixels})") from exc
    except Exception as exc:  # any parser failure on client bytes is the client's problem
        raise InvalidInput(f"could not read the {fmt} image: it is corrupt or truncated") from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise InvalidInput("image has no pixels")
    if width * height > max_pixels:
        raise PayloadTooLarge(f"image is {width}x{height} pixels; the limit is {max_pixels} pixels")
    try:
        img.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame
        img.load()
        img = ImageOps.exif_transpose(img) or img
    except Exception as exc:
        raise InvalidInput(f"could not decode the {fmt} image: it is corrupt or truncated") from exc
    return _to_mode(img, mode)


def _to_mode(img: Image.Image, mode: Literal["RGB", "L"]) -> Image.Image:
    """Convert any Pillow mode (palette, alpha, grey, 16-bit, CMYK, YCbCr, ...) to 8-bit ``mode``."""
    if img.mode.startswith("I") or img.mode == "F":
        img = _high_depth_to_l(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    try:
        return img.convert(mode)
    except ValueError as exc:
        raise UnsupportedMediaType(f"unsupported colour mode {img.mode}") from exc


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """16-bit / 32-bit integer or float grey -> 8-bit L, scaling rather than clipping."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = 1.0 if np.nanmax(arr, initial=0.0) <= 1.0 else 255.0
        arr = arr / top * 255.0
    elif img.mode.startswith("I;16") or np.nanmax(arr, initial=0.0) > 255:
        arr = arr / 257.0
    arr = np.nan_to_num(arr, nan=0.0)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")


# ------------------------------------------------------------------------------------------- framing
@lru_cache(maxsize=1)
def _cascade() -> Any:
    """OpenCV's shipped frontal-face Haar cascade, or None (logged once) where this OpenCV lacks it."""
    try:
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(path)
    except (ImportError, AttributeError) as exc:
        log.warning("face detection unavailable (%s): images are centre-cropped", exc)
        return None
    if cascade.empty():
        log.warning("face cascade %s missing: images are centre-cropped", path)
        return None
    return cascade


def face_detection_available() -> bool:
    """Whether ``find_face`` can run here."""
    return _cascade() is not None


def find_face(img: Image.Image) -> tuple[int, int, int, int] | None:
    """Largest frontal face as (x, y, w, h) in ``img`` pixels, or None (also when detection is unavailable)."""
    if not face_detection_available():
        return None
    import cv2

    grey = img.convert("L")
    scale = min(1.0, DETECT_MAX_SIDE / max(grey.size))
    if scale < 1.0:
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.Resampling.BOX)
    arr = cv2.equalizeHist(np.asarray(grey, dtype=np.uint8))
    min_side = max(20, min(arr.shape) // 8)
    faces = _cascade().detectMultiScale(arr, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return tuple(round(int(v) / scale) for v in (x, y, w, h))  # type: ignore[return-value]


def face_box(face: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """The square crop (left, top, right, bottom) framing ``face`` like CelebA, kept inside the image."""
    x, y, w, h = face
    side = min(round(FACE_SCALE * w), width, height)
    cx = x + w / 2
    cy = y + h / 2 - FACE_LIFT * w
    left = int(min(max(round(cx - side / 2), 0), width - side))
    top = int(min(max(round(cy - side / 2), 0), height - side))
    return left, top, left + side, top + side


def center_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square (left, top, right, bottom)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def wants_face_crop(policy: ImagePolicy, width: int, height: int) -> bool:
    """'on' always, 'off' never, 'auto' for photo-sized inputs (shorter side over twice the model size)."""
    if policy.face_crop == "auto":
        return min(width, height) > 2 * policy.size
    return policy.face_crop == "on"


# ----------------------------------------------------------------------------------------- to tensor
def prepare(data: bytes, policy: ImagePolicy) -> Prepared:
    """Validate and decode upload bytes into a model-ready (1, C, H, W) tensor (blocking: use a thread)."""
    if len(data) > policy.max_upload_bytes:
        raise PayloadTooLarge(f"file larger than the {policy.max_upload_bytes} byte limit")
    img = decode(data, max_pixels=policy.max_pixels, mode="L" if policy.channels == 1 else "RGB")
    face_found: bool | None = None
    box = center_box(img.width, img.height)
    if wants_face_crop(policy, img.width, img.height) and face_detection_available():
        face = find_face(img)
        face_found = face is not None
        if face is not None:
            box = face_box(face, img.width, img.height)
    img = img.resize((policy.size, policy.size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    if policy.channels == 1:
        img = _dark_background(img)
    return Prepared(tensor=pil_to_tensor(img), face_found=face_found)


def _dark_background(img: Image.Image) -> Image.Image:
    """Digit models learnt light strokes on black: invert ink-on-paper scans (bright border)."""
    arr = np.asarray(img, dtype=np.uint8)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return ImageOps.invert(img) if border.mean() > 127 else img


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """8-bit L/RGB image -> (1, C, H, W) float32 in [0, 1]."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) or (N, H, W) uint8 array -> (N, C, H, W) float32 in [0, 1]."""
    if arr.ndim == 3:
        arr = arr[..., None]
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(255.0)


# ---------------------------------------------------------------------------------------- to PNG
def to_png(image: torch.Tensor) -> bytes:
    """(C, H, W) or (1, C, H, W) float in [0, 1] -> PNG bytes (deterministic for equal pixels)."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError(f"to_png wants one image, got a batch of {image.shape[0]}")
        image = image[0]
    pixels = torch.nan_to_num(image.detach().float().cpu(), nan=0.0).clamp_(0.0, 1.0)
    arr = pixels.mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")
    buf = io.BytesIO()
    # zlib's run-length strategy after PNG's row filters: half the time of the default strategy on model
    # outputs, and no larger (64x64 edit: 0.29 against 0.61 ms, 7458 against 7511 bytes; BENCHMARKS.md 2c).
    img.save(buf, format="PNG", compress_level=6, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def to_pngs(images: torch.Tensor) -> list[bytes]:
    """(B, C, H, W) -> one PNG per image."""
    return [to_png(img) for img in images]


def data_url(png: bytes) -> str:
    """PNG bytes -> ``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
