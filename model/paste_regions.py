"""Pasted resamples that show the style they drew (`vcn paste-regions`, session 25).

The server answers a resample pasted onto the upload (VCN.edit's paste; vcn.blend_edit): the resample's pixels
where it differs from the face's reconstruction, the upload's own elsewhere. That keeps what the resample does not
touch pixel for pixel, but where the reconstruction draws the attribute's style a little off (stage 17 draws the
face's own Bangs cut on 83 % of reconstructions), a resample that draws the reconstruction's style differs from it
only faintly, and the upload's own style shows through: the oracle read 3.77 Bangs cuts in 10 plain resamples of
vcn eval's faces and 3.28 pasted (docs/recipes-sessions-23-24.md, session 24). Growing the pasted region everywhere
buys back a little for some of the rest kept (session 21).

So each attribute gets a region: where its resamples change the reconstruction, averaged over training-seed faces
(Bangs: the forehead). A pasted resample is read by the model's embedded verifier (the calibration reader, never
the evaluation oracle); where the verifier reads another style on it than on the plain resample (the paste changed
which style shows), the region's pixels that differ from the upload come from the resample. A guard keeps an
attribute's region only where the calibration reader, on other faces, reads more styles in pasted resamples and no
less of the rest kept or of the attribute present than style-fit's slacks allow (model/style_fit.improves):
Wearing_Necklace's region, say, let the necklace vanish (the oracle read it still present after 39 % of pasted
resamples, against 83 %), and it is left off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.readings import to_input

FACES = 60  # training-seed faces per attribute the region is averaged over, RESAMPLES resamples of each
RESAMPLES = 10
FULL = 0.25  # the region is 1 where the mean change is at least this share of its largest, a ramp below
KERNEL = 5  # the change is box-smoothed as blend_edit smooths it


def smoothed_change(a: Tensor, b: Tensor, kernel: int = KERNEL) -> Tensor:
    """(B, C, H, W) twice -> (B, 1, H, W): |a - b| averaged over channels, box-smoothed over kernel x kernel."""
    d = (a - b).abs().mean(dim=1, keepdim=True)
    return F.avg_pool2d(d, kernel, stride=1, padding=kernel // 2, count_include_pad=False)


@torch.inference_mode()
def attribute_region(model: nn.Module, x: Tensor, name: str, seed: int = 0) -> Tensor:
    """Where resamples of `name` change the reconstructions of faces x (F, C, H, W) that wear it -> (H, W) in [0, 1]:
    the change averaged over RESAMPLES resamples of each face, divided by FULL times its largest, capped at 1."""
    x = x.repeat_interleave(RESAMPLES, dim=0)
    d = smoothed_change(model.edit(x, resample=[name], seed=seed), model.reconstruct(x)).mean(dim=(0, 1))
    return (d / (FULL * d.max().clamp(min=1e-8))).clamp(max=1.0)


def regional(plain: Tensor, pasted: Tensor, x: Tensor, area: Tensor, threshold: float) -> Tensor:
    """pasted (B, C, H, W), and within area (H, W) the plain resample as far as it differs from the input x (B, C, H,
    W): a blend_edit against x instead of the reconstruction, confined to the region."""
    return torch.lerp(pasted, plain, area * (smoothed_change(plain, x) / threshold).clamp(max=1.0))


def style_ids(verifier: nn.Module, images: Tensor, name: str) -> Tensor:
    """The style the verifier reads of `name` on each image: (B, C, H, W) -> (B,) long."""
    return verifier.style_logits(images)[list(verifier.cfg.style_names).index(name)].argmax(dim=1)


def pasted_restyles(model: nn.Module, plain: Tensor, pasted: Tensor, x: Tensor, names: Sequence[str]) -> Tensor:
    """Resamples of the attributes `names` (plain, and pasted onto x: (B, C, H, W) each) -> (B, C, H, W): the pasted
    ones, but where the embedded verifier reads another style of one of them on the pasted resample than on the
    plain one, regional() within those attributes' regions (model.paste_region; module docstring)."""
    verifier, out = model.verifier, pasted
    for name in names:
        area = model.paste_region[list(model.cfg.capsule_names).index(name)].to(pasted.dtype)
        if verifier is None or name not in verifier.cfg.style_names or not bool(area.any()):
            continue
        ids = style_ids(verifier, torch.cat([plain, out]), name)  # one call for both
        changed = ids[: len(plain)] != ids[len(plain) :]
        if bool(changed.any()):
            out = out.clone()
            out[changed] = regional(plain[changed], out[changed], x[changed], area, model.cfg.edit_blend)
    return out


def with_paste_regions(model: nn.Module, reader: nn.Module, images: Tensor, attrs: Tensor, n_faces: int = FACES,
                       guard: bool = True, log: Callable[[str], None] | None = None) -> nn.Module:
    """A copy of a VCN whose pasted resamples show the style they drew (module docstring), for every style
    attribute the embedded verifier reads: the region from the first n_faces of images (uint8 (N, H, W, 3)) whose
    attrs (N, A) bool show it, kept (with guard) only where pasted resamples of the next 30 read better by `reader`
    (the calibration reader the verifier is a copy of)."""
    from model.style_fit import improves, reader_styles  # style_fit reaches model.vcn, which imports this module

    if not model.cfg.edit_blend or model.verifier is None:
        raise ValueError("paste regions fix pasted resamples by the embedded verifier's reading: the model needs "
                         "edit_blend and a verifier (vcn verify)")
    out = model.rebuilt(dataclasses.replace(model.cfg, paste_regions=True), fresh=("paste_region",)).eval()
    names = list(model.cfg.capsule_names)
    for name in model.verifier.cfg.style_names:
        if name not in names:
            continue
        wearers = attrs[:, names.index(name)].nonzero().squeeze(1)
        n_map = min(n_faces, len(wearers) // 2)
        if n_map < 2:
            continue
        check = wearers[n_map : n_map + 30]
        before = reader_styles(out, reader, images[check], attrs[check], name, paste=True) if guard else None
        out.paste_region[names.index(name)] = attribute_region(out, to_input(images[wearers[:n_map]], out.device),
                                                               name)
        after = reader_styles(out, reader, images[check], attrs[check], name, paste=True) if guard else None
        better = not guard or improves(before, after)
        if not better:
            out.paste_region[names.index(name)] = 0.0
        if log and guard:
            log(f"{name}: the reader reads {before.styles:.2f} -> {after.styles:.2f} distinct styles in 10 pasted "
                f"resamples of {len(check)} faces, the rest of the input kept {before.kept:.4f} -> {after.kept:.4f}, "
                f"still present {before.present:.3f} -> {after.present:.3f}: {'region' if better else 'none'}")
    return out
