"""The gallery in docs/img/gallery.png: random faces, then one row per style attribute showing its styles.

    python -m model.data.faces_gallery docs/img/gallery.png
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from model.data import faces
from model.data.faces_attributes import INDEX, STYLE_NAMES

CELL, LABEL, COLUMNS = 96, 150, 10
# Attributes whose styles read best on a man; everything else is shown on a woman.
_ON_MALE = {"Goatee", "Mustache", "Wearing_Necktie"}


def _base(male: bool) -> faces.FaceBatch:
    """A plain young face (brown straight hair, no accessories) with neutral pose and lighting."""
    attrs = np.zeros((1, 40), np.uint8)
    for name in ("Young", "Brown_Hair", "Straight_Hair", *(("Male",) if male else ("No_Beard",))):
        attrs[0, INDEX[name]] = 1
    nuisance = np.full((1, len(faces.NUISANCE)), .5, np.float32)       # centred pose, even light
    for name, value in (("skin_tone", .3), ("bg_hue", .58), ("hat_colour", .62), ("clothes_colour", .9)):
        nuisance[0, faces.NUISANCE.index(name)] = value
    return faces.FaceBatch(attrs, np.zeros((1, len(faces.STYLE_ATTRIBUTES)), np.int64), nuisance)


def gallery(random_rows: int = 3, seed: int = 0) -> Image.Image:
    """The gallery image: `random_rows` rows of random faces, then a labelled row per style attribute."""
    rows = random_rows + len(faces.STYLE_ATTRIBUTES)
    sheet = Image.new("RGB", (LABEL + COLUMNS * CELL, rows * (CELL + 14)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    random_faces = faces.render(faces.sample_faces(seed, 0, random_rows * COLUMNS), CELL)
    for i, image in enumerate(random_faces):
        r, c = divmod(i, COLUMNS)
        sheet.paste(Image.fromarray(image), (LABEL + c * CELL, r * (CELL + 14)))
    for r in range(random_rows):
        draw.text((6, r * (CELL + 14) + CELL // 2), f"random faces, seed {seed}", fill=(0, 0, 0), font=font)
    for k, name in enumerate(faces.STYLE_ATTRIBUTES):
        y = (random_rows + k) * (CELL + 14)
        face = _base(name in _ON_MALE)
        for on in (name, "Smiling") if name == "Wearing_Lipstick" else (name,):
            if not face.attrs[0, INDEX[on]]:
                face = faces.flip(face, on)
        styles = np.arange(faces.STYLE_COUNTS[name])
        batch = faces.FaceBatch(np.repeat(face.attrs, len(styles), 0), np.repeat(face.styles, len(styles), 0),
                                np.repeat(face.nuisance, len(styles), 0))
        for c, image in enumerate(faces.render(faces.with_styles(batch, name, styles), CELL)):
            sheet.paste(Image.fromarray(image), (LABEL + c * CELL, y))
            draw.text((LABEL + c * CELL + 2, y + CELL + 1), STYLE_NAMES[name][c], fill=(60, 60, 60), font=font)
        draw.text((6, y + CELL // 2), name, fill=(0, 0, 0), font=font)
    return sheet


if __name__ == "__main__":
    gallery().save(sys.argv[1] if len(sys.argv) > 1 else "gallery.png", optimize=True)
