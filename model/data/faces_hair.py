"""Hair of the procedural faces: silhouettes, hairlines, fringes and texture marks.

Hair geometry depends only on a handful of discrete choices (Male, texture and its style, Receding_Hairline,
bangs cut), so each shape is built once and cached; drawing a face then only transforms and fills it.
Texture reads in three places: the silhouette edge (smooth / sine waves / scallops), strand lines (straight
/ wavy) or curl rings, on the back hair, the scalp and the fringe.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from model.data.faces_draw import Colour, Pen, arc, displace, mirror, mix, resample, shade

SCALP = (32.0, 26.0, 13.4, 16.5)     # centre x, centre y, rx, ry of the head's upper ellipse
_HAIRLINE = np.array([[18.0, 26], [19.6, 20], [22.5, 16.8], [27, 15.3], [32, 15.0]])
_RECEDING = np.array([[18.0, 26], [19.2, 20.5], [20.6, 16.4], [22.3, 12.4], [25.4, 11.0], [28.6, 12.6],
                      [32, 15.4]])   # deep temple recessions and a widow's peak
_FRINGE_TOP = np.array([[19.0, 22.0], [20.0, 16.5], [24.0, 13.2], [32.0, 12.2], [40.0, 13.2], [44.0, 16.5],
                        [45.0, 22.0]])
WAVES = [(1.1, 7.0), (0.8, 3.8), (1.4, 8.0)]        # Wavy_Hair styles: (amplitude, period) on the silhouette


class HairShape(NamedTuple):
    """Face-unit geometry of one layer of hair."""

    fill: tuple[np.ndarray, ...]      # polygons in the hair colour
    strands: tuple[np.ndarray, ...]   # polylines in the strand colour
    curls: np.ndarray                 # (k, 2) centres of curl rings


def volume(male: bool, texture: str, style: int) -> float:
    """How far hair stands off the scalp (face units)."""
    return (3.0 if male else 3.6) + (1.5 if texture == "wavy" and style == 2 else 0.0)


def _textured(pts: np.ndarray, texture: str, style: int) -> np.ndarray:
    """A closed silhouette with the hair texture on its edge."""
    pts = resample(pts, 0.5)
    s = np.arange(len(pts)) * 0.5
    if texture == "straight":
        return pts
    if texture == "wavy":
        amp, period = WAVES[style]
        return displace(pts, amp * np.sin(2 * np.pi * s / period))
    return displace(pts, 1.3 * np.abs(np.sin(np.pi * s / 2.6)) - 0.4)        # curly: scalloped


def _marks(lines: list[np.ndarray], texture: str, style: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Strand polylines (straight, or sine-displaced for wavy) or curl centres along `lines`."""
    if texture == "curly":
        return (), np.vstack([resample(line, 2.4, closed=False) for line in lines])
    out = []
    for line in lines:
        if texture == "wavy":
            amp, period = WAVES[style][0], WAVES[style][1] * .85
            line = resample(line, 0.6, closed=False)
            d = line[-1] - line[0]
            normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
            line = line + normal * (amp * np.sin(2 * np.pi * np.arange(len(line)) * .6 / period))[:, None]
        out.append(line)
    return tuple(out), np.zeros((0, 2))


@lru_cache(maxsize=64)
def back_hair(male: bool, texture: str, style: int) -> HairShape:
    """Hair behind the head: a short crop for men, shoulder-length for women."""
    cx, cy, rx, ry = SCALP
    vol = volume(male, texture, style)
    r = rx + vol
    top = arc(cx, cy, r, ry + vol, 180, 360, 40)
    if male:
        pts = np.vstack([top, [[cx + r - 1, 30.5], [cx - r + 1, 30.5]]])
        columns = [(r - 1.3, 14.0, 27.0)]
    else:
        pts = np.vstack([top, [[cx + r + .6, 55.5], [cx - r - .6, 55.5]]])
        columns = [(r - 1.2, 27.0, 54.0), (r - 3.0, 27.0, 54.0)]
    lines = [np.array([[cx + side * dx, y0], [cx + side * dx, y1]]) for dx, y0, y1 in columns for side in (-1, 1)]
    strands, curls = _marks(lines, texture, style)
    return HairShape((_textured(pts, texture, style),), strands, curls)


def _fringe_edge(cut: int) -> np.ndarray:
    """Lower edge of the fringe, left to right. Every cut stops above the brows."""
    if cut == 0:    # blunt
        return np.array([[19.4, 20.4], [26, 20.2], [32, 20.2], [38, 20.2], [44.6, 20.4]])
    if cut == 1:    # side-swept
        return np.array([[19.4, 20.6], [26, 19.4], [32, 18.0], [38, 16.6], [44.6, 15.4]])
    if cut == 2:    # curtain: parted in the middle
        return np.array([[19.4, 21.0], [25, 19.4], [29.5, 16.8], [32, 15.0], [34.5, 16.8], [39, 19.4],
                         [44.6, 21.0]])
    xs = np.linspace(19.4, 44.6, 13)                # choppy: zigzag
    return np.stack([xs, np.where(np.arange(13) % 2 == 0, 20.4, 16.8)], axis=1)


@lru_cache(maxsize=256)
def front_hair(male: bool, texture: str, style: int, receding: bool, bangs: int) -> HairShape:
    """Hair over the scalp down to the hairline, and the fringe (bangs = cut id, or -1 for none)."""
    cx, cy, rx, ry = SCALP
    vol = volume(male, texture, style)
    top = arc(cx, cy, rx + vol * .8, ry + vol, 180, 360, 40)
    left = _RECEDING if receding else _HAIRLINE
    hairline = np.vstack([left, mirror(left[::-1])[1:]])
    fill = [_textured(np.vstack([top, hairline[::-1]]), texture, style)]
    lines = [arc(cx, cy, rx + vol * .8 - k, ry + vol - k, 215, 325, 20) for k in (1.8, 3.6)]
    if bangs >= 0:
        edge = _fringe_edge(bangs)
        fill.append(np.vstack([_FRINGE_TOP, edge[::-1]]))
        lines += [np.array([[x + .6 * (x - 32) / 12, 13.5], [x, y - .6]])
                  for x, y in resample(edge, 2.6, closed=False)[1:-1]]
    strands, curls = _marks(lines, texture, style)
    return HairShape(tuple(fill), strands, curls)


def draw(pen: Pen, shape: HairShape, hair: Colour, strand: Colour, straight: bool) -> None:
    """Fill the hair; straight strands are drawn as light shine lines, waves and curls in the dark strand
    colour, so the texture reads even in the narrow strip a hat leaves visible."""
    for polygon in shape.fill:
        pen.fill(polygon, hair)
    for line in shape.strands:
        pen.stroke(line, mix(hair, (255, 255, 255), .4) if straight else strand, .5)
    for x, y in shape.curls:
        pen.circle(x, y, .8, outline=strand, width=.45)


def parting(pen: Pen, part: int, hair: Colour, vol: float) -> None:
    """Straight_Hair styles: 0 centre parting, 1 side parting, 2 sleek with a shine band."""
    cx, cy, rx, ry = SCALP
    if part < 2:
        x = cx if part == 0 else 27.0
        pen.stroke([[x, cy - ry - vol + 1], [x + .4, 15.2]], shade(hair, .55), .7)
    else:
        pen.stroke(arc(cx, cy, rx - 1.9, ry - 2.0, 220, 320, 16), mix(hair, (255, 255, 255), .35), 1.0)
