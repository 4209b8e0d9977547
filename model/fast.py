"""Optional inference speed-ups for a loaded VCN, measured in BENCHMARKS.md; the model code stays as it is.

    from model.fast import optimize_for_inference
    model = optimize_for_inference(load_vcn(path))      # same VCN API (predict, edit, sample, ...)

What it does, each step switchable:
- fold_bn: every Conv2d / ConvTranspose2d directly followed by a BatchNorm2d (eval statistics) becomes one
  conv with a bias, the BatchNorm an Identity. Exact up to float rounding (~1e-6).
- channels_last: weights (and hence activations) in NHWC, the layout oneDNN's CPU convolutions prefer.
- threads: torch.set_num_threads for the process (None = leave it).
- bf16: run a network under bfloat16 autocast on its device (CPU: AMX / AVX512-BF16, 2-3.5x faster at batch
  >= 32 where the CPU has them; CUDA: tensor cores). "generator": the decoder only; pixels move by at most
  ~1.5/255, predictions are untouched.
  "all": the encoder too (predict 2-3x at batch >= 32, edit another 1.5x), but a KL near a tie can flip an
  attribute (0.1-0.4 % of predictions on the shipped model), and with it a whole edited image.
  Off unless asked for: results differ from fp32.

The result is a new module (the input is not touched), in eval mode, for inference only: the folded
BatchNorms no longer train.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """In place: fold each eval-mode BatchNorm2d into the conv just before it in an nn.Sequential.
    Returns the module; a BatchNorm that does not follow a conv is left alone."""
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, _CONVS) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq[i] = fuse_conv_bn_eval(conv.eval(), bn.eval(), transpose=isinstance(conv, nn.ConvTranspose2d))
                seq[i + 1] = nn.Identity()
    return module


class _Bf16(nn.Module):
    """Runs the wrapped network under bf16 autocast on its own device (CPU or CUDA), hands float32 back."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *args: Tensor | None):
        with torch.autocast(next(self.net.parameters()).device.type, dtype=torch.bfloat16):
            out = self.net(*args)
        if isinstance(out, tuple):
            return tuple(t.float() for t in out)
        return out.float()


def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
                           threads: int | None = None, bf16: str | None = None) -> nn.Module:
    """A faster copy of a VCN for inference (see the module docstring). channels_last is for CPU models
    only; bf16 autocast works on either device (`vcn bench model --device cuda` measures it on CUDA)."""
    if bf16 not in (None, "generator", "all"):
        raise ValueError(f"bf16 must be None, 'generator' or 'all', got {bf16!r}")
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    cpu = next(fast.parameters()).device.type == "cpu"
    if fold_bn:
        fold_batchnorm(fast)
    if channels_last and cpu:
        fast = fast.to(memory_format=torch.channels_last)
    if bf16:
        fast.generator = _Bf16(fast.generator)
        if bf16 == "all":
            fast.encoder = _Bf16(fast.encoder)
    if threads is not None:
        torch.set_num_threads(threads)
    return fast
