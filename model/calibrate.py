"""Per-attribute edit strengths, calibrated after training: `vcn calibrate`; and the style strength of
resamples: `vcn calibrate-styles` (end of this file).

One strength for all attributes is a poor compromise: at 1.5 the shipped faces model flips Brown_Hair 91 %
of the time and Wearing_Necklace 41 %; at 2.0 the necklace takes more often but brown hair starts to read
as another colour (74 %). So each attribute gets the smallest strength (of a few candidates) at which
edits take as often as `target`, or the one where they take most often if none does.

Who reads the edits: a *calibration reader*, a third attribute CNN that is neither the evaluation oracle
nor the model's training judge (weights/reader.safetensors: trained from scratch on seed-4 renders, the
oracle's recipe), on faces of the training seed that the model never saw (seed 0 from index
CALIBRATION_START on); never test faces (seed 10,000). Not the training judge: a model trained with the
judge lever has learnt to please that judge, which reads 98-100 % of its edits as taken at strength 1
where independent readers see 81 % (measured: experiments/results/session3/calibrate_by_judge.log).
Not the oracle: `vcn eval` must measure the calibrated model with a reader the calibration did not use.
The protocol is vcn eval's edit protocol (model.edit_metrics.edit_metrics), with the reader in the oracle's
place.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from model.edit_metrics import edit_metrics

CALIBRATION_SEED = 0
CALIBRATION_START = 500_000  # past every training set size used so far (train_size <= 200,000)
STRENGTHS = (1.0, 1.5, 2.0, 2.5, 3.0)


def with_strength(model: nn.Module, strength: float) -> nn.Module:
    """A shallow copy of a VCN (same weights) whose edits all use this one strength (so none is verified)."""
    out = copy.copy(model)
    out.cfg = dataclasses.replace(model.cfg, edit_strength=strength, attribute_strength=(), verify_strengths=())
    return out


def choose_strengths(success: dict[float, dict[str, float]], names: Sequence[str], target: float) -> tuple[float, ...]:
    """Per name: the smallest strength whose success reaches `target`, else the one with the highest
    success (the smaller on a tie). success: strength -> name -> share of edits that took."""
    strengths = sorted(success)
    chosen = []
    for name in names:
        reached = [s for s in strengths if success[s][name] >= target]
        chosen.append(reached[0] if reached else max(strengths, key=lambda s: (success[s][name], -s)))
    return tuple(chosen)


@torch.inference_mode()
def calibrate_strengths(model: nn.Module, reader: nn.Module, n: int = 150, strengths: Sequence[float] = STRENGTHS,
                        target: float = 0.97, batch_size: int = 100, device: torch.device | None = None,
                        log: Callable[[str], None] | None = None) -> tuple[tuple[float, ...], dict]:
    """Edit success per attribute at each strength, read by `reader` on n unseen training-seed faces;
    returns (the chosen strength per attribute, {strength: {name: success}})."""
    from model.data import faces

    device = device or model.device
    names = tuple(model.cfg.capsule_names)
    batch = faces.sample_faces(CALIBRATION_SEED, CALIBRATION_START, n)
    images = torch.as_tensor(faces.render(batch, size=model.cfg.image_size))
    reader = reader.to(device).eval()
    success: dict[float, dict[str, float]] = {}
    for s in strengths:
        r = edit_metrics(with_strength(model, float(s)), reader, images, batch, CALIBRATION_SEED, batch_size, device)
        success[float(s)] = r["edit_success_per_attribute"]
        if log:
            log(f"strength {s}: edits take {r['edit_success']:.4f}, kept {r['edit_preservation']:.4f} (reader)")
    return choose_strengths(success, names, target), success


# ----------------------------------------------------------------------------------------------------
# Style strength: how far a style resample moves the capsule (VCNConfig.style_strength)

STYLE_START = CALIBRATION_START + 10_000  # past the faces the edit strengths are calibrated on


def style_faces(n: int, size: int) -> tuple[Tensor, Tensor]:
    """n unseen training-seed faces for choosing the style strength: (uint8 images, (n, A) bool attributes)."""
    from model.data import faces

    batch = faces.sample_faces(CALIBRATION_SEED, STYLE_START, n)
    return torch.as_tensor(faces.render(batch, size=size, workers=2)), torch.as_tensor(batch.attrs).bool()


def style_readings(model: nn.Module, reader: nn.Module, images: Tensor, attrs: Tensor, strengths: Sequence[float],
                   seed: int = CALIBRATION_SEED, n_style: int = 30, batch_size: int = 100,
                   device: torch.device | None = None) -> Iterator[tuple[float, dict]]:
    """(strength, model.edit_metrics.style_metrics of the model at that style strength, read by `reader` over its
    style attributes the model has), one strength at a time, so a caller can report each as it comes."""
    from model.edit_metrics import style_metrics

    device = device or model.device
    reader = reader.to(device).eval()
    styles = tuple(s for s in reader.cfg.style_names if s in model.cfg.capsule_names)
    for s in strengths:
        probe = copy.copy(model)
        probe.cfg = dataclasses.replace(model.cfg, style_strength=float(s))
        yield float(s), style_metrics(probe, reader, images, attrs, styles, n_style, seed, batch_size, device)


def style_means(r: dict) -> dict[str, float]:
    """Means over the style attributes of one style_metrics result: diversity, presence, kept."""
    return {short: _mean(r[key]) for short, key in
            (("diversity", "style_diversity"), ("presence", "style_presence"), ("kept", "style_kept"))}


def calibrate_style_strength(model: nn.Module, reader: nn.Module, n: int = 2000,
                             strengths: Sequence[float] = STRENGTHS, n_style: int = 30, batch_size: int = 100,
                             device: torch.device | None = None,
                             log: Callable[[str], None] | None = None) -> tuple[float, dict[float, dict]]:
    """The style strength whose resamples the reader reads as the most distinct styles (mean over its style
    attributes; the smaller strength on a tie), with vcn eval's style protocol (model.edit_metrics.style_metrics)
    on the first n_style of n unseen training-seed faces that wear each style attribute. Returns (the
    chosen strength, {strength: {"diversity", "presence", "kept"}: means over the style attributes})."""
    images, attrs = style_faces(n, model.cfg.image_size)
    table: dict[float, dict] = {}
    for s, r in style_readings(model, reader, images, attrs, strengths, CALIBRATION_SEED, n_style, batch_size,
                               device):
        row = table[s] = style_means(r)
        if log:
            log(f"style strength {s}: {row['diversity']:.3f} distinct styles in 10 resamples, "
                f"{row['presence']:.3f} still present, {row['kept']:.4f} of the rest kept (reader)")
    chosen = max(sorted(table), key=lambda s: (table[s]["diversity"], -s))
    return chosen, table


def _mean(values: dict[str, float | None]) -> float:
    kept = [v for v in values.values() if v is not None]
    return sum(kept) / len(kept) if kept else 0.0
