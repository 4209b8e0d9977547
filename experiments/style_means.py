"""Resamples that move a face's capsule between style means (a probe, session 19):

    python experiments/style_means.py W [--labels truth|reader] [--push 1] [--faces 4000] [--names ...]

Session 18 found Bangs' side-swept cut lost on the way a resample draws a style: the transfer maps' capsule for the
face plus style_strength times a residual of the fit (CapsuleEdits.restyled). A side-swept residual added to another
face's prediction does not draw side-swept (experiments/style_drawers.py), while the pair swapped in as it is from
the face's own restyled twin does on 57 % of faces (experiments/raw_swap.py). Here a resample instead moves the
face's own present capsule by the difference between two style means,

    new = old + push * (mean[target] - mean[current]),

the means of that capsule over calibration faces wearing the attribute (training seed 0, faces 700,000 on, past
every set used so far), grouped by the renderer's style ids (--labels truth, procedural only) or by what the
calibration reader reads on each face (--labels reader: weights/reader.safetensors, never the oracle; the labels a
CelebA user's own style reader would give), `current` the nearest mean to the face's capsule, and the n resamples
of a face taking the targets in turn from a drawn start (as the residual clusters are taken). Everything else is
VCN.edit's resample as shipped; read by vcn eval's style protocol (model.edit_metrics.style_metrics, the oracle) at
the three seed offsets of experiments/style_eval.py, against the shipped path on the same file (--mode shipped, at
style_strength = --push). More modes: nearest (old + push * (the nearest calibration capsule of the target style
- old)), residual-means (the maps' capsule for the face + push * the target style's mean residual, the residuals
the calibration faces' own capsules minus the maps' prediction for them), old-residual (the shipped path's
residual added to the face's own capsule instead of the maps' prediction), and style-maps (per style a ridge map,
fitted on every cut of the same calibration faces, from the face's transfer features without the attribute's own
block to its capsule in that style: what its restyled twin's capsule would be; lerp(old, that, push)), and replace
(session 22: the target style's mean capsule itself, pushed push times further from the mean of all styles, as
experiments/style_ceiling.py decodes it; every face then gets the same few capsules).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from eval_inputs import eval_set, prepared_model
from torch import Tensor, nn

from model.data import faces
from model.data.faces_attributes import STYLE_ATTRIBUTES, STYLE_COUNTS
from model.edit_metrics import style_metrics
from model.evaluate import N_STYLE, TEST_SEED
from model.oracle import load_oracle
from model.readings import to_input
from model.seeds import uniform
from model.transfer import ridge_solve

START = 700_000  # training seed 0: past the calibration (500k), style (510k) and probe (600k) faces
NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def wearing_faces(name: str, n: int) -> faces.FaceBatch:
    """The faces among calibration faces START .. START + n - 1 (training seed 0) that wear `name`."""
    batch = faces.sample_faces(0, START, n)
    return batch.take(batch.attrs[:, faces.ATTRIBUTES.index(name)].nonzero()[0])


@torch.inference_mode()
def style_capsules(model: nn.Module, name: str, n: int, labels: str, reader: nn.Module | None,
                   residuals: bool = False) -> tuple[Tensor, Tensor]:
    """The present capsules of `name` (M, D) of the faces among n calibration faces that wear it (with residuals,
    each minus the transfer maps' prediction for its face), and their styles (M,) long (the renderer's ids, or the
    reader's reading of each face)."""
    wearing = wearing_faces(name, n)
    images = torch.as_tensor(faces.render(wearing, size=64))
    slot, count = model.slot(name, True), STYLE_COUNTS[name]
    feats, caps = features(model, images)
    c = caps[:, slot]
    if residuals:  # what the face's capsule holds beyond the maps' prediction for it (a fit residual's kind)
        slots = torch.full((len(c),), slot)
        c = c - model.predicted(slots, feats.to(model.device), slots).float().cpu()
    if labels == "reader":
        head = reader.cfg.style_names.index(name)
        style = torch.cat([reader.style_logits(to_input(chunk, model.device))[head].argmax(-1).cpu()
                           for chunk in images.split(256)])
    else:
        style = torch.as_tensor(wearing.styles[:, STYLE_ATTRIBUTES.index(name)])
    print(f"{name}: {len(c)} faces wear it; per style {torch.bincount(style, minlength=count).tolist()}", flush=True)
    return c, style


def style_means(c: Tensor, style: Tensor) -> Tensor:
    """(M, D) capsules and (M,) their styles -> (S, D) each style's mean (the overall mean for a style none has)."""
    return torch.stack([c[style == s].mean(0) if (style == s).any() else c.mean(0)
                        for s in range(int(style.max()) + 1)])


@torch.inference_mode()
def style_maps(model: nn.Module, name: str, n: int, ridge: float = 1.0) -> Tensor:
    """(S, F, D): per style of `name`, a ridge map from a face's transfer features (its own cut's block zeroed, so
    the map cannot copy the cut it has) to its present capsule when the renderer draws the same face in that style;
    fitted on the faces among n calibration faces that wear it (procedural only: every cut of the same face)."""
    wearing = wearing_faces(name, n)
    slot = model.slot(name, True)
    own = without_block(features(model, torch.as_tensor(faces.render(wearing, size=64)))[0], slot, model)
    gram = own.T @ own
    maps = []
    for style in range(STYLE_COUNTS[name]):
        restyled = torch.as_tensor(faces.render(faces.with_styles(wearing, name, style), size=64))
        maps.append(ridge_solve(gram, own.T @ features(model, restyled)[1][:, slot], ridge))
    print(f"{name}: style maps fitted on {len(own)} faces x {len(maps)} styles", flush=True)
    return torch.stack(maps)


def features(model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """uint8 images (N, H, W, 3) -> their transfer features (N, F) and capsule means (N, K, D), float."""
    feats, caps = [], []
    for chunk in images.split(256):
        c, ctx, mask, _ = model._posterior(to_input(chunk, model.device))
        feats.append(model.transfer_inputs(c, mask, ctx).float().cpu())
        caps.append(c.float().cpu())
    return torch.cat(feats), torch.cat(caps)


def without_block(feats: Tensor, slot: int, model: nn.Module) -> Tensor:
    """feats (N, F) with the attribute of `slot`'s capsule block zeroed."""
    d = model.cfg.capsule_dim
    out = feats.clone()
    out[:, d * (slot // 2): d * (slot // 2 + 1)] = 0
    return out


def use_style_means(model: nn.Module, banks: dict[int, tuple[Tensor, Tensor]], push: float, mode: str) -> None:
    """Make model's resamples of the slots in `banks` (capsules, styles; for mode 'style-maps' the maps (S, F, D) and
    nothing) draw by `mode` (the module docstring) with the target styles in turn; every other slot, and the random
    streams, as shipped."""
    shipped = model.restyled
    # one entry per style: the maps themselves, or each style's mean (of capsules or residuals)
    per_style = {slot: bank if mode == "style-maps" else style_means(bank, style)
                 for slot, (bank, style) in banks.items()}

    def restyled(old: Tensor, slots: Tensor, feats: Tensor | None, g, strength: float | None = None) -> Tensor:
        out = shipped(old, slots, feats, g, strength)  # consumes the streams as shipped
        b = slots.shape[0]
        start = uniform(1 if isinstance(g, torch.Generator) else b, g)  # rows sharing a generator take turns
        turn = torch.arange(b) if isinstance(g, torch.Generator) else torch.zeros(b, dtype=torch.long)
        for slot, (bank, style) in banks.items():
            rows = slots.cpu() == slot
            if not rows.any():
                continue
            m = per_style[slot]
            mine = old[rows].float()
            target = ((turn + (start * len(m)).long()) % len(m))[rows]
            if mode == "style-maps":  # the map of the target style on the face's features
                f = without_block(feats[rows.to(feats.device)].float(), slot, model)
                moved = torch.lerp(mine, torch.bmm(f.unsqueeze(1), m[target]).squeeze(1), push)
            elif mode == "old-residual":  # the shipped path's residual on the face's own capsule, not the maps'
                drawn = model._style_residual(torch.full((int(rows.sum()),), slot), g_rows(g, rows))
                moved = mine + push * drawn.float()
            elif mode == "residual-means":  # the maps' capsule for the face plus the target style's mean residual
                moved = pred_of(slot, rows, feats) + push * m[target]
            elif mode == "replace":  # the target style's mean itself, pushed from the mean of all styles
                moved = (m[target] + push * (m[target] - m.mean(0))).expand_as(mine)
            elif mode == "means":
                moved = mine + push * (m[target] - m[torch.cdist(mine, m).argmin(1)])
            else:  # the nearest capsule of the target style
                d = torch.cdist(mine, bank).masked_fill(style[None] != target[:, None], float("inf"))
                moved = torch.lerp(mine, bank[d.argmin(1)], push)
            out[rows] = moved.to(old.dtype)
        return out

    def g_rows(g, rows: Tensor):  # the generator(s) of the rows
        shared = isinstance(g, torch.Generator)
        return g if shared else tuple(r for r, keep in zip(g, rows.tolist(), strict=True) if keep)

    def pred_of(slot: int, rows: Tensor, feats: Tensor) -> Tensor:
        k = int(rows.sum())
        return model.predicted(torch.full((k,), slot), feats[rows.to(feats.device)], torch.full((k,), slot)).float()

    model.restyled = restyled


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("--labels", choices=["truth", "reader"], default="truth")
    p.add_argument("--push", type=float, nargs="+", default=[1.0])
    p.add_argument("--mode", default="means", choices=["shipped", "means", "replace", "nearest", "residual-means",
                                                       "old-residual", "style-maps"],
                   help="shipped: the shipped path at style_strength = each --push")
    p.add_argument("--faces", type=int, default=4000, help="calibration faces drawn (those wearing it count)")
    p.add_argument("--names", nargs="+", default=list(NAMED))
    p.add_argument("--ridge", type=float, default=1.0, help="the style maps' ridge penalty")
    a = p.parse_args()
    cpu, oracle, images, attrs, _ = eval_set()
    reader = load_oracle("weights/reader.safetensors").eval() if a.labels == "reader" else None
    model = prepared_model(a.weights)  # the calibration capsules or maps depend on the file alone: once for every push
    if a.mode == "style-maps":  # the maps stand where the bank would (no styles list needed)
        banks = {model.slot(n, True): (style_maps(model, n, a.faces, a.ridge), torch.zeros(0)) for n in a.names}
    elif a.mode != "shipped":
        banks = {model.slot(n, True): style_capsules(model, n, a.faces, a.labels, reader, a.mode == "residual-means")
                 for n in a.names}
    for push in a.push:
        model, t0, label = prepared_model(a.weights), time.time(), f"{a.mode} x{push}"  # a fresh restyled each push
        if a.mode == "shipped":
            model.cfg = dataclasses.replace(model.cfg, style_strength=push)
        else:
            use_style_means(model, banks, push, a.mode)
        row = []
        for shift in (0, 1, 2):
            with torch.inference_mode():
                r = style_metrics(model, oracle, images, attrs, tuple(a.names), N_STYLE, TEST_SEED + 77 * shift, 100,
                                  cpu)
            row.append(r)
        for n in a.names:
            d = [r["style_diversity"][n] for r in row]
            print(f"{label} ({a.labels}) {n:12s} styles {' / '.join(f'{v:.2f}' for v in d)} (mean {sum(d) / 3:.2f}), "
                  f"present {sum(r['style_presence'][n] for r in row) / 3:.3f}, kept "
                  f"{sum(r['style_kept'][n] for r in row) / 3:.4f}, of the input "
                  f"{sum(r['style_input_kept'][n] for r in row) / 3:.4f}", flush=True)
        print(f"  {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
