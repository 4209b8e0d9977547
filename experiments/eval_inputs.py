"""What the style probes share: vcn eval's oracle, test faces and style attributes, and a faces file, all on the CPU
and prepared as `vcn eval` prepares them (model.evaluate._prepare)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import N_TEST, TEST_SEED, _prepare
from model.oracle import load_oracle


class EvalInputs(NamedTuple):
    device: torch.device
    oracle: nn.Module
    model: nn.Module
    images: Tensor  # uint8 (N_TEST, H, W, 3): vcn eval's test faces
    attrs: Tensor  # bool (N_TEST, 40): their ground truth
    styles: tuple[str, ...]  # the oracle's style attributes


def eval_inputs(weights: str, oracle: str = "weights/oracle.safetensors") -> EvalInputs:
    cpu = torch.device("cpu")
    batch = faces.sample_faces(TEST_SEED, 0, N_TEST)
    judge = _prepare(load_oracle(oracle), cpu)
    return EvalInputs(cpu, judge, _prepare(load_vcn(weights), cpu), torch.as_tensor(faces.render(batch, size=64)),
                      torch.as_tensor(batch.attrs).bool(), tuple(judge.cfg.style_names))
