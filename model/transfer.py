"""Capsule transfer maps: the capsule a switched-on attribute gets keeps the face's pose and background.

An edit masks an attribute's old capsule and activates its partner, whose value is drawn from the bank (a
capsule of another training face). But the context capsule of the shipped faces model collapsed, so pose,
brightness and background ride in attribute capsules, above all Smiling's and Mouth_Slightly_Open's (each is
active in one state or the other on every face): resampling the Smiling capsule alone moves every nuisance
factor, and a Smiling edit kept the face's nuisance in 35 % of readings (docs/recipes-history.md, session 5).

A transfer map predicts, per capsule slot s, the capsule the encoder gives *the same face* once the
attribute is flipped, linearly from the face's own capsules (the active one of every pair, including the
old one being replaced) and its context:

    c_new[s] = [features(x), 1] @ W[s] + variety * r,    r a residual of the fit (picked at random)

W comes from ridge regression in closed form on counterfactual pairs (x, x with one attribute flipped),
which only a renderer can make: the procedural faces have them, CelebA does not, so a CelebA model keeps
the plain bank. A nonlinear map (two-layer MLP) fitted no better on the same pairs (held-out R² 0.72 for
Smiling either way); what is left is mostly the new capsule's own style, which `variety` can add back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

from model.capsules import active_mask, transfer_features
from model.vcn import VCN


def ridge_solve(gram: Tensor, cross: Tensor, ridge: float) -> Tensor:
    """Ridge regression from accumulated sums: gram = X^T X (F, F), cross = X^T Y (F, D) -> W (F, D)
    minimising |XW - Y|^2 + ridge |W|^2, the last feature (the constant) unpenalised."""
    penalty = torch.full((gram.shape[0],), float(ridge), dtype=gram.dtype)
    penalty[-1] = 0.0
    return torch.linalg.solve(gram + torch.diag(penalty), cross)


@torch.inference_mode()
def fit_transfer(model: VCN, pairs: Iterable[tuple[Tensor, Tensor]], ridge: float = 1.0,
                 keep: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Fit one map per capsule slot from counterfactual pairs.

    pairs: batches (x, x_flipped), float (B, C, H, W) in [0, 1] on the model's device, x_flipped the same
    faces with one or more attributes flipped. Every slot active in x_flipped but not in x (as the model
    reads both) is a sample for that slot: features of x -> the slot's mean in x_flipped.
    Returns weight (K, F, D), residual (K, keep, D) (the first `keep` residuals per slot, cycled to fill
    when a slot has fewer; zeros for a slot never switched on) and r2 (K,) on the fitting samples (NaN
    where a slot had no sample). keep defaults to the model's bank_size (or 256). A pair whose x is the very
    tensor of the previous pair reuses its encoding (rendered_flip_pairs yields each base batch 40 times)."""
    k, d = model.cfg.num_capsules, model.cfg.capsule_dim
    keep = keep or model.cfg.bank_size or 256
    feats_dim = model.cfg.num_names * d + model.cfg.context_dim + 1
    gram = torch.zeros(k, feats_dim, feats_dim, dtype=torch.float64)
    cross = torch.zeros(k, feats_dim, d, dtype=torch.float64)
    samples: list[list[tuple[Tensor, Tensor]]] = [[] for _ in range(k)]  # first `keep` per slot, for residuals
    y_sum = torch.zeros(k, d, dtype=torch.float64)
    y_sq = torch.zeros(k, dtype=torch.float64)
    count = torch.zeros(k, dtype=torch.long)
    last_x = None
    for x, x_flipped in pairs:
        if x is not last_x:  # rendered_flip_pairs hands the same base batch with each of its 40 flips
            a = model.encode(x)
            mask_a = active_mask(a.kl, "multilabel")
            f = transfer_features(a.mu.float(), mask_a, a.ctx_mu.float()).double().cpu()
            last_x = x
        b = model.encode(x_flipped)
        mask_b = active_mask(b.kl, "multilabel")
        switched = ((mask_b > 0.5) & (mask_a < 0.5)).cpu()
        target = b.mu.double().cpu()
        for slot in switched.any(0).nonzero().squeeze(1).tolist():
            rows = switched[:, slot]
            fs, ys = f[rows], target[rows, slot]
            gram[slot] += fs.T @ fs
            cross[slot] += fs.T @ ys
            y_sum[slot] += ys.sum(0)
            y_sq[slot] += ys.pow(2).sum()
            count[slot] += len(ys)
            held = sum(len(s[1]) for s in samples[slot])
            if held < keep:
                samples[slot].append((fs[: keep - held], ys[: keep - held]))
    weight = torch.zeros(k, feats_dim, d, dtype=torch.float64)
    residual = torch.zeros(k, keep, d)
    r2 = torch.full((k,), float("nan"))
    for slot in range(k):
        n = int(count[slot])
        if n == 0:
            continue
        weight[slot] = ridge_solve(gram[slot], cross[slot], ridge)
        w = weight[slot]
        # Residual sum of squares from the sums: |Y|^2 - 2 tr(W^T X^T Y) + tr(W^T X^T X W).
        rss = y_sq[slot] - 2 * (w * cross[slot]).sum() + (w * (gram[slot] @ w)).sum()
        tss = y_sq[slot] - y_sum[slot].pow(2).sum() / n
        r2[slot] = float(1 - rss / tss.clamp(min=1e-12))
        fs, ys = (torch.cat(t) for t in zip(*samples[slot], strict=True))
        e = (ys - fs @ w).float()
        residual[slot] = e[torch.arange(keep) % len(e)]
    return weight.float(), residual, r2


def with_transfer(model: VCN, weight: Tensor, residual: Tensor, variety: float = 0.0) -> VCN:
    """A copy of the model whose config has transfer maps (cfg.transfer_maps, cfg.transfer_variety) and
    whose buffers hold them; edits then use them for every capsule they switch on."""
    cfg = dataclasses.replace(model.cfg, transfer_maps=residual.shape[1], transfer_variety=float(variety))
    out = model.rebuilt(cfg, fresh=("transfer",))
    out.transfer_weight.copy_(weight)
    out.transfer_residual.copy_(residual)
    return out.eval()


def rendered_flip_pairs(n: int, size: int, batch_size: int = 500, seed: int = 0, workers: int = 0,
                        device: torch.device | str = "cpu", cache: Path | None = None
                        ) -> Iterable[tuple[Tensor, Tensor]]:
    """Counterfactual pairs of procedural faces for fit_transfer: faces.sample_faces(seed, 0, n) (the
    training faces by default, never the test seed) and, for every attribute in turn, the same faces with
    it flipped (faces.flip, which also applies the renderer's exclusions), as float (B, 3, size, size).

    cache: a safetensors file of the renders (uint8; 4,000 faces at 64x64 are 2 GB). Read when it holds
    these n, size and seed, else rendered in full and written first: on a GPU machine the 164,000 renders
    are most of the fit's time, and several models fitted on the same faces need them only once."""
    if cache is not None:
        base, flipped = _flip_renders(n, size, seed, workers, Path(cache))
        for start in range(0, n, batch_size):
            x = _to_input(base[start : start + batch_size], device)
            for a in range(flipped.shape[0]):
                yield x, _to_input(flipped[a, start : start + batch_size], device)
        return
    x, last = None, None
    for _, base, _, flipped in _render_pairs(n, size, seed, workers, batch_size):
        if base is not last:  # a new chunk of faces: converted once for its 40 flips
            x, last = _to_input(base, device), base
        yield x, _to_input(flipped, device)


def _render_pairs(n: int, size: int, seed: int, workers: int, batch_size: int
                  ) -> Iterable[tuple[int, Tensor, int, Tensor]]:
    """(start, faces start.. as uint8 (B, 3, size, size), attribute index a, the same faces with attribute a
    flipped), chunk by chunk and attribute by attribute; one base tensor per chunk."""
    from model.data import faces

    def render(batch) -> Tensor:
        return torch.from_numpy(faces.render(batch, size, workers=workers)).permute(0, 3, 1, 2).contiguous()

    for start in range(0, n, batch_size):
        chunk = faces.sample_faces(seed, start, min(batch_size, n - start))
        base = render(chunk)
        for a, name in enumerate(faces.ATTRIBUTES):
            yield start, base, a, render(faces.flip(chunk, name))


def _to_input(pixels: Tensor, device: torch.device | str) -> Tensor:
    return pixels.to(device).float().div(255)


def _flip_renders(n: int, size: int, seed: int, workers: int, cache: Path) -> tuple[Tensor, Tensor]:
    """The cache's uint8 renders: base (n, 3, size, size) and flipped (attributes, n, 3, size, size)."""
    from model.checkpoint import read_checkpoint, save_checkpoint
    from model.data import faces

    if cache.is_file():
        t, meta = read_checkpoint(cache, role="flip_pairs")
        if (meta.get("n"), meta.get("size"), meta.get("seed")) == (n, size, seed):
            return t["base"], t["flipped"]
    base = torch.empty(n, 3, size, size, dtype=torch.uint8)
    flipped = torch.empty(len(faces.ATTRIBUTES), n, 3, size, size, dtype=torch.uint8)
    for start, chunk, a, chunk_flipped in _render_pairs(n, size, seed, workers, 500):
        base[start : start + len(chunk)] = chunk
        flipped[a, start : start + len(chunk)] = chunk_flipped
    save_checkpoint(cache, {"base": base, "flipped": flipped}, role="flip_pairs", n=n, size=size, seed=seed)
    return base, flipped
