"""Inputs for the service tests, built here, never stored: image bytes (well-formed, odd-but-valid and
hostile) and small random checkpoints."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    """A Pillow image as file bytes."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def noise(size: tuple[int, int] = (64, 64), seed: int = 0) -> Image.Image:
    """Smooth-ish random RGB content (width, height)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BILINEAR)


def png(size: tuple[int, int] = (64, 64), seed: int = 0) -> bytes:
    """A plain RGB PNG."""
    return encode(noise(size, seed))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None = None) -> bytes:
    """A PNG written by hand (any header, e.g. 16-bit RGB or a 20000x20000 bomb with a tiny body)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = zlib.compress(rows if rows is not None else b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def png16_rgb(size: int = 32, value: int = 40000) -> bytes:
    """16-bit-per-channel RGB PNG, every pixel (value, value, value)."""
    row = b"\x00" + struct.pack(">" + "H" * 3 * size, *([value] * 3 * size))
    return raw_png(size, size, 16, 2, row * size)


def png16_grey(size: int = 32, value: int = 50000) -> bytes:
    """16-bit greyscale PNG (Pillow mode I;16)."""
    return encode(Image.fromarray(np.full((size, size), value, dtype=np.uint16)))


def bomb_png(side: int = 20000) -> bytes:
    """A few hundred bytes that claim side x side pixels."""
    return raw_png(side, side, 8, 2)


def palette_alpha_png() -> bytes:
    """Palette image with a transparent index."""
    img = noise((48, 48)).quantize(16)
    return encode(img, transparency=0)


def rgba_png() -> bytes:
    """RGBA with a half-transparent left half."""
    img = noise((64, 64)).convert("RGBA")
    alpha = np.full((64, 64), 255, dtype=np.uint8)
    alpha[:, :32] = 100
    img.putalpha(Image.fromarray(alpha, "L"))
    return encode(img)


def grey_png() -> bytes:
    return encode(noise((64, 64)).convert("L"))


def cmyk_jpeg() -> bytes:
    return encode(noise((64, 64)).convert("CMYK"), "JPEG", quality=90)


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    return encode(noise(size), "JPEG", quality=90)


def exif_rotated_jpeg() -> bytes:
    """Stored 80 wide x 40 high, left half red / right half blue, EXIF orientation 6 (rotate 90 CW):
    upright it is 40 wide x 80 high with red on top."""
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, :40] = (255, 0, 0)
    arr[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(arr, "RGB"), "JPEG", quality=95, exif=exif.tobytes())


def animated_gif() -> bytes:
    """Two frames: red, then blue."""
    red = Image.new("RGB", (32, 32), (255, 0, 0))
    blue = Image.new("RGB", (32, 32), (0, 0, 255))
    return encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)


def webp() -> bytes:
    return encode(noise((64, 64)), "WEBP", quality=90)


def truncated(data: bytes) -> bytes:
    """The first half of a file."""
    return data[: len(data) // 2]


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect/></svg>'
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TEXT = b"just some text, certainly not an image\n"


def write_random_checkpoint(path: Path, preset: str) -> Path:
    """A randomly initialised VCN of ``preset`` (BatchNorm statistics calibrated) saved with ``save_vcn``."""
    from model.checkpoint import save_vcn
    from model.config import PRESETS
    from model.vcn import VCN

    torch.manual_seed(0)
    cfg = PRESETS[preset][0]
    if cfg.dataset == "faces":  # as training stores them: the pairs the faces never show together
        from model.data.faces_attributes import EXCLUSIVE

        cfg = dataclasses.replace(cfg, exclusive=EXCLUSIVE)
    model = VCN(cfg).train()
    # Fresh BatchNorm statistics (mean 0, var 1) squash a random net's output to flat grey; a few
    # passes in train mode give it real statistics, so outputs depend on inputs and seeds as they should.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, cfg.channels, cfg.image_size, cfg.image_size))
    save_vcn(path, model.eval(), metrics={})
    return path
