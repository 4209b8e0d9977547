"""The digit judge: a plain MNIST CNN (no capsules) that reads generated digits for `vcn eval`.

Trained on MNIST's training split with small random shifts (so it tolerates generated digits that sit
off-centre), measured on the test split. It shares the training and checkpoint helpers of model/oracle.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import DIGITS, from_dict
from model.devices import pick_device
from model.oracle import ORACLE_SEED, _block, _fit, _load, _random_batches, _train_loop, save_oracle


@dataclass(frozen=True)
class DigitJudgeConfig:
    image_size: int = 28
    channels: int = 1
    class_names: tuple[str, ...] = DIGITS
    width: int = 32
    feature_dim: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DigitJudgeConfig:
        return from_dict(cls, json.loads(text))


class DigitJudge(nn.Module):
    """A plain MNIST CNN: two pairs of 3x3 convs with max-pooling (28 -> 14 -> 7), a feature layer,
    10 logits."""

    def __init__(self, cfg: DigitJudgeConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.trunk = nn.Sequential(
            *_block(cfg.channels, w, 1), *_block(w, w, 1), nn.MaxPool2d(2),
            *_block(w, 2 * w, 1), *_block(2 * w, 2 * w, 1), nn.MaxPool2d(2),
        )
        side = cfg.image_size // 4
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * side * side, cfg.feature_dim),
                                nn.ReLU(inplace=True))
        self.head = nn.Linear(cfg.feature_dim, len(cfg.class_names))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def features(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, feature_dim)."""
        return self.fc(self.trunk(_fit(x, self.cfg.image_size) - 0.5))

    def forward(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) -> class logits (B, K)."""
        return self.head(self.features(x))

    @torch.inference_mode()
    def read(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """-> predicted class (B,) long, class probabilities (B, K)."""
        prob = torch.softmax(self(x).float(), dim=-1)
        return prob.argmax(dim=-1), prob


def save_digit_judge(path: str | os.PathLike, judge: DigitJudge, metrics: dict | None = None, **extra: Any):
    """Save a DigitJudge (role "digit_judge") with its config and metrics."""
    return save_oracle(path, judge, metrics, role="digit_judge", **extra)


def load_digit_judge(path: str | os.PathLike, device: str | torch.device = "cpu") -> DigitJudge:
    return _load(path, ("digit_judge",), lambda c: DigitJudge(from_dict(DigitJudgeConfig, c)), device)


def _shift(x: Tensor, max_shift: int, g: torch.Generator) -> Tensor:
    """Translate each image of (B, C, H, W) by its own random offset of up to max_shift pixels (zero fill).
    The judge keeps its own copy rather than model.train's: it must share no code path with the VCN."""
    b, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b, 1), generator=g, device=g.device)
    rows = (dy + torch.arange(h, device=x.device)).unsqueeze(2)  # (B, H, 1)
    cols = (dx + torch.arange(w, device=x.device)).unsqueeze(1)  # (B, 1, W)
    return padded[torch.arange(b, device=x.device).view(b, 1, 1), :, rows, cols].permute(0, 3, 1, 2)


@torch.inference_mode()
def measure_digit_judge(judge: DigitJudge, images: Tensor, labels: Tensor,
                        batch: int = 1000) -> dict[str, Any]:
    """images uint8 (N, 28, 28), labels (N,) -> accuracy, error rate."""
    hits = 0
    for i in range(0, len(labels), batch):
        x = images[i : i + batch].float().div(255).unsqueeze(1).to(judge.device)
        hits += int((judge.read(x)[0].cpu() == labels[i : i + batch].cpu()).sum())
    return {"n": len(labels), "accuracy": hits / len(labels), "error_rate": 1 - hits / len(labels)}


def train_digit_judge(data_root: str | os.PathLike | None = None, steps: int = 3000, batch: int = 128,
                      device: str | torch.device = "auto",
                      out_path: str | os.PathLike | None = "weights/digit_judge.safetensors",
                      max_time: float | None = None, seed: int = ORACLE_SEED, lr: float = 2e-3,
                      width: int = 32, shift: int = 2, workers: int = 0, log_every: int = 250,
                      log: Callable[[str], None] | None = print) -> tuple[DigitJudge, dict[str, Any]]:
    """Train the DigitJudge on MNIST's training split (in memory, random shifts of up to `shift` pixels),
    measure it on the test split, save it (role "digit_judge") with those metrics. `workers` is accepted for
    older callers and unused (the data are in memory). Returns (judge in eval mode, metrics)."""
    from model.data.mnist import load_mnist

    device = pick_device(str(device))
    torch.manual_seed(seed)
    images, labels = (torch.as_tensor(a).to(device) for a in load_mnist(data_root, "train"))
    judge = DigitJudge(DigitJudgeConfig(width=width)).to(device)
    g = torch.Generator(device=device).manual_seed(seed)

    def loss_fn(m: nn.Module, b: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x = b[0].float().div(255).unsqueeze(1)
        x = _shift(x, shift, g) if shift else x
        return {"total": F.cross_entropy(m(x).float(), b[1])}

    info = _train_loop(judge, _random_batches((images, labels), batch, seed), loss_fn, steps, lr, device,
                       max_time, log_every, log, "digit_judge")
    test_images, test_labels = (torch.as_tensor(a) for a in load_mnist(data_root, "test"))
    metrics = {**measure_digit_judge(judge, test_images, test_labels), "train_seed": seed, "batch": batch,
               **info}
    if log:
        log(f"digit_judge: test accuracy {metrics['accuracy']:.4f}")
    if out_path is not None:
        save_digit_judge(out_path, judge, metrics)
    return judge, metrics
