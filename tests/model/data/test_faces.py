"""Procedural faces: determinism, every attribute / style / nuisance visible, rules and marginals."""

import numpy as np
import pytest
import torch

from model.data import faces
from model.data import faces_attributes as fa


@pytest.fixture(scope="module")
def sample() -> faces.FaceBatch:
    return faces.sample_faces(0, 0, 2000)


@pytest.fixture(scope="module")
def base() -> faces.FaceBatch:
    """Four faces with every attribute off (so toggling any one of them is allowed by the rules)."""
    b = faces.sample_faces(5, 0, 4)
    return faces.FaceBatch(np.zeros_like(b.attrs), b.styles, b.nuisance)


def test_public_constants():
    assert len(faces.ATTRIBUTES) == 40 and faces.ATTRIBUTES[0] == "5_o_Clock_Shadow"
    assert faces.ATTRIBUTES[-1] == "Young"
    assert set(faces.STYLE_ATTRIBUTES) == set(faces.STYLE_COUNTS)
    assert faces.STYLE_COUNTS["Eyeglasses"] >= 6 and faces.STYLE_COUNTS["Bangs"] >= 4
    assert faces.STYLE_COUNTS["Wearing_Hat"] >= 4
    b = faces.sample_faces(0, 0, 3)
    assert b.attrs.shape == (3, 40) and b.attrs.dtype == np.uint8
    assert b.styles.shape == (3, len(faces.STYLE_ATTRIBUTES)) and b.styles.dtype == np.int64
    assert b.nuisance.shape == (3, len(faces.NUISANCE)) and b.nuisance.dtype == np.float32


def test_deterministic_across_batch_boundaries():
    whole = faces.sample_faces(3, 10, 6)
    parts = [faces.sample_faces(3, 10, 2), faces.sample_faces(3, 12, 4)]
    for field in ("attrs", "styles", "nuisance"):
        np.testing.assert_array_equal(getattr(whole, field), np.concatenate([getattr(p, field) for p in parts]))
    img = faces.render(whole)
    np.testing.assert_array_equal(img, np.concatenate([faces.render(p) for p in parts]))
    np.testing.assert_array_equal(img, faces.render(faces.sample_faces(3, 10, 6)))
    assert not np.array_equal(faces.sample_faces(4, 10, 6).attrs, whole.attrs)


def test_render_shapes_sizes_and_workers():
    b = faces.sample_faces(0, 0, 4)
    for size in (64, 128):
        img = faces.render(b, size)
        assert img.shape == (4, size, size, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(faces.render(b, 64, workers=2), faces.render(b, 64))
    with pytest.raises(ValueError):
        faces.render(b, 512)


@pytest.mark.parametrize("attribute", faces.ATTRIBUTES)
def test_every_attribute_changes_the_image(base, attribute):
    before, after = faces.render(base), faces.render(faces.flip(base, attribute))
    changed = (np.abs(before.astype(int) - after.astype(int)).max(axis=-1) > 24).sum(axis=(1, 2))
    assert (changed >= 6).all(), f"{attribute} changes too few pixels (> 24 levels) of 64x64: {changed}"


@pytest.mark.parametrize("attribute", faces.STYLE_ATTRIBUTES)
def test_every_style_changes_the_image(base, attribute):
    on = faces.flip(base.take([0]), attribute)
    images = [faces.render(faces.with_styles(on, attribute, np.array([k])))[0].astype(int)
              for k in range(faces.STYLE_COUNTS[attribute])]
    for i in range(len(images)):
        for j in range(i):
            assert np.abs(images[i] - images[j]).sum() > 0, f"{attribute} styles {j} and {i} look the same"


def test_styles_unused_when_attribute_absent(base):
    b = base.take([0])
    other = faces.with_styles(b, "Eyeglasses", np.array([(b.styles[0, 0] + 1) % 10]))
    np.testing.assert_array_equal(faces.render(b), faces.render(other))


def test_every_nuisance_changes_the_image(base):
    b = faces.flip(faces.flip(faces.flip(base.take([0]), "Eyeglasses"), "Wearing_Hat"), "Male")
    ref = faces.render(b)[0].astype(int)
    for k, name in enumerate(faces.NUISANCE):
        nuisance = b.nuisance.copy()
        nuisance[0, k] = (nuisance[0, k] + .5) % 1.0
        moved = faces.render(faces.FaceBatch(b.attrs, b.styles, nuisance))[0].astype(int)
        assert np.abs(moved - ref).sum() > 0, f"nuisance {name} changes nothing"


def test_flip_changes_only_rule_forced_attributes(sample):
    for a, name in enumerate(faces.ATTRIBUTES):
        flipped = faces.flip(sample, name)
        changed = flipped.attrs != sample.attrs
        assert changed[:, a].all()
        allowed = np.zeros(40, bool)
        allowed[[a, *fa.PARTNERS[a]]] = True
        assert not changed[:, ~allowed].any(), name
        assert fa.rule_violations(flipped.attrs) == []
        np.testing.assert_array_equal(flipped.styles, sample.styles)
    bald = faces.flip(sample, "Bald").attrs
    on = sample.attrs[:, fa.INDEX["Bald"]] == 0
    for other in ("Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Straight_Hair", "Wavy_Hair"):
        assert (bald[on, fa.INDEX[other]] == 0).all()
    assert faces.flip(sample, 20).attrs[:, 20].sum() == (1 - sample.attrs[:, 20]).sum()
    with pytest.raises(KeyError):
        faces.flip(sample, "Sunglasses")


def test_rules_hold(sample):
    assert fa.rule_violations(sample.attrs) == []
    a = {name: sample.attrs[:, i] for i, name in enumerate(faces.ATTRIBUTES)}
    hair = a["Black_Hair"] + a["Blond_Hair"] + a["Brown_Hair"] + a["Gray_Hair"]
    assert hair.max() <= 1 and (hair[a["Bald"] == 1] == 0).all()
    assert (a["Straight_Hair"] & a["Wavy_Hair"]).sum() == 0
    assert ((a["Goatee"] | a["Mustache"]) & a["No_Beard"]).sum() == 0


def test_marginals_within_floor_and_close_to_target(sample):
    rates = sample.attrs.mean(axis=0)
    assert (rates >= 0.08).all() and (rates <= 0.92).all(), dict(zip(faces.ATTRIBUTES, rates, strict=True))
    exact = fa.expected_rates()
    for i, name in enumerate(faces.ATTRIBUTES):
        assert fa.FLOOR - 1e-9 <= exact[name] <= fa.CEILING + 1e-9
        assert abs(exact[name] - fa.TARGET_RATES[name]) < 0.01, name
        assert abs(rates[i] - exact[name]) < 0.035, name       # 2000 samples: about 3.5 standard errors


def test_correlations_are_celeba_like(sample):
    a = {name: sample.attrs[:, i].astype(bool) for i, name in enumerate(faces.ATTRIBUTES)}
    assert a["Wearing_Lipstick"][a["Heavy_Makeup"]].mean() > 0.9
    assert a["Wearing_Lipstick"][a["Male"]].mean() < 0.05
    assert (~a["No_Beard"])[a["Male"]].mean() > 0.3 > (~a["No_Beard"])[~a["Male"]].mean()


def test_styles_and_nuisance_ranges(sample):
    counts = np.array([faces.STYLE_COUNTS[s] for s in faces.STYLE_ATTRIBUTES])
    assert (sample.styles >= 0).all() and (sample.styles < counts).all()
    for k in range(len(counts)):
        assert len(np.unique(sample.styles[:, k])) == counts[k]
    assert (sample.nuisance >= 0).all() and (sample.nuisance <= 1).all()


def test_with_styles_validates():
    b = faces.sample_faces(0, 0, 2)
    assert (faces.with_styles(b, "Bangs", 3).styles[:, faces.STYLE_ATTRIBUTES.index("Bangs")] == 3).all()
    with pytest.raises(ValueError):
        faces.with_styles(b, "Bangs", 4)
    with pytest.raises(KeyError):
        faces.with_styles(b, "Male", 0)


def test_dataset_items():
    ds = faces.FaceDataset(3, seed=2, size=64, start=5)
    image, attrs, styles, nuisance = ds[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert attrs.shape == (40,) and styles.dtype == torch.int64 and nuisance.shape == (len(faces.NUISANCE),)
    b = faces.sample_faces(2, 6, 1)
    np.testing.assert_array_equal(attrs.numpy(), b.attrs[0])
    np.testing.assert_allclose(image.numpy(), faces.render(b)[0].transpose(2, 0, 1) / 255, atol=1e-6)
    with pytest.raises(IndexError):
        ds[3]
