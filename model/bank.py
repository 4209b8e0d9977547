"""The capsule bank: capsules seen in training, to draw from instead of the prior.

The paper draws a capsule the image never had from N(0, I). But the capsules' aggregate posterior is not
N(0, I) ("prior holes"), so a prior draw can be something the decoder never saw, and an edit or a new
style then fails to show. The bank keeps, for every capsule slot, up to `size` posterior means from
training images where that capsule was active (and as many context vectors); `VCN.draw` picks from it.
This is sampling from the empirical aggregate posterior, stated as such in the API docs; the prior stays
available with `model.capsule_source = "prior"`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from model.capsules import active_mask
from model.vcn import VCN


def build_capsule_bank(model: VCN, images: Tensor, size: int = 256, batch_size: int = 256) -> VCN:
    """Encode images (N, C, H, W) (uint8 or float in [0, 1]) and return a copy of the model whose config
    has bank_size=size and whose bank holds, per capsule slot, the first `size` posterior means where the
    model itself read that capsule as active (no labels needed)."""
    cfg = dataclasses.replace(model.cfg, bank_size=size)
    out = model.rebuilt(cfg, fresh=("bank", "ctx_bank"))
    k, d = cfg.num_capsules, cfg.capsule_dim
    bank = torch.zeros(k, size, d, device=model.device)
    count = torch.zeros(k, dtype=torch.long)
    ctx_rows: list[Tensor] = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(model.device)
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        with torch.inference_mode():  # only here: the returned model must stay a normal (trainable) module
            caps = model.encode(x)
        mask = active_mask(caps.kl, cfg.kind).bool()
        for slot in range(k):
            room = size - int(count[slot])
            if room <= 0:
                continue
            rows = caps.mu[mask[:, slot], slot][:room]
            bank[slot, count[slot] : count[slot] + rows.shape[0]] = rows.float()
            count[slot] += rows.shape[0]
        ctx_rows.append(caps.ctx_mu.float())
        if bool((count >= size).all()) and sum(r.shape[0] for r in ctx_rows) >= size:
            break
    ctx = torch.cat(ctx_rows)[:size].clone()
    bank = bank.clone()
    out.bank.copy_(bank)
    out.bank_count.copy_(count)
    out.ctx_bank[: ctx.shape[0]].copy_(ctx)
    if ctx.shape[0] < size:  # fewer images than the bank size: repeat what there is
        out.ctx_bank[ctx.shape[0] :].copy_(ctx[torch.arange(size - ctx.shape[0]) % max(1, ctx.shape[0])])
    out.capsule_source = "bank"
    return out.eval()
