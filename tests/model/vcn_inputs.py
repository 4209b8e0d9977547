"""Tiny untrained VCNs and inputs for the model/vcn.py tests (test_vcn.py, test_vcn_edit_rules.py).

An untrained encoder calls every attribute present for every image, so the multilabel models used for the
operations wrap their real encoder in ChosenStates: the test picks each image's on/off states through one
pixel per attribute (state_images). generator_inputs records what the generator is asked to draw.
"""

from contextlib import contextmanager

import torch
from torch import nn

from model.config import VCNConfig
from model.vcn import VCN

ML = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b", "c"), width=8, capsule_dim=4,
               context_dim=3)
MC = VCNConfig(arch="mnist", kind="multiclass", capsule_names=("0", "1", "2", "3"), image_size=28, channels=1,
               capsule_dim=4, context_dim=0, width=8, dataset="mnist")


def tiny_model(cfg: VCNConfig) -> VCN:
    torch.manual_seed(0)
    return VCN(cfg).eval()


def state_images(cfg: VCNConfig, n: int, seed: int, states: list[list[int]] | None = None) -> torch.Tensor:
    """Random images; with `states` (n, A), pixel (0, 0, a) of channel 0 sets attribute a (ChosenStates)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, cfg.channels, cfg.image_size, cfg.image_size), generator=g)
    if states is not None:
        x[:, 0, 0, : cfg.num_names] = 0.1 + 0.8 * torch.tensor(states, dtype=torch.float32)
    return x


class ChosenStates(nn.Module):
    """The real encoder, plus: attribute a is present iff pixel (0, 0, a) of channel 0 is above 0.5 (the
    capsule of the pair that should be off is pushed 4 units from the prior, KL ~ 8 * D)."""

    def __init__(self, encoder: nn.Module, num_names: int):
        super().__init__()
        self.inner = encoder
        self.num_names = num_names

    def forward(self, x):
        mu, logvar, ctx_mu, ctx_logvar = self.inner(x)
        present = (x[:, 0, 0, : self.num_names] > 0.5).float()
        off = torch.stack([1.0 - present, present], -1).flatten(1)  # (B, K), interleaved present/absent
        return mu + 4.0 * off.unsqueeze(-1), logvar, ctx_mu, ctx_logvar



@contextmanager
def generator_inputs(model: VCN):
    """Collects (masked capsules, context) for every generator call inside the block."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(_module, args):
        seen.append((args[0].clone(), args[1].clone()))

    hook = model.generator.register_forward_pre_hook(record)
    try:
        yield seen
    finally:
        hook.remove()


def active_rows(caps: torch.Tensor) -> torch.Tensor:
    """(B, K, D) masked capsules -> (B, K) bool: which capsules the generator actually sees."""
    return (caps != 0).any(-1)


def in_row_order(seen: list[tuple[torch.Tensor, torch.Tensor]], moved: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """VCN.swap decodes the faces whose states change apart from those that only restyle, in that order: the
    (capsules, context) of its generator calls (generator_inputs, no blend) put back in the faces' order."""
    caps, ctx = torch.cat([c for c, _ in seen]), torch.cat([x for _, x in seen])
    m = torch.tensor(moved)
    order = torch.cat([m.nonzero(), (~m).nonzero()]).squeeze(1)
    assert len(order) == len(caps), "one generator row per face expected"
    by_row_caps, by_row_ctx = torch.empty_like(caps), torch.empty_like(ctx)
    by_row_caps[order], by_row_ctx[order] = caps, ctx
    return by_row_caps, by_row_ctx
