"""What a procedural face is made of: the 40 CelebA attributes, their style ids, the nuisance factors, the
rules that tie attributes together and the joint law they are drawn from.

Nothing here draws pixels (that is faces_render.py). A face is three vectors:
    attrs    (40,) uint8 in {0, 1}, CelebA order
    styles   (S,)  int64, one style id per attribute in STYLE_ATTRIBUTES (drawn whether or not it is present)
    nuisance (N,)  float32 in [0, 1], one value per name in NUISANCE

The law: Male, then Young given Male, then every other attribute in SAMPLING_ORDER with a probability
    p = k * rr_male**Male * rr_old**(1 - Young) * rr_parent**parent        (capped at P_MAX)
where k is solved in closed form so that the marginal matches TARGET_RATES, and an attribute is never
drawn present while an EXCLUSIVE partner drawn before it is present (so the rules hold by construction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
INDEX: dict[str, int] = {name: i for i, name in enumerate(ATTRIBUTES)}


def _product(kinds: tuple[str, ...], variants: tuple[str, ...]) -> tuple[str, ...]:
    """Composite style ids: id = kind index * len(variants) + variant index."""
    return tuple(f"{k} {v}" for k in kinds for v in variants)


# The ground-truth looks of each attribute that has them; a style id indexes its attribute's tuple.
STYLE_NAMES: dict[str, tuple[str, ...]] = {
    "Bangs": ("blunt", "side-swept", "curtain", "choppy"),
    "Black_Hair": ("jet", "soft black", "blue-black"),
    "Blond_Hair": ("golden", "honey", "platinum"),
    "Brown_Hair": ("chestnut", "light brown", "dark brown"),
    "Eyeglasses": _product(("round", "rectangular", "aviator", "cat-eye", "browline"), ("clear", "dark")),
    "Goatee": ("chin block", "pointed", "chin strip"),
    "Gray_Hair": ("grey", "dark grey", "silver"),
    "Heavy_Makeup": ("violet", "blue", "bronze"),            # eye-shadow colour
    "Mustache": ("chevron", "handlebar", "toothbrush"),
    "Smiling": ("broad", "soft", "lopsided"),
    "Straight_Hair": ("centre part", "side part", "sleek"),
    "Wavy_Hair": ("loose", "tight", "voluminous"),
    "Wearing_Earrings": _product(("hoop", "drop", "stud"), ("gold", "red", "blue")),
    "Wearing_Hat": ("cap", "beanie", "fedora", "beret", "top hat"),
    "Wearing_Lipstick": ("red", "pink", "plum", "coral"),
    "Wearing_Necklace": _product(("beads", "pendant", "choker"), ("gold", "red", "blue")),
    "Wearing_Necktie": _product(("long tie", "skinny tie", "bow tie"), ("red", "navy", "green")),
}
STYLE_COUNTS: dict[str, int] = {a: len(names) for a, names in STYLE_NAMES.items()}
STYLE_ATTRIBUTES: tuple[str, ...] = tuple(a for a in ATTRIBUTES if a in STYLE_COUNTS)

# Factors no attribute names. Each is a float in [0, 1]; 0.5 is the neutral pose / lighting.
NUISANCE: tuple[str, ...] = (
    "skin_tone",       # position inside the normal (or, with Pale_Skin, the pale) skin range
    "bg_hue",          # background hue
    "bg_gradient",     # strength of the top-to-bottom background gradient
    "shift_x",         # +-3 px at 64x64
    "shift_y",
    "scale",           # +-5 %
    "rotation",        # +-5 degrees
    "brightness",      # +-10 %
    "hair_tone",       # shade of hair that carries no colour attribute (auburn .. ginger)
    "frame_colour",    # eyeglasses frame colour
    "hat_colour",
    "clothes_colour",
)

# CelebA's positive rate per attribute (fraction of the 202,599 images of list_attr_celeba.txt), as I
# remember the published statistics; they agree with the commonly quoted figures to about 0.5 points.
CELEBA_RATES: dict[str, float] = {
    "5_o_Clock_Shadow": 0.111, "Arched_Eyebrows": 0.267, "Attractive": 0.512, "Bags_Under_Eyes": 0.205,
    "Bald": 0.022, "Bangs": 0.152, "Big_Lips": 0.241, "Big_Nose": 0.235, "Black_Hair": 0.239,
    "Blond_Hair": 0.148, "Blurry": 0.051, "Brown_Hair": 0.205, "Bushy_Eyebrows": 0.142, "Chubby": 0.058,
    "Double_Chin": 0.047, "Eyeglasses": 0.065, "Goatee": 0.063, "Gray_Hair": 0.042, "Heavy_Makeup": 0.387,
    "High_Cheekbones": 0.455, "Male": 0.417, "Mouth_Slightly_Open": 0.483, "Mustache": 0.042,
    "Narrow_Eyes": 0.115, "No_Beard": 0.835, "Oval_Face": 0.284, "Pale_Skin": 0.043, "Pointy_Nose": 0.277,
    "Receding_Hairline": 0.080, "Rosy_Cheeks": 0.066, "Sideburns": 0.057, "Smiling": 0.482,
    "Straight_Hair": 0.208, "Wavy_Hair": 0.320, "Wearing_Earrings": 0.189, "Wearing_Hat": 0.048,
    "Wearing_Lipstick": 0.472, "Wearing_Necklace": 0.123, "Wearing_Necktie": 0.073, "Young": 0.779,
}
# Deliberate deviation from CelebA: every attribute is present in 10..90 % of faces, so that the rare ones
# (Bald 2.2 %, Pale_Skin 4.3 %, ...) still give a model thousands of examples to learn from.
FLOOR, CEILING = 0.10, 0.90
TARGET_RATES: dict[str, float] = {a: min(max(r, FLOOR), CEILING) for a, r in CELEBA_RATES.items()}

# The rules: pairs that are never both present. flip() clears the partners of an attribute it turns on.
_HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
EXCLUSIVE: tuple[tuple[str, str], ...] = (
    *(("Bald", other) for other in ("Bangs", *_HAIR_COLOURS, "Straight_Hair", "Wavy_Hair", "Receding_Hairline")),
    *((a, b) for i, a in enumerate(_HAIR_COLOURS) for b in _HAIR_COLOURS[i + 1:]),
    ("Straight_Hair", "Wavy_Hair"),
    ("Receding_Hairline", "Bangs"),      # bangs would hide the hairline
    ("No_Beard", "Goatee"),
    ("No_Beard", "Mustache"),
)
PARTNERS: dict[int, tuple[int, ...]] = {
    INDEX[a]: tuple(sorted({INDEX[y] for x, y in EXCLUSIVE if x == a} | {INDEX[x] for x, y in EXCLUSIVE if y == a}))
    for a in ATTRIBUTES
}


@dataclass(frozen=True)
class Law:
    """How one attribute depends on the faces drawn before it (relative risks; 1 = no effect)."""

    male: float = 1.0
    old: float = 1.0            # applies when Young is absent
    parent: str | None = None   # one earlier attribute that is not itself gated by a rule
    parent_rr: float = 1.0


# Order matters: an attribute is gated by its EXCLUSIVE partners that come earlier. Within every gate the
# earlier partners are mutually exclusive, which keeps the calibration below exact per (Male, Young) cell.
SAMPLING_ORDER: tuple[tuple[str, Law], ...] = (
    ("Bald", Law(male=12, old=3)),
    ("Receding_Hairline", Law(male=2.5, old=3)),
    ("Bangs", Law(male=0.35)),
    ("Gray_Hair", Law(male=1.8, old=10)),
    ("Blond_Hair", Law(male=0.15)),
    ("Black_Hair", Law(male=1.2)),
    ("Brown_Hair", Law()),
    ("Wavy_Hair", Law(male=0.35)),
    ("Straight_Hair", Law(male=1.2)),
    ("No_Beard", Law(male=0.614)),
    ("Goatee", Law()),
    ("Mustache", Law()),
    ("Sideburns", Law(male=30, parent="No_Beard", parent_rr=0.3)),
    ("5_o_Clock_Shadow", Law(male=40)),
    ("Heavy_Makeup", Law(male=0.01)),
    ("Wearing_Lipstick", Law(male=0.01, parent="Heavy_Makeup", parent_rr=1.9)),
    ("Wearing_Earrings", Law(male=0.05)),
    ("Wearing_Necklace", Law(male=0.05)),
    ("Wearing_Necktie", Law(male=30)),
    ("Wearing_Hat", Law(male=1.5)),
    ("Eyeglasses", Law(male=2, old=2.5)),
    ("Smiling", Law()),
    ("Mouth_Slightly_Open", Law(parent="Smiling", parent_rr=1.8)),
    ("High_Cheekbones", Law(male=0.6, parent="Smiling", parent_rr=3)),
    ("Attractive", Law(male=0.5, old=0.3)),
    ("Arched_Eyebrows", Law(male=0.15)),
    ("Bushy_Eyebrows", Law(male=3)),
    ("Bags_Under_Eyes", Law(male=2.5, old=2.5)),
    ("Big_Lips", Law(male=0.7)),
    ("Big_Nose", Law(male=3, old=1.5)),
    ("Pointy_Nose", Law(male=0.5)),
    ("Narrow_Eyes", Law()),
    ("Oval_Face", Law(male=0.6)),
    ("Chubby", Law(male=3, old=3)),
    ("Double_Chin", Law(male=2, old=3, parent="Chubby", parent_rr=3)),
    ("Pale_Skin", Law(male=0.5)),
    ("Rosy_Cheeks", Law(male=0.1)),
    ("Blurry", Law()),
)
YOUNG_MALE_RR = 0.775  # CelebA: about 86 % of women and 67 % of men are labelled Young
P_MAX = 0.995          # never certain: every attribute keeps some variation inside each cell

# The four (Male, Young) cells, in this order.
_CELLS = np.array([(0, 0), (0, 1), (1, 0), (1, 1)])


def _calibrate() -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Solve each attribute's scale k so its marginal matches TARGET_RATES.

    Returns k per attribute and P(attribute | cell) (4,) per attribute (Male and Young included)."""
    male, young = _CELLS[:, 0], _CELLS[:, 1]
    p_male = TARGET_RATES["Male"]
    k_young = TARGET_RATES["Young"] / ((1 - p_male) + p_male * YOUNG_MALE_RR)
    p_young = k_young * np.where(male == 1, YOUNG_MALE_RR, 1.0)
    weight = np.where(male == 1, p_male, 1 - p_male) * np.where(young == 1, p_young, 1 - p_young)
    prob = {"Male": male.astype(float), "Young": young.astype(float)}
    scale = {"Young": k_young}
    for name, law in SAMPLING_ORDER:
        # Earlier partners are mutually exclusive, so P(gate open | cell) = 1 - sum of their probabilities.
        gate = 1 - sum((prob[ATTRIBUTES[j]] for j in PARTNERS[INDEX[name]] if ATTRIBUTES[j] in prob), np.zeros(4))
        risk = law.male ** male * law.old ** (1 - young)
        if law.parent is not None:
            risk = risk * (1 + (law.parent_rr - 1) * prob[law.parent])
        k = TARGET_RATES[name] / float(np.sum(weight * gate * risk))
        scale[name] = k
        prob[name] = gate * np.minimum(k * risk, P_MAX)
    return scale, prob


_SCALE, _CELL_PROB = _calibrate()


def sample_attributes(u: np.ndarray) -> np.ndarray:
    """Turn uniforms into attributes under the joint law.

    u: (n, 40) float in [0, 1), column i decides ATTRIBUTES[i]. Returns (n, 40) uint8 in {0, 1}."""
    n = u.shape[0]
    out = np.zeros((n, len(ATTRIBUTES)), np.uint8)
    male = u[:, INDEX["Male"]] < TARGET_RATES["Male"]
    p_young = _SCALE["Young"] * np.where(male, YOUNG_MALE_RR, 1.0)
    young = u[:, INDEX["Young"]] < p_young
    out[:, INDEX["Male"]], out[:, INDEX["Young"]] = male, young
    for name, law in SAMPLING_ORDER:
        i = INDEX[name]
        risk = np.where(male, law.male, 1.0) * np.where(young, 1.0, law.old)
        if law.parent is not None:
            risk = risk * np.where(out[:, INDEX[law.parent]] == 1, law.parent_rr, 1.0)
        gate_open = ~np.any(out[:, list(PARTNERS[i])] == 1, axis=1)
        out[:, i] = gate_open & (u[:, i] < np.minimum(_SCALE[name] * risk, P_MAX))
    return out


def sample_styles(u: np.ndarray) -> np.ndarray:
    """u: (n, S) uniforms in [0, 1) -> (n, S) int64 style ids, each uniform over its attribute's ids."""
    counts = np.array([STYLE_COUNTS[a] for a in STYLE_ATTRIBUTES])
    return np.minimum((u * counts).astype(np.int64), counts - 1)


def rule_violations(attrs: np.ndarray) -> list[tuple[str, str, int]]:
    """(a, b, number of faces) for every EXCLUSIVE pair that is present together in attrs (n, 40)."""
    out = []
    for a, b in EXCLUSIVE:
        count = int(np.sum((attrs[:, INDEX[a]] == 1) & (attrs[:, INDEX[b]] == 1)))
        if count:
            out.append((a, b, count))
    return out


def toggle(attrs: np.ndarray, index: int) -> np.ndarray:
    """Copy of attrs (n, 40) with attribute `index` toggled on every row; where it turns on, its EXCLUSIVE
    partners turn off (the only changes the rules force)."""
    out = attrs.copy()
    turned_on = out[:, index] == 0
    out[:, index] = turned_on
    for j in PARTNERS[index]:
        out[turned_on, j] = 0
    return out


def expected_rates() -> dict[str, float]:
    """The law's exact marginal per attribute (before sampling noise), for docs and tests."""
    p_male = TARGET_RATES["Male"]
    p_young = _SCALE["Young"] * np.where(_CELLS[:, 0] == 1, YOUNG_MALE_RR, 1.0)
    weight = np.where(_CELLS[:, 0] == 1, p_male, 1 - p_male) * np.where(_CELLS[:, 1] == 1, p_young, 1 - p_young)
    return {a: float(np.sum(weight * _CELL_PROB[a])) for a in ATTRIBUTES}
