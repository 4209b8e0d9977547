"""The editing metrics, judged by an oracle: edit_success and what an edit keeps (STGAN's protocol), and the
styles a resample draws. model/evaluate.py's module docstring defines each figure; `vcn eval` reports them,
model/calibrate.py and model/counterfactual.py reuse them with another reader or another editor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from model.metrics import named
from model.oracle import Oracle, OracleReading
from model.readings import on_cpu, read_map, take, to_input

RESAMPLES = 10  # style_diversity: resamples per face
KEEP_TOLERANCE = 0.1  # a nuisance reading counts as kept within this absolute difference
# Seeds: edits use seed + 1000 * (2 * attribute + target) + chunk, the other draws their own ranges.
STYLE_SEEDS, SAMPLE_SEEDS = 100_000, 200_000


def kept_counts(oracle: Oracle, ref: OracleReading, got: OracleReading, counted: Tensor,
                 nuisance_counted: Tensor | None = None) -> tuple[int, int, int, int]:
    """What a change left as it was, the edit_preservation way: (attributes read the same, attributes counted,
    nuisance factors within KEEP_TOLERANCE, nuisance factors counted). ref / got: readings (B, ...) of the
    reconstructions and of the changed images; counted (B, A) or (A,) bool: the attributes that should not
    change; nuisance factors count where visible on both (and in nuisance_counted (N,) if given)."""
    counted = counted.expand_as(ref.attrs)
    kept, visible = nuisance_kept(oracle, ref, got)
    if nuisance_counted is not None:
        kept, visible = kept & nuisance_counted, visible & nuisance_counted
    return int(((got.attrs == ref.attrs) & counted).sum()), int(counted.sum()), int(kept.sum()), int(visible.sum())


def tally(kept: dict[str, list[int]], prefix: str, counts: tuple[int, int, int, int]) -> None:
    """Add kept_counts' (attributes kept, counted, nuisance kept, counted) to kept[prefix + "attr" / "nuisance"]."""
    for key, pair in ((f"{prefix}attr", counts[:2]), (f"{prefix}nuisance", counts[2:])):
        kept[key][0] += pair[0]
        kept[key][1] += pair[1]


def nuisance_kept(oracle: Oracle, ref: OracleReading, got: OracleReading) -> tuple[Tensor, Tensor]:
    """(kept, counted), both (B, N) bool: a nuisance factor counts where the oracle can see it in both images
    (no hat hiding the hair tone) and is kept where the two readings are within KEEP_TOLERANCE."""
    visible = oracle.nuisance_visible(ref.attrs) & oracle.nuisance_visible(got.attrs)
    return visible & ((got.nuisance - ref.nuisance).abs() < KEEP_TOLERANCE), visible


def preservation(kept: dict[str, list[int]], prefix: str) -> float | None:
    """The attributes and nuisance factors kept, together, of those counted in kept[prefix + "attr" / "nuisance"]
    (tally's [kept, counted] pairs); None where nothing was counted."""
    got, counted = (kept[f"{prefix}attr"][i] + kept[f"{prefix}nuisance"][i] for i in (0, 1))
    return got / counted if counted else None


def references(model: nn.Module, oracle: Oracle, images: Tensor, batch_size: int, device: torch.device
               ) -> tuple[OracleReading, OracleReading]:
    """The oracle's readings of the model's reconstructions of images and of the images themselves: what an edit
    or a swap is counted as keeping against (edit_metrics, swap_metrics)."""
    recon, _ = read_map(oracle, lambda x, i: model.reconstruct(x), images, batch_size, device)
    inputs, _ = read_map(oracle, lambda x, i: x, images, batch_size, device)
    return recon, inputs


@torch.inference_mode()
def edit_readings(model: nn.Module, oracle: Oracle, images: Tensor, batch: Any, seed: int, batch_size: int,
                  device: torch.device, paste: bool = False) -> Iterator[tuple[int, bool, Tensor, OracleReading,
                                                                               Tensor]]:
    """The STGAN protocol's edits, read by the oracle: every attribute a of every face that is not in state target
    flipped to it in turn, with vcn eval's seeds. Yields (a, target, idx (k,) the faces edited, the oracle's reading
    of their edits, free (k, A) bool: the attributes the flip does not force, those counted as to be kept)."""
    from model.data import faces

    names = tuple(model.cfg.capsule_names)
    gt = torch.as_tensor(batch.attrs).bool()
    how = {"paste": True} if paste else {}  # only VCN.edit knows the flag
    for a, name in enumerate(names):
        forced = torch.as_tensor(faces.flip(batch, name).attrs).bool() != gt  # (M, A), includes a itself
        for target in (True, False):
            idx = (gt[:, a] != target).nonzero().squeeze(1)
            if len(idx) == 0:
                continue
            seed_of = seed + 1000 * (2 * a + int(target))

            def make(x: Tensor, i: int, name: str = name, target: bool = target, s0: int = seed_of) -> Tensor:
                return model.edit(x, {name: target}, seed=s0 + i, **how)

            edited, _ = read_map(oracle, make, images[idx], batch_size, device)
            yield a, target, idx, edited, ~forced[idx]


@torch.inference_mode()
def edit_metrics(model: nn.Module, oracle: Oracle, images: Tensor, batch: Any, seed: int, batch_size: int,
                 device: torch.device, paste: bool = False,
                 refs: tuple[OracleReading, OracleReading] | None = None) -> dict[str, Any]:
    """STGAN-style edits: every attribute of every face flipped in turn (see the module docstring).

    images uint8 (M, H, W, 3), batch: the FaceBatch of those M faces. paste: the edits are pasted onto the
    input (VCN.edit's paste). refs: `references` of these images, if already read."""
    names = tuple(model.cfg.capsule_names)
    gt = torch.as_tensor(batch.attrs).bool()
    recon, inputs = refs or references(model, oracle, images, batch_size, device)
    style_of = torch.tensor(oracle.style_index, dtype=torch.long)
    success = torch.zeros(len(names), dtype=torch.float64)
    tried = torch.zeros(len(names), dtype=torch.float64)
    # [kept, counted]; input_*: read the same on the edit as on the input image rather than its reconstruction
    kept = {k: [0, 0] for k in ("attr", "nuisance", "style", "input_attr", "input_nuisance", "input_style")}
    for a, target, idx, edited, free in edit_readings(model, oracle, images, batch, seed, batch_size, device, paste):
        success[a] += float((edited.attrs[:, a] == target).sum())
        tried[a] += len(idx)
        ref = take(recon, idx)  # the reconstruction's reading
        tally(kept, "", kept_counts(oracle, ref, edited, free))
        tally(kept, "input_", kept_counts(oracle, take(inputs, idx), edited, free))
        for key, seen in (("style", ref), ("input_style", take(inputs, idx))):
            if len(style_of):  # style ids of the unforced style attributes present on both
                both = seen.attrs[:, style_of] & edited.attrs[:, style_of] & free[:, style_of]
                kept[key][0] += int(((edited.styles == seen.styles) & both).sum())
                kept[key][1] += int(both.sum())
    share = {k: (v[0] / v[1] if v[1] else None) for k, v in kept.items()}
    per_attribute = success / tried.clamp(min=1)
    return {
        "edit_success": float(success.sum() / tried.sum().clamp(min=1)),
        "edit_success_per_attribute": named(names, per_attribute),
        "edit_preservation": preservation(kept, ""),
        "attribute_preservation": share["attr"],
        "nuisance_preservation": share["nuisance"],
        "style_preservation": share["style"],
        "input_preservation": preservation(kept, "input_"),
        "input_attribute_preservation": share["input_attr"],
        "input_nuisance_preservation": share["input_nuisance"],
        "input_style_preservation": share["input_style"],
        "pasted": paste,
        "reconstruction_accuracy": float((recon.attrs == gt).float().mean()),
        "n_edit": len(images),
        "n_edits": int(tried.sum()),
    }


@torch.inference_mode()
def style_metrics(model: nn.Module, oracle: Oracle, images: Tensor, attrs: Tensor, styles: tuple[str, ...],
                  n_style: int, seed: int, batch_size: int, device: torch.device, paste: bool = False
                  ) -> dict[str, Any]:
    """Per style attribute: the first n_style test faces that have it, RESAMPLES draws of its capsule each,
    read by the oracle. Returns style_diversity, style_presence, style_faces, and style_kept: the share of
    the other attributes and of the visible nuisance factors (but the attribute's own, such as a hat's
    colour) read as in the face's reconstruction, as edit_preservation counts them (the issue's "with the
    rest preserved"); style_input_kept: the same share read as in the input image itself; style_reconstructed:
    the share of those faces whose reconstruction the oracle reads with the input's own style (of those it reads
    the attribute on in both: a decoder that draws many styles from resamples but not the face's own fails here,
    and every edit of the face then changes its style). paste: the resamples pasted onto the input (VCN.edit's
    paste).

    model.resample(x, a, n, seed) is model.edit(x repeated n times, resample=[a], seed); the faces of a
    chunk go through one such edit together (batches of 10 run 3-4x slower per image on a CPU)."""
    names = tuple(model.cfg.capsule_names)
    diversity, presence, counts, kept, input_kept, reconstructed = {}, {}, {}, {}, {}, {}
    how = {"paste": True} if paste else {}  # only VCN.edit knows the flag
    per_chunk = max(1, batch_size // RESAMPLES)
    for k, name in enumerate(styles):
        a, s = names.index(name), oracle.cfg.style_names.index(name)
        others = torch.arange(len(names)) != a
        own_nuisance = torch.zeros(len(oracle.cfg.nuisance_names), dtype=torch.bool)
        for j, cond_attr, _ in oracle.conditions:
            own_nuisance[j] |= cond_attr == a
        idx = attrs[:, a].bool().nonzero().squeeze(1)[:n_style]
        distinct, present_share, same, same_in, own = [], [], [0, 0], [0, 0], [0, 0]
        for c, start in enumerate(range(0, len(idx), per_chunk)):
            group = idx[start : start + per_chunk]
            ref = on_cpu(oracle.read(model.reconstruct(to_input(images[group], device))))
            seen = on_cpu(oracle.read(to_input(images[group], device)))
            both = ref.attrs[:, a] & seen.attrs[:, a]
            own[0] += int(((ref.styles[:, s] == seen.styles[:, s]) & both).sum())
            own[1] += int(both.sum())
            x = to_input(images[group.repeat_interleave(RESAMPLES)], device)
            r = on_cpu(oracle.read(model.edit(x, resample=[name], seed=seed + STYLE_SEEDS + 1000 * k + c, **how)))
            each = torch.arange(len(group)).repeat_interleave(RESAMPLES)  # each face's reading, per resample
            for tally, against in ((same, take(ref, each)), (same_in, take(seen, each))):
                n_same, n_attr, n_close, n_nuisance = kept_counts(oracle, against, r, others, ~own_nuisance)
                tally[0] += n_same + n_close
                tally[1] += n_attr + n_nuisance
            for j in range(len(group)):
                present = r.attrs[j * RESAMPLES : (j + 1) * RESAMPLES, a]
                ids = r.styles[j * RESAMPLES : (j + 1) * RESAMPLES, s][present]
                distinct.append(len(torch.unique(ids)))
                present_share.append(float(present.float().mean()))
        diversity[name] = sum(distinct) / len(distinct) if distinct else None
        presence[name] = sum(present_share) / len(present_share) if present_share else None
        kept[name] = same[0] / same[1] if same[1] else None
        input_kept[name] = same_in[0] / same_in[1] if same_in[1] else None
        reconstructed[name] = own[0] / own[1] if own[1] else None
        counts[name] = int(len(idx))
    return {"style_diversity": diversity, "style_presence": presence, "style_faces": counts, "style_kept": kept,
            "style_input_kept": input_kept, "style_reconstructed": reconstructed}


def next_other(state: Tensor) -> Tensor:
    """state (M,) of anything comparable -> (M,) long: for each row the next row (cyclically) whose state
    differs from its own, or -1 where every row is in the same state. How a swap picks its donor."""
    rows = torch.arange(len(state))
    donor = torch.full((len(state),), -1, dtype=torch.long)
    for value in torch.unique(state):
        own, other = rows[state == value], rows[state != value]
        if len(other):
            donor[own] = other[torch.searchsorted(other, own, right=True) % len(other)]
    return donor


def _swapped_from(model: nn.Module, given: Tensor, name: str, batch_size: int, device: torch.device,
                  paste: bool) -> Callable[[Tensor, int], Tensor]:
    """read_map's make for swaps: chunk i of the faces takes `name` from chunk i of given (uint8 (M, H, W, 3))."""

    def make(x: Tensor, i: int) -> Tensor:
        return model.swap(x, to_input(given[i * batch_size : (i + 1) * batch_size], device), [name], paste=paste)

    return make


@torch.inference_mode()
def swap_metrics(model: nn.Module, oracle: Oracle, images: Tensor, batch: Any, batch_size: int,
                 device: torch.device, paste: bool = False,
                 refs: tuple[OracleReading, OracleReading] | None = None) -> dict[str, Any]:
    """The product's swap (model.swap): every attribute of every face taken from a donor in the other state,
    the next such face of the set (next_other), and read by the oracle. swap_success: the share read in the
    donor's state (and per attribute); swap_preservation and swap_input_preservation: what the swap kept of
    the reconstruction and of the input, counted as edit_preservation counts an edit's (the attributes
    faces.flip would force along with it are not counted).

    images uint8 (M, H, W, 3), batch: the FaceBatch of those M faces. paste: each swap pasted onto its face.
    refs: `references` of these images, if already read."""
    from model.data import faces

    names = tuple(model.cfg.capsule_names)
    gt = torch.as_tensor(batch.attrs).bool()
    recon, inputs = refs or references(model, oracle, images, batch_size, device)
    success = torch.zeros(len(names), dtype=torch.float64)
    tried = torch.zeros(len(names), dtype=torch.float64)
    kept = {k: [0, 0] for k in ("attr", "nuisance", "input_attr", "input_nuisance")}
    for a, name in enumerate(names):
        donor = next_other(gt[:, a])
        idx = (donor >= 0).nonzero().squeeze(1)
        if len(idx) == 0:
            continue
        forced = torch.as_tensor(faces.flip(batch, name).attrs).bool() != gt  # (M, A), includes a itself
        make = _swapped_from(model, images[donor[idx]], name, batch_size, device, paste)
        swapped, _ = read_map(oracle, make, images[idx], batch_size, device)
        success[a] += float((swapped.attrs[:, a] == gt[donor[idx], a]).sum())
        tried[a] += len(idx)
        tally(kept, "", kept_counts(oracle, take(recon, idx), swapped, ~forced[idx]))
        tally(kept, "input_", kept_counts(oracle, take(inputs, idx), swapped, ~forced[idx]))
    return {
        "swap_success": float(success.sum() / tried.sum().clamp(min=1)),
        "swap_success_per_attribute": named(names, success / tried.clamp(min=1)),
        "swap_preservation": preservation(kept, ""),
        "swap_input_preservation": preservation(kept, "input_"),
        "n_swaps": int(tried.sum()),
    }


@torch.inference_mode()
def style_swap_metrics(model: nn.Module, oracle: Oracle, images: Tensor, attrs: Tensor, styles: tuple[str, ...],
                       n_style: int, batch_size: int, device: torch.device, paste: bool = False) -> dict[str, Any]:
    """Per style attribute: the first n_style test faces that have it each take that attribute from the next of
    the first 2 * n_style such faces whose style the oracle reads as different (another pair of glasses onto
    this face: the page's swap). swap_style_transfer: the share of those swaps read with the donor's style (as
    the oracle reads it on the donor) and the attribute present; swap_style_presence: present at all."""
    names = tuple(model.cfg.capsule_names)
    transfer, presence = {}, {}
    for name in styles:
        a, s = names.index(name), oracle.cfg.style_names.index(name)
        pool = attrs[:, a].bool().nonzero().squeeze(1)[: 2 * n_style]
        transfer[name] = presence[name] = None
        if len(pool) < 2:
            continue
        seen, _ = read_map(oracle, lambda x, i: x, images[pool], batch_size, device)
        donor = next_other(seen.styles[:, s])[:n_style]
        rows = (donor >= 0).nonzero().squeeze(1)
        if len(rows) == 0:
            continue
        make = _swapped_from(model, images[pool[donor[rows]]], name, batch_size, device, paste)
        r, _ = read_map(oracle, make, images[pool[rows]], batch_size, device)
        shown = r.attrs[:, a]
        transfer[name] = float((shown & (r.styles[:, s] == seen.styles[donor[rows], s])).float().mean())
        presence[name] = float(shown.float().mean())
    return {"swap_style_transfer": transfer, "swap_style_presence": presence}
