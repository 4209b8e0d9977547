"""model/paste_regions.py: pasted resamples that show the style they drew, within the attribute's region."""

import dataclasses

import pytest
import torch
from test_style_clusters import _reader, _with_maps
from test_style_fit import _faces
from torch import nn

from model import paste_regions
from model.checkpoint import load_vcn, save_vcn
from model.oracle import OracleConfig
from model.paste_regions import attribute_region, pasted_restyles, regional, with_paste_regions
from model.style_fit import StyleReading
from model.vcn import blend_edit
from model.verify import with_verifier

BLEND = 0.05


class TopHalfStyle(nn.Module):
    """A stand-in verifier: reads style 1 of "b" where the image's top half is bright (mean > 0.5), else style 0."""

    cfg = OracleConfig(image_size=16, attribute_names=("a", "b", "c"), style_names=("b",), style_counts=(2,))

    def style_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        bright = (x[:, :, : x.shape[2] // 2].mean(dim=(1, 2, 3)) > 0.5).float()
        return [torch.stack([1 - bright, bright], dim=1)]


class FineStyle(TopHalfStyle):
    """A stand-in verifier whose reading of "b" flips with the fourth decimal of the top half's mean: a paste that
    changes the picture at all changes it about half of the time."""

    def style_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        odd = ((x[:, :, : x.shape[2] // 2].mean(dim=(1, 2, 3)) * 1e4).long() % 2).float()
        return [torch.stack([1 - odd, odd], dim=1)]


def _pasting_model(regions: bool = True):
    """A tiny model with transfer maps, blended edits, an embedded reader with a style head for "b" and (regions)
    paste regions, all zero."""
    model = with_verifier(_with_maps(chosen=False), _reader(), (1.0,), 0.99)
    model.cfg = dataclasses.replace(model.cfg, edit_blend=BLEND)
    if regions:
        model = model.rebuilt(dataclasses.replace(model.cfg, paste_regions=True), fresh=("paste_region",)).eval()
    return model


def test_regional_takes_the_resample_only_inside_the_area_and_only_where_it_differs_from_the_input():
    x = torch.zeros(1, 3, 8, 8)
    plain = x.clone()
    plain[..., :4, :] = 1.0  # the resample differs from the input in the top half
    pasted = torch.full_like(x, 0.25)
    area = torch.zeros(8, 8)
    area[:, :4] = 1.0  # the region: the left half
    out = regional(plain, pasted, x, area, BLEND)
    assert torch.equal(out[..., :2, :2], plain[..., :2, :2])  # inside both, well clear of the smoothing
    assert torch.equal(out[..., :, 6:], pasted[..., :, 6:])  # outside the region: the paste as it was
    assert torch.equal(out[..., 6:, :], pasted[..., 6:, :])  # where the resample equals the input: the paste
    assert torch.equal(regional(plain, pasted, x, torch.zeros(8, 8), BLEND), pasted)


def test_only_resamples_the_verifier_reads_otherwise_when_pasted_take_the_region():
    model = _pasting_model()
    model.verifier = TopHalfStyle()
    b = list(model.cfg.capsule_names).index("b")
    model.paste_region[b] = 1.0
    x = torch.zeros(3, 3, 16, 16)
    plain = torch.zeros(3, 3, 16, 16)
    plain[:2, :, :8] = 1.0  # rows 0 and 1 draw the bright style, row 2 the dark one, as the input shows
    pasted = plain.clone()
    pasted[0] = 0.2  # row 0's paste lost the bright style; row 1's kept it
    out = pasted_restyles(model, plain, pasted, x, ["b"])
    assert torch.equal(out[0], regional(plain[:1], pasted[:1], x[:1], model.paste_region[b], BLEND)[0])
    assert not torch.equal(out[0], pasted[0])
    assert torch.equal(out[1:], pasted[1:])
    assert torch.equal(pasted_restyles(model, plain, pasted, x, ["a"]), pasted)  # "a": no region, no style head
    model.paste_region[b] = 0.0
    assert torch.equal(pasted_restyles(model, plain, pasted, x, ["b"]), pasted)


def test_a_pasted_resample_takes_the_region_where_the_verifier_disagrees_and_nothing_else_changes(tmp_path):
    model = _pasting_model()
    b = list(model.cfg.capsule_names).index("b")
    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    edit = {"a": True}
    with torch.inference_mode():
        shipped = model.edit(x, resample=["b"], seed=3, paste=True)  # all regions zero: blend_edit onto x
        plain = model.edit(x, resample=["b"], seed=3)
        recon = model.reconstruct(x)
        edited = model.edit(x, set=edit, seed=3, paste=True)
    assert torch.allclose(shipped, blend_edit(plain, recon, BLEND, base=x), atol=1e-6)
    model.paste_region[b] = torch.rand(16, 16, generator=torch.Generator().manual_seed(5))
    save_vcn(tmp_path / "p.safetensors", model)
    loaded = load_vcn(tmp_path / "p.safetensors")
    assert loaded.cfg.paste_regions and torch.equal(loaded.paste_region, model.paste_region)
    with torch.inference_mode():
        assert torch.equal(loaded.edit(x, set=edit, seed=3, paste=True), edited)  # edits that set states: as before
        loaded.verifier = FineStyle()
        out = loaded.edit(x, resample=["b"], seed=3, paste=True)
        assert torch.allclose(out, pasted_restyles(loaded, plain, shipped, x, ["b"]), atol=1e-6)
        assert torch.equal(loaded.edit(x, resample=["b"], seed=3), plain)  # not pasted: as before
        changed = paste_regions.style_ids(loaded.verifier, plain, "b") != paste_regions.style_ids(
            loaded.verifier, shipped, "b")
    assert bool(changed.any()) and bool((~changed).any())
    assert torch.equal(out[~changed], shipped[~changed]) and not torch.allclose(out[changed], shipped[changed])


def test_the_region_is_where_resamples_change_the_reconstruction():
    model = _pasting_model(regions=False)
    images, _ = _faces()
    x = images[:3].permute(0, 3, 1, 2).float() / 255
    area = attribute_region(model, x, "b")
    assert area.shape == (16, 16) and float(area.min()) >= 0.0 and float(area.max()) == 1.0
    with torch.inference_mode():
        reps = x.repeat_interleave(paste_regions.RESAMPLES, dim=0)
        change = paste_regions.smoothed_change(model.edit(reps, resample=["b"], seed=0), model.reconstruct(reps))
    change = change.mean(dim=(0, 1))
    full = change >= paste_regions.FULL * change.max()
    assert bool((area[full] == 1).all()) and bool((area[~full] < 1).all())
    assert torch.allclose(area[~full], change[~full] / (paste_regions.FULL * change.max()), atol=1e-5)


@pytest.mark.parametrize(("after", "kept"), [
    (StyleReading(2.5, 0.99, 0.9), True),  # more styles
    (StyleReading(2.5, 0.97, 0.9), False),  # more styles, 2 points less of the rest of the input kept
    (StyleReading(2.5, 0.99, 0.8), False),  # more styles, the attribute gone from more resamples
    (StyleReading(2.0, 0.99, 0.9), False),  # nothing gained
])
def test_the_guard_keeps_a_region_only_where_the_reader_reads_pasted_resamples_better(monkeypatch, after, kept):
    model = _pasting_model(regions=False)
    images, attrs = _faces()
    calls = []

    def read(m, r, imgs, a, name, paste=False):
        calls.append((len(imgs), paste))
        return after if len(calls) % 2 == 0 else StyleReading(2.0, 0.99, 0.9)

    from model import style_fit
    monkeypatch.setattr(style_fit, "reader_styles", read)
    out = with_paste_regions(model, _reader(), images, attrs, n_faces=3)
    assert calls == [(3, True), (3, True)]  # the region from 3 wearers of "b", checked pasted on the next 3
    assert out.cfg.paste_regions and out.paste_region.shape == (3, 16, 16)
    b = list(model.cfg.capsule_names).index("b")
    assert bool(out.paste_region[b].any()) == kept
    assert not bool(out.paste_region[[0, 2]].any())  # no style head: no region


def test_paste_regions_need_a_verifier_and_blended_edits():
    model = _pasting_model()
    model.paste_region[1] = 1.0
    plain = torch.rand(2, 3, 16, 16)
    model.verifier = None  # a variant without the verifier (with_verifier(..., ())): the regions do nothing
    assert torch.equal(pasted_restyles(model, plain, torch.zeros_like(plain), torch.zeros_like(plain), ["b"]),
                       torch.zeros_like(plain))
    images, attrs = _faces()
    with pytest.raises(ValueError, match="needs edit_blend and a verifier"):
        with_paste_regions(_with_maps(chosen=False), _reader(), images, attrs)
