"""Random draws that depend only on a seed: one generator for a whole batch, or one per row.

Every random draw of an operation comes from CPU generators seeded by the caller (then moves to the
device), so the same seed gives the same picture on any device. A batch drawn from one generator makes
row i depend on the rows before it; with one seed per row, each row draws from its own generator, in the
same order and amounts as it would alone, so a face's edit is the same whether the server ran it alone or
batched with other requests (app/batching.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# One generator for every row of a batch, or one per row (a row's draws come from its own).
Draws = torch.Generator | tuple[torch.Generator, ...]


def generators(seed: int | Sequence[int] | Draws, rows: int | None = None) -> Draws:
    """A seed -> one generator; a sequence of seeds -> one generator per row (``rows`` of them, if given).
    Generators pass through."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, Sequence):
        if rows is not None and len(seed) != rows:
            raise ValueError(f"seed: {len(seed)} seeds for {rows} images")
        return tuple(s if isinstance(s, torch.Generator) else torch.Generator().manual_seed(int(s)) for s in seed)
    return torch.Generator().manual_seed(int(seed))


def _per_row(shape: Sequence[int], g: tuple[torch.Generator, ...]) -> None:
    if not shape or shape[0] != len(g):
        raise ValueError(f"a draw of shape {tuple(shape)} from {len(g)} per-row generators")


def normal(shape: Sequence[int], g: Draws) -> Tensor:
    """Standard normal draws of ``shape`` (N, ...) on the CPU; per-row generators draw one row each."""
    if isinstance(g, torch.Generator):
        return torch.randn(tuple(shape), generator=g)
    _per_row(shape, g)
    # (1, *rest) per row, the very shape a lone row draws: CPU randn picks its method by element count
    return torch.cat([torch.randn((1, *shape[1:]), generator=r) for r in g])


def uniform(n: int, g: Draws) -> Tensor:
    """(n,) uniform draws in [0, 1) on the CPU; per-row generators draw one each."""
    if isinstance(g, torch.Generator):
        return torch.rand(n, generator=g)
    _per_row((n,), g)
    return torch.cat([torch.rand(1, generator=r) for r in g])
