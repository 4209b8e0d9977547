"""Metric arithmetic and the printed table: no models, no data.

`frechet_distance` is the FID formula on any feature sets (here the oracle's penultimate layer, not
Inception's, so the numbers are comparable only between models judged by the same oracle).
`format_table` turns the dict model.evaluate returns into a readable report, per attribute like the
paper's Table 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import Tensor


def _as_array(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def named(names: tuple[str, ...], values: Tensor | np.ndarray) -> dict[str, float]:
    """{name: value rounded to 5 digits} for a per-attribute vector (A,)."""
    return {k: round(float(v), 5) for k, v in zip(names, values, strict=True)}


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues from round-off -> 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets a (N, F), b (M, F):

        |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)).

    tr((S_a S_b)^(1/2)) is computed as tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), whose argument is symmetric
    PSD, so eigh gives it exactly (the same value scipy.linalg.sqrtm gives, without its complex round-off).
    0 for identical sets; never negative."""
    a, b = _as_array(a), _as_array(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (N, F) feature sets with the same F, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples per set for a covariance")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(s_a)
    m = root_a @ s_b @ root_a
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())
    d = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * tr_covmean)
    return max(d, 0.0)


# ----------------------------------------------------------------------------------------------------
# The table


def _pct(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.{digits}f} %"


def _num(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def format_table(r: dict[str, Any]) -> str:
    """A readable report of evaluate()'s results (faces, digits or CelebA)."""
    lines = [f"{r.get('model', 'model')} on {r.get('dataset', '?')}: n={r.get('n')}"
             + (f", seed {r['seed']}" if "seed" in r else "")
             + (f", {r['seconds']:.0f} s" if "seconds" in r else "")
             + (f"  [{r['weights']}]" if "weights" in r else "")]
    rows: list[tuple[str, str]] = []
    if "error_rate" in r:
        rows.append(("error rate (predict)", _pct(r["error_rate"], 2)))
    if "mean_accuracy" in r:
        rows.append(("attribute accuracy (predict)", _pct(r["mean_accuracy"], 2)))
    if "edit_success" in r:
        rows.append(("edit success (oracle)", f"{_pct(r['edit_success'])}   ({r.get('n_edits', '?')} edits "
                                               f"on {r.get('n_edit', '?')} faces)"))
        rows.append(("edit preservation", f"{_pct(r['edit_preservation'])}   (attributes "
                                          f"{_pct(r['attribute_preservation'])}, nuisance "
                                          f"{_pct(r['nuisance_preservation'])}, styles "
                                          f"{_pct(r.get('style_preservation'))})"))
        if "input_preservation" in r:
            pasted = ", edits pasted onto it" if r.get("pasted") else ""
            rows.append(("edit preservation of the input", f"{_pct(r['input_preservation'])}   (attributes "
                                                           f"{_pct(r['input_attribute_preservation'])}, nuisance "
                                                           f"{_pct(r['input_nuisance_preservation'])}, styles "
                                                           f"{_pct(r.get('input_style_preservation'))}{pasted})"))
    if "swap_success" in r:
        rows.append(("swap success (oracle)", f"{_pct(r['swap_success'])}   ({r.get('n_swaps', '?')} swaps from a "
                                              f"donor in the other state)"))
        rows.append(("swap preservation", f"{_pct(r['swap_preservation'])}   (of the input: "
                                          f"{_pct(r['swap_input_preservation'])})"))
    if "reference_edit_success" in r:
        rows.append(("the renderer's own flips (reference)", f"success {_pct(r['reference_edit_success'])}, "
                                                             f"preservation {_pct(r['reference_edit_preservation'])}"))
    if "sample_accuracy" in r:
        extra = f"   (all {len(r.get('per_attribute', {}))} as asked: {_pct(r['sample_exact'])})" \
            if "sample_exact" in r else ""
        rows.append(("prior samples read as asked", _pct(r["sample_accuracy"]) + extra))
    if "frechet_distance" in r:
        rows.append(("Fréchet distance (oracle features)", _num(r["frechet_distance"])))
    if "reconstruction_accuracy" in r:
        rows.append(("reconstructions read as ground truth", _pct(r["reconstruction_accuracy"])))
    for key, label in (("oracle_accuracy", "oracle on real test images"),
                       ("judge_accuracy", "judge on real test images")):
        if key in r:
            rows.append((label, _pct(r[key], 2)))
    width = max((len(k) for k, _ in rows), default=0)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]

    per = r.get("per_attribute") or {}
    if per:
        kind = "class" if "error_rate" in r else "attribute"
        cols = [("accuracy", per)]
        for key, label in (("edit_success_per_attribute", "edit success"),
                           ("swap_success_per_attribute", "swap success"),
                           ("sample_accuracy_per_attribute", "samples as asked")):
            if r.get(key):
                cols.append((label, r[key]))
        name_w = max(len(kind), *(len(k) for k in per))
        lines += ["", f"  {kind:<{name_w}}  " + "  ".join(f"{c:>16}" for c, _ in cols)]
        for name in per:
            cells = "  ".join(f"{_pct(col.get(name), 2):>16}" for _, col in cols)
            lines.append(f"  {name:<{name_w}}  {cells}")

    div = r.get("style_diversity") or {}
    if div:
        presence, kept = r.get("style_presence") or {}, r.get("style_kept") or {}
        of_input, swapped = r.get("style_input_kept") or {}, r.get("swap_style_transfer") or {}
        own = r.get("style_reconstructed") or {}
        name_w = max(len("style attribute"), *(len(k) for k in div))
        lines += ["", f"  {'style attribute':<{name_w}}  {'distinct styles of 10 resamples':>32}  "
                      f"{'still present':>14}  {'rest kept':>10}  {'of the input':>12}  {'swap shows donor':>16}  "
                      f"{'own style redrawn':>17}  {'faces':>6}"]
        faces = r.get("style_faces") or {}
        for name, v in div.items():
            lines.append(f"  {name:<{name_w}}  {_num(v):>32}  {_pct(presence.get(name)):>14}  "
                         f"{_pct(kept.get(name)):>10}  {_pct(of_input.get(name)):>12}  "
                         f"{_pct(swapped.get(name)):>16}  {_pct(own.get(name)):>17}  {faces.get(name, '-'):>6}")
    for note in r.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
