"""Pillow rendering of one procedural face from its ground truth (attrs, styles, nuisance).

The face is drawn at SUPERSAMPLE x the output size and box-downsampled (anti-aliasing), then lighting and
Blurry are applied at the output size. Painter's order, back to front: background, Attractive halo, back
hair, body (+ necktie), head, skin marks, eyes, brows, nose, beards, mouth, front hair, hat, glasses,
jewellery. Where two attributes share a region they are laid out so both stay readable at 64x64 (the hat
sits above the hairline, bangs stop above the brows, bags sit below the eye, earrings hang below the lobe).
The attribute -> look table is docs/faces.md. Hair geometry is faces_hair.py; background, body and
accessories are faces_wear.py; the pen and shape helpers are faces_draw.py.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
from PIL import ImageFilter

from model.data import faces_hair as hair
from model.data import faces_wear as wear
from model.data.faces_attributes import INDEX, NUISANCE, STYLE_ATTRIBUTES
from model.data.faces_draw import Pen, alpha, arc, both, ellipse, lerp_palette, mirror, mix, resample, shade

SUPERSAMPLE = 4
BLUR_RADIUS = 0.8      # Gaussian sigma in pixels at 64x64, scaled with size

NORMAL_SKIN = [(236, 198, 168), (222, 174, 140), (196, 142, 106), (160, 110, 80), (122, 82, 60)]
PALE_SKIN = [(252, 240, 232), (244, 226, 216)]      # disjoint from NORMAL_SKIN: far less red over blue
HAIR_SHADES = {
    "Black_Hair": [(28, 24, 24), (44, 38, 42), (20, 22, 34)],
    "Brown_Hair": [(104, 64, 36), (124, 84, 50), (84, 52, 32)],
    "Blond_Hair": [(236, 210, 140), (222, 188, 108), (246, 228, 172)],
    "Gray_Hair": [(168, 168, 172), (140, 140, 146), (202, 202, 208)],
}
OTHER_HAIR = [(150, 55, 28), (180, 72, 36), (206, 102, 50)]   # auburn .. ginger: hair with no colour label
LIPSTICK = [(205, 20, 45), (236, 70, 160), (125, 25, 95), (246, 108, 52)]
EYESHADOW = [(150, 60, 195), (45, 110, 225), (196, 124, 48)]

# Left face contour (x = 32 - dx) from the top of the forehead to the chin, and how attributes reshape it.
_Y = np.array([13.6, 14.2, 15.9, 18.6, 22.0, 26.0, 30.0, 34.0, 38.0, 41.5, 44.5, 46.8, 48.1, 48.5])
_DX = np.array([0.0, 5.0, 9.0, 11.7, 13.0, 13.4, 13.3, 12.9, 12.1, 10.7, 8.6, 5.9, 3.0, 0.0])
_SHAPE = {  # attribute: (d dx, d y) per contour point
    "Male": ([0, 0, 0, 0, 0, .2, .4, .7, 1.3, 2.1, 2.8, 2.6, 1.5, 0], [0] * 11 + [.3, .4, .2]),
    "Chubby": ([0, .3, .6, 1, 1.4, 1.9, 2.5, 3, 3.2, 3.1, 2.7, 1.9, .9, 0], [0] * 11 + [.5, .6, .6]),
    "Oval_Face": ([0, -.3, -.5, -.6, -.7, -.8, -.9, -1.1, -1.4, -1.4, -1.2, -.9, -.4, 0],
                  [0, 0, 0, 0, 0, 0, .3, .9, 1.5, 2.1, 2.6, 3.0, 3.2, 3.2]),
    "High_Cheekbones": ([0, 0, 0, 0, .3, 1.0, 1.6, 1.2, 0, -.6, -.6, -.3, 0, 0], [0] * 14),
}
EYE_Y, EYE_DX = 28.6, 6.3


@cache
def _contour(shape_key: tuple[bool, ...]) -> np.ndarray:
    """Left face contour (k, 2) for the face-shape attributes that are present (in _SHAPE's order)."""
    dx, y = _DX.copy(), _Y.copy()
    for present, (ddx, dy) in zip(shape_key, _SHAPE.values(), strict=True):
        if present:
            dx += ddx
            y += dy
    return np.stack([32 - dx, y], axis=1)


@cache
def _outline(shape_key: tuple[bool, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Closed face polygon (left contour, then its mirror back up) and the jawline below the eyes."""
    contour = _contour(shape_key)
    outline = np.vstack([contour, mirror(contour[::-1])[1:-1]])
    jaw = outline[outline[:, 1] > 30]
    return outline, jaw[np.argsort(jaw[:, 0])]


class Face:
    """One face's ground truth plus everything derived from it that several parts need."""

    def __init__(self, attrs: np.ndarray, styles: np.ndarray, nuisance: np.ndarray):
        self.attrs, self.styles = attrs, styles
        self.nuisance = dict(zip(NUISANCE, (float(v) for v in nuisance), strict=True))
        nu = self.nuisance
        self.skin = lerp_palette(PALE_SKIN if self.has("Pale_Skin") else NORMAL_SKIN, nu["skin_tone"])
        self.hair_colour_attr = next((a for a in HAIR_SHADES if self.has(a)), None)
        if self.has("Bald"):
            self.hair = None
        elif self.hair_colour_attr:
            self.hair = HAIR_SHADES[self.hair_colour_attr][self.style(self.hair_colour_attr)]
        else:
            self.hair = lerp_palette(OTHER_HAIR, nu["hair_tone"])
        base = self.hair or (64, 46, 34)
        # Facial hair and brows are darker than scalp hair so light hair still reads on pale skin.
        self.facial_hair = shade(base, 0.62)
        self.brow = mix(shade(base, .5), (20, 15, 12), .4)      # dark enough to read on any skin
        light = sum(base) > 360
        self.strand = shade(base, 0.6) if light else mix(base, (255, 255, 255), 0.22)
        self.texture = "straight" if self.has("Straight_Hair") else "wavy" if self.has("Wavy_Hair") else "curly"
        self.shape_key = tuple(self.has(name) for name in _SHAPE)
        self.contour = _contour(self.shape_key)                  # left half, top to chin
        self.chin_y = float(self.contour[-1, 1])
        self.mouth_y = 41.6 + (0.9 if self.has("Oval_Face") else 0.0)
        self.ear_dx = 32 - self.contour_x(30.0) + 0.9

    def has(self, name: str) -> bool:
        return bool(self.attrs[INDEX[name]])

    def style(self, name: str) -> int:
        return int(self.styles[STYLE_ATTRIBUTES.index(name)])

    def contour_x(self, y: float) -> float:
        """x of the left face edge at height y."""
        return float(np.interp(y, self.contour[:, 1], self.contour[:, 0]))


def render_face(attrs: np.ndarray, styles: np.ndarray, nuisance: np.ndarray, size: int = 64) -> np.ndarray:
    """Render one face. attrs (40,), styles (S,), nuisance (N,) -> (size, size, 3) uint8."""
    face = Face(attrs, styles, nuisance)
    nu = face.nuisance
    canvas = wear.background(face, size * SUPERSAMPLE)
    pose = dict(shift=((nu["shift_x"] - .5) * 6, (nu["shift_y"] - .5) * 6),
                scale=1 + (nu["scale"] - .5) * .1, angle=(nu["rotation"] - .5) * 10)
    pen = Pen(canvas, **pose)
    if face.has("Attractive"):
        wear.halo(pen, face)
    back_hair(pen, face)
    wear.body(pen, face)
    head(pen, face)
    skin_marks(pen, face)
    eyes(pen, face)
    nose(pen, face)
    beard(pen, face)
    mouth(pen, face)
    front_hair(pen, face)
    wear.hat(pen, face)
    wear.glasses(pen, face)
    wear.jewellery(pen, face)
    image = canvas.reduce(SUPERSAMPLE)
    if face.has("Blurry"):
        image = image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS * size / 64))
    light = 1 + (nu["brightness"] - .5) * .2
    return np.clip(np.asarray(image, np.float32) * light, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- hair

def _hair_key(face: Face) -> tuple[bool, str, int]:
    style = face.style("Wavy_Hair") if face.texture == "wavy" else 0    # only wavy styles change the shape
    return face.has("Male"), face.texture, style


def back_hair(pen: Pen, face: Face) -> None:
    if face.hair is not None:
        hair.draw(pen, hair.back_hair(*_hair_key(face)), face.hair, face.strand, face.texture == "straight")


def front_hair(pen: Pen, face: Face) -> None:
    """Scalp hair, hairline (Receding_Hairline), fringe (Bangs) and partings (Straight_Hair styles)."""
    if face.hair is None:
        pen.ellipse(28.5, 13.5, 3.2, 1.5, (255, 255, 255, 90), angle=-15)     # bald shine
        return
    bangs = face.style("Bangs") if face.has("Bangs") else -1
    shape = hair.front_hair(*_hair_key(face), face.has("Receding_Hairline"), bangs)
    hair.draw(pen, shape, face.hair, face.strand, face.texture == "straight")
    if face.texture == "straight":
        hair.parting(pen, face.style("Straight_Hair"), face.hair, hair.volume(*_hair_key(face)))


# ---------------------------------------------------------------------------------------------- head

def head(pen: Pen, face: Face) -> None:
    """Ears, double chin, scalp and face, and a soft jawline."""
    for x in (32 - face.ear_dx, 32 + face.ear_dx):
        pen.ellipse(x, 30.5, 1.9, 3.4, shade(face.skin, .93))
        pen.ellipse(x, 30.3, 1.0, 2.2, shade(face.skin, .76))
    if face.has("Double_Chin"):
        rx = 9.0 + (1.5 if face.has("Chubby") else 0.0)      # a roll under the chin with a dark underside
        pen.stroke(arc(32, face.chin_y + .9, rx, 3.4, 10, 170, 16), shade(face.skin, .5), 1.3)
        pen.ellipse(32, face.chin_y + .6, rx, 3.4, shade(face.skin, .95))
        pen.fill(np.vstack([arc(32, face.chin_y + .6, rx, 3.4, 15, 165, 14),
                            arc(32, face.chin_y - .4, rx - 1.0, 3.0, 165, 15, 14)]), shade(face.skin, .72))
    pen.ellipse(32, 26, 13.4 + (.5 if face.has("Chubby") else 0), 16.5, face.skin)
    outline, jaw = _outline(face.shape_key)
    pen.fill(outline, face.skin)
    pen.stroke(jaw, shade(face.skin, .8), .45)
    if face.has("Double_Chin"):
        pen.stroke(arc(32, face.chin_y - 1.0, 6.6, 1.5, 10, 170, 12), shade(face.skin, .55), .85)


def skin_marks(pen: Pen, face: Face) -> None:
    """Everything painted on the skin: stubble, cheekbones, blush, age lines, eye bags."""
    s = face.skin
    if face.has("5_o_Clock_Shadow"):
        low = face.contour[face.contour[:, 1] >= 35.5]                     # left cheek to chin
        top = [[37, 37.4], [34.5, 38.0], [32, 38.1], [29.5, 38.0], [27, 37.4]]  # under the nose
        pen.fill(np.vstack([low, mirror(low[::-1]), top]), (40, 48, 64, 125))
    if face.has("High_Cheekbones"):
        for p in both(ellipse(21.3, 32.6, 1.9, 0.9, -35)):
            pen.fill(p, (255, 250, 236, 150))
        for p in both([[19.6, 33.6], [21.2, 35.8], [22.6, 37.8]]):
            pen.stroke(p, alpha(shade(s, .6), 220), 1.2)
    if face.has("Rosy_Cheeks"):
        for p in both(ellipse(25.3, 35.6, 2.3, 1.6)):
            pen.fill(p, (236, 42, 62, 150))
    if not face.has("Young"):
        line = alpha(shade(s, .55), 240)
        for y in (17.6, 19.1, 20.6):
            pen.stroke(arc(32, y + 3, 6.5, 3, 240, 300, 8), line, .6)
        for p in both([[28.6, 35.9], [26.8, 38.5], [25.9, 41.0], [25.4, 43.5]]):
            pen.stroke(p, line, .75)
        for dy in (-1.2, 0.0, 1.2):
            for p in both([[21.9, EYE_Y], [20.2, EYE_Y + dy * 1.1]]):
                pen.stroke(p, line, .5)
    if face.has("Bags_Under_Eyes"):
        outer, inner = arc(32 - EYE_DX, 30.8, 3.1, 3.0, 10, 170, 12), arc(32 - EYE_DX, 30.8, 2.6, 1.1, 170, 10, 12)
        for p in both(np.vstack([outer, inner])):
            pen.fill(p, alpha(shade(s, (.5, .4, .58)), 240))


# ---------------------------------------------------------------------------------------------- face

def eyes(pen: Pen, face: Face) -> None:
    """Eye shadow (Heavy_Makeup), eyes (Narrow_Eyes), lids, brows (Arched / Bushy)."""
    ry = .6 if face.has("Narrow_Eyes") else 1.9
    makeup = face.has("Heavy_Makeup")
    for side in (-1, 1):
        cx = 32 + side * EYE_DX
        if makeup:
            pen.ellipse(cx + side * .3, EYE_Y - 2.0, 3.7, 1.9, alpha(EYESHADOW[face.style("Heavy_Makeup")], 225))
        pen.ellipse(cx, EYE_Y, 2.9, ry, (246, 246, 242))
        pen.ellipse(cx, EYE_Y, 1.3, min(1.3, ry), (66, 44, 30))
        pen.stroke(arc(cx, EYE_Y + .1, 2.9, ry + .1, 180, 360, 12), (36, 26, 24), .9 if makeup else .5)
        if makeup:     # winged eyeliner
            pen.stroke([[cx + side * 2.7, EYE_Y - .2], [cx + side * 3.9, EYE_Y - 1.1]], (36, 26, 24), .8)
        _brow(pen, face, side)


def _brow(pen: Pen, face: Face, side: int) -> None:
    t = np.linspace(0, 1, 10)                         # 0 = inner end, 1 = outer end
    x = 32 + side * (2.9 + 7.2 * t)
    if face.has("Arched_Eyebrows"):
        lift = 2.9 * np.minimum(t / .6, (1 - t) / .4 + .15)       # angular peak two thirds out
    else:
        lift = .35 * np.sin(np.pi * t)                              # nearly straight
    y = 24.1 - lift + (.3 if face.has("Bushy_Eyebrows") else 0)
    width = 2.4 if face.has("Bushy_Eyebrows") else 1.0
    pen.stroke(np.stack([x, y], 1), face.brow, width)


def nose(pen: Pen, face: Face) -> None:
    """Big_Nose: wide base, big nostrils, both bridge sides. Pointy_Nose: a sharp V tip and a lit bridge."""
    dark = shade(face.skin, .72)
    big = face.has("Big_Nose")
    w = 3.4 if big else 1.5
    if face.has("Pointy_Nose"):
        pen.fill([[30.4, 32.6], [32, 38.2], [33.6, 32.6]], shade(face.skin, .84))
        pen.stroke([[30.4, 32.6], [32, 38.2], [33.6, 32.6]], shade(face.skin, .5), .65)
        pen.stroke([[32, 29.2], [32, 34.6]], (255, 255, 255, 140), .6)
    else:
        pen.stroke(arc(32, 35.6, w + .8, 1.3, 20, 160, 12), dark, .5)
    for side in ((-1, 1) if big else (-1,)):
        pen.stroke([[32 + side * (w - .6), 29.6], [32 + side * (w - .3), 35.0]], dark, .5)
    for side in (-1, 1):
        pen.ellipse(32 + side * w, 36.2, 1.4 if big else .75, .9 if big else .55, shade(face.skin, .42))
    if big:                                            # flared nostril wings
        for p in both(arc(32 - w - .5, 35.6, 1.0, 1.3, 100, 260, 8)):
            pen.stroke(p, dark, .45)


def beard(pen: Pen, face: Face) -> None:
    """Sideburns, the jaw beard that No_Beard = 0 means, and the Goatee."""
    colour = face.facial_hair
    if face.has("Sideburns"):
        ys = np.linspace(21.0, 33.5, 8)
        outer = np.stack([np.interp(ys, face.contour[:, 1], face.contour[:, 0]) - .3, ys], 1)
        strip = np.vstack([outer, (outer + [2.7, 0])[::-1]])
        for p in both(strip):
            pen.fill(p, colour)
    if not face.has("No_Beard"):
        for p in both(_jaw_beard(face.shape_key)):
            pen.stroke(p, colour, 2.8)
    if face.has("Goatee"):
        shapes = (
            [[-3.4, -3.1], [3.4, -3.1], [3.6, -1.0], [2.2, .5], [0, .8], [-2.2, .5], [-3.6, -1.0]],
            [[-3.6, -3.1], [3.6, -3.1], [3.2, -.5], [0, 2.4], [-3.2, -.5]],
            [[-1.4, -3.4], [1.4, -3.4], [1.4, .6], [-1.4, .6]],
        )
        pen.fill(np.array(shapes[face.style("Goatee")]) + [32, face.chin_y], colour)


@cache
def _jaw_beard(shape_key: tuple[bool, ...]) -> np.ndarray:
    """Left jaw-beard path: along the contour from below the ear to short of the chin, just inside it."""
    contour = _contour(shape_key)
    jaw = resample(contour[contour[:, 1] >= 33.0], .5, closed=False)
    return jaw[jaw[:, 0] < 29.0] + [1.0, -.5]


def mouth(pen: Pen, face: Face) -> None:
    """Lips (Big_Lips, Wearing_Lipstick), the mouth line (Smiling) and the opening (Mouth_Slightly_Open)."""
    smile = face.style("Smiling") if face.has("Smiling") else -1
    m = _mouth_shape(face.has("Big_Lips"), smile, face.has("Mouth_Slightly_Open"), face.mouth_y)
    if m.opening is not None:
        pen.fill(m.opening, (150, 24, 44))      # crimson: unlike any facial hair
        pen.fill(m.teeth, (240, 238, 228))
    lips = LIPSTICK[face.style("Wearing_Lipstick")] if face.has("Wearing_Lipstick") else shade(
        face.skin, (.86, .66, .66))
    pen.stroke(m.lower, face.skin, 1.0)             # a rim of skin keeps the lower lip clear of a goatee
    for lip in (m.upper, m.lower):
        pen.fill(lip, lips)
        pen.stroke(lip, shade(lips, .72), .3)
    pen.stroke(m.line, (88, 36, 38), .45)
    if face.has("Mustache"):
        _mustache(pen, face)


class MouthShape(NamedTuple):
    upper: np.ndarray                 # closed lip polygons (first point repeated, so they stroke closed)
    lower: np.ndarray
    line: np.ndarray                  # where the lips meet
    opening: np.ndarray | None       # dark gap and teeth when the mouth is open
    teeth: np.ndarray | None


@cache
def _mouth_shape(big: bool, smile: int, open_: bool, y0: float) -> MouthShape:
    """smile: Smiling style id (broad, soft, lopsided) or -1 for a neutral, slightly down-turned mouth."""
    hw = 5.3 if big else 4.6
    drop, rise_l, rise_r = 0.0, -.5, -.5              # neutral: corners slightly down
    if smile >= 0:                                     # a U: the middle drops, the corners rise
        hw += (.6, -.3, .2)[smile]
        drop, rise_l, rise_r = ((.9, 1.6, 1.6), (.7, 1.1, 1.1), (.8, 1.9, .5))[smile]
    x = np.linspace(-hw, hw, 17)
    u = np.abs(x) / hw
    line = y0 + drop * (1 - u ** 2) - np.where(x < 0, rise_l, rise_r) * u ** 2
    body = (1 - u ** 2) ** .6
    gap = (3.0 if open_ else 0.0) * (1 - u ** 2)
    up, low = (2.3, 3.2) if big else (1.0, 1.3)
    xs = 32 + x
    bow = .35 * np.exp(-((x / 1.2) ** 2))                              # Cupid's bow dip

    def band(top: np.ndarray, bottom: np.ndarray, keep=slice(None)) -> np.ndarray:
        pts = np.vstack([np.stack([xs, top], 1)[keep], np.stack([xs, bottom], 1)[keep][::-1]])
        return np.vstack([pts, pts[:1]])

    upper, lower = band(line - up * body + bow * body, line - gap / 2), band(line + gap / 2, line + low * body)
    if not open_:
        return MouthShape(upper, lower, np.stack([xs, line], 1), None, None)
    teeth = band(line - gap / 2, line - gap / 2 + gap * .45, np.abs(x) < hw * .6)
    return MouthShape(upper, lower, np.stack([xs, line], 1), band(line - gap / 2, line + gap / 2), teeth)


def _mustache(pen: Pen, face: Face) -> None:
    """Mustache styles: chevron, handlebar, toothbrush. All stay above the mouth corners so smiles read."""
    kind = face.style("Mustache")
    at = np.array([32, face.mouth_y])
    if kind == 0:      # chevron
        pts = [[-4.6, -2.0], [-3.5, -3.4], [-1, -3.7], [0, -3.5], [1, -3.7], [3.5, -3.4], [4.6, -2.0],
               [3, -2.3], [0, -2.5], [-3, -2.3]]
    elif kind == 1:    # handlebar: a slim bar with ends curled upwards
        pts = [[-4.4, -2.2], [-2.5, -3.4], [0, -3.7], [2.5, -3.4], [4.4, -2.2], [2.5, -2.6], [0, -2.8],
               [-2.5, -2.6]]
        for p in both(np.array([[-4.2, -2.4], [-5.8, -3.2], [-6.5, -4.6], [-6.0, -5.6]]) + at):
            pen.stroke(p, face.facial_hair, 1.0)
    else:              # toothbrush: a short thick block under the nose
        pts = [[-2.1, -3.8], [2.1, -3.8], [2.2, -2.0], [-2.2, -2.0]]
    pen.fill(np.array(pts) + at, face.facial_hair)
