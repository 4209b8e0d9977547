"""One place decides devices and dtypes: CUDA with bf16 autocast where present, else CPU float32 (or CPU
bf16 autocast where asked for: training on CPUs with bf16 units, BENCHMARKS.md 3)."""

from __future__ import annotations

import contextlib

import torch


def pick_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda if available else cpu; "cuda" without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no GPU is available")
    return dev


def autocast(device: torch.device, cpu_bf16: bool = False):
    """bf16 autocast on CUDA (the networks are BN + conv, safe in bf16); on CPU only with cpu_bf16 (convs and
    matmuls in bf16: 2.5x faster training steps on a CPU with AMX, emulated and slow on one without)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
