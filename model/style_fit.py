"""Style residuals fitted per style: n resamples of a face take the styles in turn (`vcn style-fit`, session 24).

A resample's capsule is the maps' prediction for the face plus style_strength times one of the transfer fit's
residuals (CapsuleEdits._style_residual), and n resamples take the residuals' clusters in turn. The fit's residuals
are what training faces' capsules happened to be: of Bangs' four cuts, two came from a tenth of the draws each
(docs/recipes-sessions-19-20.md), so 10 resamples missed one cut on a face about a third of the time. Here, once
after training, for every style attribute the calibration reader has a style head for, a few residuals per style are
fitted instead: each starts from the fit's residual the reader sees draw that style most often, and Adam moves it so
that, drawn onto unseen training-seed faces wearing the attribute as a resample draws it, the reader reads that
style with the attribute present and every other attribute as on the face's reconstruction (without that term
Smiling's fitted resamples kept 89 % of the rest, its shipped ones 99 %); a penalty keeps its norm within the fit's
own (95th percentile), so it stays a capsule the decoder has seen the like of. The fitted residuals replace their
starts in the file, and the slot's clusters become the styles in turn (cluster k holds style k mod S), so 10
resamples show every style of an attribute with up to 10 of them. Only residuals move: no network weight changes
and reconstructions draw as before; an edit that switches an attribute on adds transfer_variety times one of the
slot's residuals drawn at random, now and then a fitted one (R of its T).

The reader is a calibration reader (weights/reader.safetensors), never the evaluation oracle; what the oracle then
reads is in docs/recipes-sessions-23-24.md (session 24).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.capsule_edits import STYLE_CLUSTERS, residual_clusters
from model.readings import to_input
from model.style_clusters import with_style_clusters

PER_STYLE = 4  # residuals fitted per style: the clusters of a style each get one or more
STEPS = 150  # Adam steps per attribute (Bangs: the reader reads every style on every fitting face by ~25-75)
FACES = 64  # fitting faces per attribute, BATCH_FACES of them a step
BATCH_FACES = 6
LR = 0.05
NORM_QUANTILE = 0.95  # a fitted residual's norm is held below this quantile of the fit's own
NORM_WEIGHT = 10.0
KEEP_WEIGHT = 1.0  # the reader's other attributes held at their reading of the reconstruction (summed over them)
KEPT_SLACK = 0.005  # the guard: a fit may cost the rest kept (the reader's style_kept) at most this much,
PRESENT_SLACK = 0.01  # and the attribute's presence after a resample (style_presence) at most this much


class StyleReading(NamedTuple):
    styles: float  # distinct styles in 10 resamples, mean over faces
    kept: float  # share of the rest of the face kept
    present: float  # share of resamples still showing the attribute


class FittedStyles(NamedTuple):
    slot: int
    indices: Tensor  # (R,) long: the residuals of the slot they replace (their starts)
    residuals: Tensor  # (R, D)
    styles: Tensor  # (R,) long: the style each was fitted to draw


def drawn(model: nn.Module, c: Tensor, ctx: Tensor, mask: Tensor, pred: Tensor, slot: int, residuals: Tensor) -> Tensor:
    """Every residual (R, D) drawn onto every face (c (F, K, D), ctx (F, Dc), mask (F, K), pred (F, D): the maps'
    capsule of `slot` for each) as a resample draws it (CapsuleEdits.restyled) -> images (F * R, C, H, W), face
    by face."""
    f, r = len(c), len(residuals)
    caps = c.repeat_interleave(r, 0).clone()
    caps[:, slot] = pred.repeat_interleave(r, 0) + model.cfg.style_strength * residuals.repeat(f, 1)
    m = mask.repeat_interleave(r, 0)
    return model.decode(caps, m, ctx.repeat_interleave(r, 0), mask_input=m)


def style_targets(reader: nn.Module, name: str, per_style: int) -> Tensor:
    """(S * P,) long: the style each fitted residual of `name` draws, P of each in order: per_style, or as many as a
    style has clusters (turn_clusters) when that is more, so that no cluster is left empty (an empty cluster's turn
    would draw any residual of the slot)."""
    n = reader.cfg.style_counts[reader.cfg.style_names.index(name)]
    return torch.arange(n).repeat_interleave(max(per_style, -(-STYLE_CLUSTERS // n)))


def fit_style(model: nn.Module, reader: nn.Module, x: Tensor, name: str, per_style: int = PER_STYLE,
              steps: int = STEPS, batch_faces: int = BATCH_FACES, lr: float = LR, seed: int = 0,
              log: Callable[[str], None] | None = None) -> FittedStyles:
    """Residuals of `name`'s present capsule fitted to draw each of its styles, read by `reader` on faces x
    (F, C, H, W) that wear it (module docstring)."""
    col, slot = list(reader.cfg.attribute_names).index(name), model.slot(name, True)
    others = torch.arange(len(reader.cfg.attribute_names)) != col
    s_idx = reader.cfg.style_names.index(name)
    target = style_targets(reader, name, per_style)
    with torch.no_grad():
        c, ctx, mask, _ = model._posterior(x)
        ref = torch.sigmoid(reader(model.decode(c, mask, ctx))[0].float()[:, others])  # the rest, as reconstructed
        slots = torch.full((len(x),), slot)
        pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)
        bank = model.transfer_residual[slot].detach().float()  # (T, D)
        cap = bank.norm(dim=1).quantile(NORM_QUANTILE)
        beliefs = sum(torch.softmax(reader(drawn(model, c[f : f + 1], ctx[f : f + 1], mask[f : f + 1],
                                                 pred[f : f + 1], slot, bank))[1][s_idx].float(), -1)
                      for f in range(min(8, len(x))))
    starts = _distinct_starts(beliefs, target)
    residuals = bank[starts].clone().requires_grad_(True)
    opt = torch.optim.Adam([residuals], lr=lr)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        pick = torch.randperm(len(x), generator=g)[:batch_faces]
        attr_logits, style_logits, _ = reader(drawn(model, c[pick], ctx[pick], mask[pick], pred[pick], slot, residuals))
        styles, attr_logits = target.repeat(len(pick)), attr_logits.float()
        loss = (F.cross_entropy(style_logits[s_idx].float(), styles)
                + F.binary_cross_entropy_with_logits(attr_logits[:, col], torch.ones(len(styles)))
                + KEEP_WEIGHT * F.binary_cross_entropy_with_logits(
                    attr_logits[:, others], ref[pick].repeat_interleave(len(target), 0), reduction="none").sum(1).mean()
                + NORM_WEIGHT * (residuals.norm(dim=1) - cap).clamp(min=0).pow(2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log and (step + 1) % 50 == 0:
            hits = (style_logits[s_idx].argmax(-1) == styles).float().mean()
            log(f"  {name} step {step + 1}: loss {loss.item():.3f}, reader reads the fitted style on {hits:.2f}")
    return FittedStyles(slot, starts, residuals.detach().to(model.transfer_residual.dtype), target)


def _distinct_starts(beliefs: Tensor, target: Tensor) -> Tensor:
    """beliefs (T, S) of the fit's residuals -> (R,) distinct residual indices: for each target style in turn, the
    residual not yet taken whose drawings the reader believes that style most."""
    taken = torch.zeros(len(beliefs), dtype=torch.bool)
    out = []
    for s in target.tolist():
        i = int(beliefs[:, s].masked_fill(taken, -1.0).argmax())
        taken[i] = True
        out.append(i)
    return torch.tensor(out)


def turn_clusters(fitted: FittedStyles, t: int, n_styles: int) -> Tensor:
    """(T,) long cluster ids of a slot: cluster k holds residuals of style k mod n_styles (each style's residuals
    spread over its clusters), every residual not fitted in none (STYLE_CLUSTERS), so n resamples take the styles in
    turn."""
    out = torch.full((t,), STYLE_CLUSTERS, dtype=torch.long)
    for s in range(n_styles):
        own = list(range(s, STYLE_CLUSTERS, n_styles)) or [s % STYLE_CLUSTERS]
        for j, i in enumerate(fitted.indices[fitted.styles == s].tolist()):
            out[i] = own[j % len(own)]
    return out


def reader_styles(model: nn.Module, reader: nn.Module, images: Tensor, attrs: Tensor, name: str,
                  paste: bool = False) -> StyleReading:
    """What the reader reads of 10 resamples of `name` on each face of images (uint8 (N, H, W, 3)) whose attrs
    show it (up to 30 of them): vcn eval's style protocol (model.edit_metrics.style_metrics), the reader in the
    oracle's place; paste: the resamples pasted onto the input, and the rest kept read against the input itself."""
    from model.calibrate import CALIBRATION_SEED
    from model.edit_metrics import style_metrics

    r = style_metrics(model, reader, images, attrs, (name,), 30, CALIBRATION_SEED, 100, model.device, paste)
    kept = r["style_input_kept" if paste else "style_kept"][name]
    return StyleReading(r["style_diversity"][name], kept, r["style_presence"][name])


def improves(before: StyleReading, after: StyleReading, present_slack: float = PRESENT_SLACK) -> bool:
    """The guard: no fewer styles, no less of the rest kept or of the attribute present than the slacks allow, and
    more styles or more of the rest kept."""
    tie = 1e-6  # readings are counts over 300 resamples: a drop of exactly a slack is within it, whatever the rounding
    no_worse = (after.styles >= before.styles - tie and after.kept >= before.kept - KEPT_SLACK - tie
                and after.present >= before.present - present_slack - tie)
    return no_worse and (after.styles > before.styles or after.kept > before.kept)


def with_fitted_styles(model: nn.Module, reader: nn.Module, images: Tensor, attrs: Tensor, n_faces: int = FACES,
                       guard: bool = True, log: Callable[[str], None] | None = None,
                       names: Collection[str] | None = None, present_slack: float = PRESENT_SLACK,
                       **fit_kw) -> nn.Module:
    """A copy of a VCN with transfer maps whose resamples take styles in turn from residuals fitted per style,
    for every style attribute the reader reads (or those of them in `names`), the model has and the maps were
    fitted for. Each is fitted on the first n_faces of images (uint8 (N, H, W, 3)) whose attrs (N, A) bool show it
    (half of them when there are fewer than 2 * n_faces) and, with guard, kept only where resamples of the next 30
    (reader_styles) read better by the reader (improves, with present_slack: Lipstick's fitted residuals, say, drew
    fewer styles; Wearing_Hat's as many, but kept more of the rest). Every other slot keeps the file's clusters (or
    residual_clusters)."""
    if not model.cfg.transfer_maps:
        raise ValueError("fitted styles replace the transfer fit's residuals: the model has no transfer maps")
    unknown = set(names or ()) - set(reader.cfg.style_names)
    if unknown:
        raise ValueError(f"the reader has no style heads for {sorted(unknown)}; "
                         f"it reads {list(reader.cfg.style_names)}")
    stored = model.cfg.style_clusters == "reader" and model.style_cluster.numel()
    clusters = model.style_cluster.long() if stored else residual_clusters(model.transfer_residual)
    out = with_style_clusters(model, clusters)
    out.requires_grad_(False)
    reader.requires_grad_(False)
    capsules = list(model.cfg.capsule_names)
    for name in reader.cfg.style_names:
        if name not in capsules or names is not None and name not in names:
            continue
        slot = model.slot(name, True)
        wearers = attrs[:, capsules.index(name)].nonzero().squeeze(1)
        n_fit = min(n_faces, len(wearers) // 2)
        wanted = len(style_targets(reader, name, fit_kw.get("per_style", PER_STYLE)))
        if n_fit < 2 or wanted > out.transfer_residual.shape[1] or not bool(model.mapped(torch.tensor([slot]))[0]):
            continue  # too few faces wear it, too few residuals to replace, or no maps for it
        fitted = fit_style(out, reader, to_input(images[wearers[:n_fit]], model.device), name, log=log, **fit_kw)
        check = wearers[n_fit : n_fit + 30]
        before = reader_styles(out, reader, images[check], attrs[check], name) if guard else None
        was = out.transfer_residual[slot].clone(), out.style_cluster[slot].clone()
        out.transfer_residual[slot, fitted.indices] = fitted.residuals
        out.style_cluster[slot] = turn_clusters(fitted, out.style_cluster.shape[1],
                                                reader.cfg.style_counts[reader.cfg.style_names.index(name)])
        after = reader_styles(out, reader, images[check], attrs[check], name) if guard else None
        better = not guard or improves(before, after, present_slack)
        if not better:
            out.transfer_residual[slot], out.style_cluster[slot] = was
        if log and guard:
            log(f"{name}: the reader reads {before.styles:.2f} -> {after.styles:.2f} distinct styles in 10 resamples "
                f"of {len(check)} faces, the rest kept {before.kept:.4f} -> {after.kept:.4f}, still present "
                f"{before.present:.3f} -> {after.present:.3f}: {'fitted' if better else 'kept as it was'}")
    return out
