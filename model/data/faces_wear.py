"""The parts of a procedural face that are not the head itself: background, Attractive halo, body and
necktie, hats, glasses, earrings and necklaces. Called by faces_render.render_face in painter's order."""

from __future__ import annotations

import numpy as np
from PIL import Image

from model.data.faces_draw import Pen, arc, both, displace, ellipse, hsv, mix, resample, shade

TIE = [(205, 30, 40), (30, 44, 125), (30, 140, 64)]
JEWEL = [(242, 192, 30), (226, 30, 52), (40, 92, 236)]    # gold, red, blue (earrings and necklaces)
WHITE = (246, 246, 244)

def background(face, px: int) -> Image.Image:
    """(px, px) RGB canvas: a vertical two-colour gradient of the background hue."""
    nu = face.nuisance
    top = np.array(hsv(nu["bg_hue"], .30, .74), float)
    bottom = np.array(hsv(nu["bg_hue"], .45, .74 * (1 - .45 * nu["bg_gradient"])), float)
    column = top + np.linspace(0, 1, px)[:, None] * (bottom - top)          # (px, 3), stretched sideways
    return Image.fromarray(column.astype(np.uint8)[:, None, :]).resize((px, px), Image.NEAREST)


def halo(pen: Pen, face) -> None:
    """Attractive: a bright glow behind the head, the stated visual proxy for a flattering portrait light."""
    pen.ellipse(32, 29, 21.5, 25.5, (255, 252, 236, 180))


def body(pen: Pen, face) -> None:
    """Neck, shoulders with a scoop neckline, and the Wearing_Necktie shirt and tie."""
    nw = 4.6 + (1.0 if face.has("Male") else 0) + (1.0 if face.has("Chubby") else 0)
    pen.fill([[32 - nw, 40], [32 + nw, 40], [32 + nw + .5, 58], [32 - nw - .5, 58]], shade(face.skin, .88))
    clothes = hsv(face.nuisance["clothes_colour"], .55, .5)
    pen.fill([[-4, 70], [-4, 61], [6, 56.5], [19, 53.6], [26.5, 53.4], [28.5, 56.5], [32, 57.6], [35.5, 56.5],
              [37.5, 53.4], [45, 53.6], [58, 56.5], [68, 61], [68, 70]], clothes)
    if not face.has("Wearing_Necktie"):
        return
    kind, colour = divmod(face.style("Wearing_Necktie"), 3)
    tie, knot = TIE[colour], shade(TIE[colour], .78)
    pen.fill([[25.6, 53.2], [38.4, 53.2], [32, 66]], WHITE)
    for p in both([[25.4, 52.8], [31.4, 54.0], [28.2, 57.8]]):
        pen.fill(p, WHITE)
        pen.stroke(np.vstack([p, p[:1]]), (150, 150, 150), .35)
    if kind == 0:      # long tie
        pen.fill([[31.2, 56.0], [32.8, 56.0], [34.4, 63.0], [32, 65.5], [29.6, 63.0]], tie)
        pen.fill([[30.7, 54.0], [33.3, 54.0], [32.8, 56.0], [31.2, 56.0]], knot)
    elif kind == 1:    # skinny tie
        pen.fill([[31.5, 55.6], [32.5, 55.6], [32.9, 66], [31.1, 66]], tie)
        pen.fill([[31.2, 54.0], [32.8, 54.0], [32.5, 55.6], [31.5, 55.6]], knot)
    else:              # bow tie
        for p in both([[32, 55.2], [27.4, 53.3], [27.4, 57.1]]):
            pen.fill(p, tie)
        pen.ellipse(32, 55.2, 1.0, 1.0, knot)


def hat(pen: Pen, face) -> None:
    """Wearing_Hat: five kinds, all sitting above the hairline so hair and bangs stay visible."""
    if not face.has("Wearing_Hat"):
        return
    c = hsv(face.nuisance["hat_colour"], .6, .62)
    dark = shade(c, .62)
    kind = face.style("Wearing_Hat")
    if kind == 0:      # baseball cap: dome, seams, button, visor
        pen.fill(arc(32, 11.8, 13.8, 9.2, 180, 360, 30), c)
        pen.stroke([[32, 2.6], [32, 11.6]], dark, .45)
        for p in both(arc(32, 11.8, 7.0, 9.2, 180, 270, 10)):
            pen.stroke(p, dark, .45)
        pen.ellipse(32, 2.9, 1.0, .8, dark)
        pen.ellipse(32, 12.3, 14.6, 2.5, dark)
    elif kind == 1:    # beanie: dome, ribbed cuff, pompom
        pen.fill(arc(32, 12.5, 14.6, 9.5, 180, 360, 30), c)
        pen.fill([[17.4, 8.6], [46.6, 8.6], [46.6, 13.0], [17.4, 13.0]], shade(c, .82))
        for x in np.arange(18.6, 46, 1.6):
            pen.stroke([[x, 8.9], [x, 12.7]], dark, .4)
        pom = resample(ellipse(32, 3.2, 2.8, 2.8), .4)
        pen.fill(displace(pom, .5 * np.abs(np.sin(np.arange(len(pom)) * .9))), mix(c, WHITE, .5))
    elif kind == 2:    # fedora: wide brim, pinched crown, dark band
        pen.ellipse(32, 11.1, 21.5, 2.4, shade(c, .85))
        pen.fill([[21.6, 10.8], [22.6, 3.4], [27.5, 2.2], [32, 3.8], [36.5, 2.2], [41.4, 3.4], [42.4, 10.8]], c)
        pen.fill([[21.8, 8.0], [42.2, 8.0], [42.3, 10.6], [21.7, 10.6]], shade(c, .35))
    elif kind == 3:    # beret: a wide flat disc tilted to one side, with a stalk
        pen.fill(ellipse(29.5, 8.0, 16.5, 5.0, -8), c)
        pen.stroke(ellipse(29.5, 8.0, 16.5, 5.0, -8)[:17], dark, .8)
        pen.fill([[29.0, 1.9], [30.4, 1.9], [30.6, 3.6], [28.8, 3.6]], dark)
    else:              # top hat: tall crown, band, narrow brim
        pen.ellipse(32, 10.9, 15.5, 1.9, shade(c, .8))
        pen.fill([[22.6, 10.6], [22.0, -4], [42.0, -4], [41.4, 10.6]], c)
        pen.fill([[22.3, 7.2], [41.7, 7.2], [41.6, 9.6], [22.4, 9.6]], shade(c, .35))


def _lens(shape: int, cx: float, cy: float) -> np.ndarray:
    """Left lens outline (k, 2) for a frame shape; the outer side is towards smaller x."""
    if shape == 0:     # round
        return ellipse(cx, cy, 4.2, 3.6)
    if shape == 1:     # rectangular
        return np.array([[cx - 5.0, cy - 3.0], [cx + 4.8, cy - 3.0], [cx + 4.8, cy + 2.9], [cx - 5.0, cy + 2.9]])
    if shape == 2:     # aviator teardrop
        return np.array([[cx - 4.8, cy - 3.2], [cx + 4.6, cy - 3.4], [cx + 4.4, cy - 1], [cx + 3.2, cy + 2.8],
                         [cx + .5, cy + 3.6], [cx - 2.8, cy + 3.2], [cx - 4.6, cy + 1.2]])
    if shape == 3:     # cat-eye: upswept outer corner
        return np.array([[cx - 5.6, cy - 4.2], [cx - 1, cy - 2.8], [cx + 4.4, cy - 2.6], [cx + 4.6, cy + .6],
                         [cx + 2.8, cy + 2.8], [cx - 1.6, cy + 3.0], [cx - 4.2, cy + 1.4], [cx - 4.8, cy - 1.2]])
    return ellipse(cx, cy + .1, 4.6, 3.0)   # browline: the frame is drawn as a heavy top bar


def glasses(pen: Pen, face) -> None:
    """Eyeglasses: style id = frame shape * 2 + dark lens. Dark lenses are translucent so eyes still read."""
    if not face.has("Eyeglasses"):
        return
    shape, dark = divmod(face.style("Eyeglasses"), 2)
    frame = hsv(face.nuisance["frame_colour"], .6, .22 + .14 * face.nuisance["frame_colour"])
    lens_fill = (18, 18, 26, 128) if dark else (225, 240, 255, 45)
    cx, cy = 32 - 6.3, 28.7
    width = (.8, 1.0, .6, 1.1, .35)[shape]
    for lens in both(_lens(shape, cx, cy)):
        pen.fill(lens, lens_fill)
        pen.stroke(np.vstack([lens, lens[:2]]), frame, width)
        if shape == 4:
            top = lens[(lens[:, 1] <= cy + .2)]
            pen.stroke(top[np.argsort(top[:, 0])], frame, 1.8)
    pen.stroke([[cx + 4.5, cy - 1.2], [32, cy - 1.8], [64 - cx - 4.5, cy - 1.2]], frame, .6)
    if shape == 2:
        pen.stroke([[cx + 4.4, cy - 3.3], [64 - cx - 4.4, cy - 3.3]], frame, .5)
    for p in both([[cx - 4.9, cy - 1.0], [32 - face.ear_dx + .6, cy - .4]]):
        pen.stroke(p, frame, .6)
    if not dark:      # a small glint on each clear lens
        for p in both([[cx - 2.2, cy - 1.8], [cx - 1.0, cy - 2.6]]):
            pen.stroke(p, (255, 255, 255, 170), .5)


def _gem(pen: Pen, x: float, y: float, r: float, colour) -> None:
    """A disc with a dark rim, readable on skin, hair and background alike."""
    pen.circle(x, y, r + .3, fill=shade(colour, .4))
    pen.circle(x, y, r, fill=colour)


def jewellery(pen: Pen, face) -> None:
    """Wearing_Earrings (hoop / drop / stud x colour) and Wearing_Necklace (beads / pendant / choker x colour)."""
    if face.has("Wearing_Earrings"):
        kind, colour = divmod(face.style("Wearing_Earrings"), 3)
        c = JEWEL[colour]
        for x in (32 - face.ear_dx, 32 + face.ear_dx):
            if kind == 0:
                pen.circle(x, 36.0, 2.1 + .6, outline=shade(c, .4), width=1.2)
                pen.circle(x, 36.0, 2.1 + .35, outline=c, width=.7)
            elif kind == 1:
                pen.stroke([[x, 33.6], [x, 37.2]], shade(c, .5), .5)
                _gem(pen, x, 38.4, 1.4, c)
            else:
                _gem(pen, x, 33.9, 1.4, c)
                pen.ellipse(x - .4, 33.5, .45, .45, (255, 255, 255, 200))
    if face.has("Wearing_Necklace"):
        kind, colour = divmod(face.style("Wearing_Necklace"), 3)
        c = JEWEL[colour]
        if kind == 0:      # beads on a loop over the chest
            for x, y in resample(arc(32, 50.6, 5.3, 6.2, 8, 172, 20), 1.6, closed=False):
                _gem(pen, x, y, .75, c)
        elif kind == 1:    # fine chain with a pendant
            pen.stroke(arc(32, 50.6, 5.3, 6.2, 8, 172, 20), shade(c, .8), .45)
            _gem(pen, 32, 57.9, 1.3, c)
        else:              # choker at the base of the neck
            pen.stroke([[27.0, 51.8], [32, 53.0], [37.0, 51.8]], shade(c, .45), 1.9)
            pen.stroke([[27.0, 51.8], [32, 53.0], [37.0, 51.8]], c, 1.3)
            _gem(pen, 32, 53.1, .8, mix(c, WHITE, .4))

