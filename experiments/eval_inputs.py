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

CPU = torch.device("cpu")


class EvalSet(NamedTuple):
    device: torch.device
    oracle: nn.Module
    images: Tensor  # uint8 (N_TEST, H, W, 3): vcn eval's test faces
    attrs: Tensor  # bool (N_TEST, 40): their ground truth
    styles: tuple[str, ...]  # the oracle's style attributes


class EvalInputs(NamedTuple):
    device: torch.device
    oracle: nn.Module
    model: nn.Module
    images: Tensor
    attrs: Tensor
    styles: tuple[str, ...]


def eval_set(oracle: str = "weights/oracle.safetensors") -> EvalSet:
    """vcn eval's oracle and test faces, for judging one or more faces files (prepared_model)."""
    batch = faces.sample_faces(TEST_SEED, 0, N_TEST)
    judge = _prepare(load_oracle(oracle), CPU)
    return EvalSet(CPU, judge, torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool(),
                   tuple(judge.cfg.style_names))


def prepared_model(weights: str) -> nn.Module:
    return _prepare(load_vcn(weights), CPU)


def eval_inputs(weights: str, oracle: str = "weights/oracle.safetensors") -> EvalInputs:
    """eval_set and one faces file."""
    s = eval_set(oracle)
    return EvalInputs(s.device, s.oracle, prepared_model(weights), s.images, s.attrs, s.styles)
