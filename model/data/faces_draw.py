"""Drawing primitives for the face renderer: a pose-aware pen, shape generators and colour helpers.

Every coordinate in the renderer is in "face units": pixels of a 64x64 image of an upright face. The Pen
maps them through the face's pose (shift, scale, rotation) onto a supersampled canvas, so the drawing code
never thinks about image size or pose.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

FRAME = 64.0                       # face units across the image
PIVOT = np.array([32.0, 34.0])     # pose rotates and scales about this point (mid-face)

Colour = tuple[int, ...]           # RGB or RGBA, 0..255


class Pen:
    """Draws shapes given in face units onto `image` after applying the pose.

    shift: (2,) face units; scale: 1 = as designed; angle: degrees, positive = clockwise on screen."""

    def __init__(self, image: Image.Image, shift: np.ndarray, scale: float, angle: float):
        self.draw = ImageDraw.Draw(image, "RGBA")   # RGBA fills blend onto the RGB canvas
        self.unit = image.width / FRAME
        a = math.radians(angle)
        self.matrix = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        self.offset = PIVOT + np.asarray(shift, float)
        self.stroke_unit = self.unit * scale

    def xy(self, pts) -> list[float]:
        """(k, 2) face units -> flat [x0, y0, x1, y1, ...] canvas pixels."""
        p = np.asarray(pts, float).reshape(-1, 2)
        return (((p - PIVOT) @ self.matrix.T + self.offset) * self.unit).ravel().tolist()

    def fill(self, pts, colour: Colour) -> None:
        self.draw.polygon(self.xy(pts), fill=colour)

    def stroke(self, pts, colour: Colour, width: float) -> None:
        """Polyline of `width` face units (rounded joints)."""
        self.draw.line(self.xy(pts), fill=colour, width=max(1, round(width * self.stroke_unit)), joint="curve")

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: Colour, angle: float = 0.0) -> None:
        self.fill(ellipse(cx, cy, rx, ry, angle), colour)

    def circle(self, cx: float, cy: float, r: float, fill: Colour | None = None, outline: Colour | None = None,
               width: float = 0.0) -> None:
        """A disc and/or circle outline; circles need no rotation, so Pillow draws them directly (fast)."""
        x, y = self.xy([cx, cy])
        rr = r * self.stroke_unit
        self.draw.ellipse([x - rr, y - rr, x + rr, y + rr], fill=fill, outline=outline,
                          width=max(1, round(width * self.stroke_unit)) if outline else 0)


_CIRCLE = np.linspace(0, 2 * math.pi, 33)[:-1]


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> np.ndarray:
    """(32, 2) points of an ellipse rotated by `angle` degrees."""
    x, y = rx * np.cos(_CIRCLE), ry * np.sin(_CIRCLE)
    if angle:
        a = math.radians(angle)
        x, y = x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)
    return np.stack([cx + x, cy + y], axis=1)


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> np.ndarray:
    """(n, 2) points along an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down)."""
    t = np.radians(np.linspace(start, end, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def mirror(pts) -> np.ndarray:
    """Reflect face-unit points about the face's vertical midline x = 32."""
    p = np.array(pts, float).reshape(-1, 2)
    p[:, 0] = FRAME - p[:, 0]
    return p


def both(pts) -> tuple[np.ndarray, np.ndarray]:
    """The left-side shape and its mirror image."""
    p = np.asarray(pts, float).reshape(-1, 2)
    return p, mirror(p)


def resample(pts: np.ndarray, step: float, closed: bool = True) -> np.ndarray:
    """Points spaced about `step` apart along the polyline (closed: back to the start)."""
    p = np.vstack([pts, pts[:1]]) if closed else pts
    seg = np.hypot(*np.diff(p, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], max(4, int(s[-1] / step)), endpoint=not closed)
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)


def displace(pts: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Move each point of a closed polygon (k, 2) by offset (k,) along its outward normal."""
    tangent = np.roll(pts, -1, axis=0) - np.roll(pts, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
    area = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    return pts + np.sign(area) * normal * offset[:, None]


def arclength(pts: np.ndarray) -> np.ndarray:
    """(k,) distance along the polyline from its first point."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])


def shade(c: Colour, f: float | tuple[float, float, float]) -> Colour:
    """Scale an RGB colour (per channel if f is a triple), clipped to 0..255."""
    f3 = (f, f, f) if isinstance(f, (int, float)) else f
    return tuple(int(min(255, max(0, round(v * k)))) for v, k in zip(c[:3], f3, strict=True))


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """(1 - t) * a + t * b for RGB colours."""
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a[:3], b[:3], strict=True))


def alpha(c: Colour, a: int) -> Colour:
    return (*c[:3], a)


def hsv(h: float, s: float, v: float) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def lerp_palette(palette: list[Colour], t: float) -> Colour:
    """Colour at position t in [0, 1] along a piecewise-linear palette."""
    x = min(max(t, 0.0), 1.0) * (len(palette) - 1)
    i = min(int(x), len(palette) - 2)
    return mix(palette[i], palette[i + 1], x - i)
