"""Oracle readings of a set of images, chunk by chunk: what every evaluation and calibration loop shares.

Images come as the renderer gives them (uint8 (N, H, W, C)) or as float (N, C, H, W) in [0, 1]; each chunk is
moved to the device (channels_last on CPU), turned into what is read (`read_map`'s make: the image itself, an
edit of it, ...), read by the oracle, and its reading comes back to the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from model.oracle import Oracle, OracleReading

FIELDS = ("attrs", "attr_prob", "styles", "nuisance")


def chunks(n: int, size: int) -> Iterator[tuple[int, slice]]:
    """(chunk index, slice) over n items, size at a time."""
    for i, start in enumerate(range(0, n, size)):
        yield i, slice(start, min(start + size, n))


def to_input(images: Tensor, device: torch.device) -> Tensor:
    """uint8 (B, H, W, C) or float (B, C, H, W) -> float (B, C, H, W) in [0, 1] on device (channels_last
    on CPU)."""
    if images.dtype == torch.uint8:
        images = images.permute(0, 3, 1, 2).float().div(255)
    x = images.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" and x.dim() == 4 else x


def cat_readings(readings: list[OracleReading]) -> OracleReading:
    """One reading of the chunks' readings, in order."""
    return OracleReading(*(torch.cat([getattr(r, f) for r in readings]) for f in FIELDS))


def on_cpu(reading: OracleReading) -> OracleReading:
    """The reading with every field moved to the CPU."""
    return OracleReading(*(getattr(reading, f).cpu() for f in FIELDS))


def take(reading: OracleReading, idx: Tensor) -> OracleReading:
    """The rows idx of every field of a reading."""
    return OracleReading(*(getattr(reading, f)[idx] for f in FIELDS))


def read_map(oracle: Oracle, make: Callable[[Tensor, int], Tensor], images: Tensor, batch_size: int,
              device: torch.device, features: bool = False) -> tuple[OracleReading, Tensor | None]:
    """Oracle readings (on the CPU) of make(x, chunk_index) for every chunk of images (None = real images)."""
    readings, feats = [], []
    for i, sl in chunks(len(images), batch_size):
        r, h = oracle.read_with_features(make(to_input(images[sl], device), i))
        readings.append(on_cpu(r))
        if features:
            feats.append(h.float().cpu())
    return cat_readings(readings), (torch.cat(feats) if features else None)
