"""Grow a trained compact generator to more channels without changing what it draws (Net2Net-style widening).

Why: a decoder-only fine-tune of the shipped faces model stops short of drawing all four of Bangs' cuts: every one
of the 256 stored residuals drawn onto each face shows 3.77 cuts a face at most (docs/recipes-sessions-21-22.md,
session 22), and its 64x64 layer has 32 channels to draw a fringe with. Training a wider decoder from scratch would
throw away fifteen stages of training; widening keeps them. Each new channel is computed from all inputs (fresh
default init, so it carries a signal and gets gradients) but feeds nothing yet: its outgoing weights are zero. The
widened net draws exactly what the old one drew, in train and eval mode alike, and training decides what the new
channels add.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from model.config import VCNConfig


def _paste(new: torch.Tensor, old: torch.Tensor) -> None:
    """Copy old into new's leading block (new at least as large in every dim)."""
    new[tuple(slice(0, n) for n in old.shape)] = old


@torch.no_grad()
def widen_generator(model: nn.Module, min_width: int) -> nn.Module:
    """A copy of `model` (a compact VCN) whose generator has at least `min_width` channels per layer
    (cfg.generator_min_width), drawing the same images: old weights in the leading blocks, new channels' incoming
    weights freshly initialised, their outgoing weights zero. Everything outside the generator is copied as is."""
    from model.vcn import VCN  # late import: vcn imports this package's networks

    cfg: VCNConfig = model.cfg
    if cfg.arch != "compact":
        raise ValueError(f"only the compact generator widens, not {cfg.arch!r}")
    if min_width < cfg.generator_min_width:
        raise ValueError(f"cannot narrow the generator ({cfg.generator_min_width} -> {min_width})")
    wide = VCN(dataclasses.replace(cfg, generator_min_width=min_width)).to(next(model.parameters()).device)
    old_state = {k: v for k, v in model.state_dict().items() if not k.startswith("generator.")}
    wide.load_state_dict(old_state, strict=False)
    old_modules = dict(model.generator.named_modules())
    for name, new in wide.generator.named_modules():
        old = old_modules[name]
        if isinstance(new, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # ConvTranspose2d keeps (in, out, k, k); the others (out, in, ...)
            in_dim = 0 if isinstance(new, nn.ConvTranspose2d) else 1
            n_in = old.weight.shape[in_dim]
            new.weight.narrow(in_dim, n_in, new.weight.shape[in_dim] - n_in).zero_()  # new channels feed nothing
            _paste(new.weight, old.weight)
            if new.bias is not None:
                _paste(new.bias, old.bias)
        elif isinstance(new, nn.BatchNorm2d):
            for key in ("weight", "bias", "running_mean", "running_var"):
                _paste(getattr(new, key), getattr(old, key))
            new.num_batches_tracked.copy_(old.num_batches_tracked)
    wide.metadata = dict(getattr(model, "metadata", {}))
    return wide.train(model.training)
