"""The independent judges: plain CNNs (no capsules) that read images the way a person would.

- `Oracle` reads a rendered face: 40 attribute logits, one style classifier per style-bearing attribute
  (which pair of glasses, which hat), and the nuisance factors (regressed in [0, 1]). Its penultimate
  layer, `features`, feeds the Fréchet distance. Trained on rendered faces of seed 1 ("oracle", used
  only by evaluation) or seed 2 ("judge", which the training recipe may read edits with); the VCN
  trains on seed 0 and is evaluated on seed 10_000, so no judge has seen a face the VCN trained on or
  is tested with.
- `DigitJudge` (model/digit_judge.py) reads an MNIST digit; it shares the training helpers below.

Nothing here imports model.networks: the judges share no weights or code paths with the VCN.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.checkpoint import CheckpointError, load_state, read_checkpoint, save_checkpoint
from model.config import CELEBA_ATTRIBUTES, from_dict
from model.devices import autocast, pick_device

ORACLE_SEED = 1  # the eval oracle's training faces
JUDGE_SEED = 2  # the training-time judge's faces
TEST_SEED = 10_000  # evaluation faces (model.evaluate)

# When a nuisance factor shows in the picture (model/data/faces_render.py): the frame colour only with
# glasses, the hat colour only with a hat, the unlabelled hair tone only on hair with no colour attribute.
# Conditions are "&"-joined attribute names, "!" = must be absent; factors not listed always show.
NUISANCE_SHOWS_WITH: dict[str, str] = {
    "frame_colour": "Eyeglasses",
    "hat_colour": "Wearing_Hat",
    "hair_tone": "!Bald&!Black_Hair&!Blond_Hair&!Brown_Hair&!Gray_Hair",
}


# ----------------------------------------------------------------------------------------------------
# Configs


@dataclass(frozen=True)
class OracleConfig:
    """Shape of an Oracle. style_names[i] has style_counts[i] style ids; nuisance values are in [0, 1]."""

    image_size: int = 64
    channels: int = 3
    attribute_names: tuple[str, ...] = CELEBA_ATTRIBUTES
    style_names: tuple[str, ...] = ()
    style_counts: tuple[int, ...] = ()
    nuisance_names: tuple[str, ...] = ()
    nuisance_conditions: tuple[str, ...] = ()  # per nuisance factor: when it is visible ("" = always)
    width: int = 16
    feature_dim: int = 256
    dataset: str = "faces"  # what it was trained on: "faces" (rendered) or "celeba"

    def __post_init__(self) -> None:
        for name in ("attribute_names", "style_names", "style_counts", "nuisance_names",
                     "nuisance_conditions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.nuisance_conditions and len(self.nuisance_conditions) != len(self.nuisance_names):
            raise ValueError("nuisance_conditions needs one entry per nuisance factor (or none)")
        if len(self.style_names) != len(self.style_counts):
            raise ValueError("style_names and style_counts must have the same length")
        unknown = set(self.style_names) - set(self.attribute_names)
        if unknown:
            raise ValueError(f"style attributes {sorted(unknown)} are not attributes")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OracleConfig:
        return from_dict(cls, json.loads(text))

    @classmethod
    def for_faces(cls, image_size: int = 64, width: int = 16, **kw: Any) -> OracleConfig:
        """The config matching model.data.faces (attributes, style attributes and counts, nuisance)."""
        from model.data import faces

        return cls(image_size=image_size, attribute_names=tuple(faces.ATTRIBUTES),
                   style_names=tuple(faces.STYLE_ATTRIBUTES),
                   style_counts=tuple(int(faces.STYLE_COUNTS[s]) for s in faces.STYLE_ATTRIBUTES),
                   nuisance_names=tuple(faces.NUISANCE),
                   nuisance_conditions=tuple(NUISANCE_SHOWS_WITH.get(k, "") for k in faces.NUISANCE),
                   width=width, **kw)


# ----------------------------------------------------------------------------------------------------
# Networks


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _fit(x: Tensor, size: int) -> Tensor:
    """Resize (B, C, H, W) to size x size (area-averaging down, bilinear up) if it is not already."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    if x.shape[-1] > size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@dataclass
class OracleReading:
    """What the oracle sees in a batch: attrs (B, A) bool, attr_prob (B, A), styles (B, S) long (argmax,
    meaningful only where the attribute reads present), nuisance (B, N) in [0, 1]."""

    attrs: Tensor
    attr_prob: Tensor
    styles: Tensor
    nuisance: Tensor


class Oracle(nn.Module):
    """A plain CNN: per halving down to 4x4 a stride-2 and a stride-1 3x3 conv block (widths 2w, 4w, 8w,
    8w...; no full-resolution layer: one costs 60 % more time per image), a linear feature layer, then
    linear heads. Images (B, C, H, W) in [0, 1]; other sizes are resized to cfg.image_size."""

    def __init__(self, cfg: OracleConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        layers: list[nn.Module] = []
        cin = cfg.channels
        for i in range(int(math.log2(cfg.image_size // 4))):
            cout = w * min(2 ** (i + 1), 8)
            layers += _block(cin, cout, 2) + _block(cout, cout, 1)
            cin = cout
        self.trunk = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(cin * 16, cfg.feature_dim), nn.ReLU(inplace=True))
        self.attr_head = nn.Linear(cfg.feature_dim, len(cfg.attribute_names))
        self.style_heads = nn.ModuleList(nn.Linear(cfg.feature_dim, k) for k in cfg.style_counts)
        self.nuisance_head = nn.Linear(cfg.feature_dim, len(cfg.nuisance_names))
        self.style_index = [cfg.attribute_names.index(s) for s in cfg.style_names]
        # (nuisance factor, attribute, must be present) for every condition term.
        self.conditions = [(j, cfg.attribute_names.index(term.lstrip("!")), not term.startswith("!"))
                           for j, cond in enumerate(cfg.nuisance_conditions)
                           for term in cond.split("&") if term]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) in [0, 1] -> (B, feature_dim) penultimate activations (for the Fréchet distance)."""
        return self.fc(self.trunk(_fit(x, self.cfg.image_size) - 0.5))

    def stages(self, x: Tensor) -> list[Tensor]:
        """(B, C, H, W) in [0, 1] -> the trunk's activations at the end of each resolution, [(B, C_i, H_i,
        W_i)] from H/2 down to 4x4 (a perceptual loss compares these between a generated and a real image)."""
        h, out = _fit(x, self.cfg.image_size) - 0.5, []
        for i, layer in enumerate(self.trunk):
            h = layer(h)
            if i % 6 == 5:  # two conv-BN-ReLU blocks per resolution
                out.append(h)
        return out

    def attribute_logits(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, A) attribute logits (what a training-time judge reads; differentiable)."""
        return self.attr_head(self.features(x))

    def style_logits(self, x: Tensor) -> list[Tensor]:
        """(B, C, H, W) -> [(B, count_s)] style logits per style attribute (differentiable, for training)."""
        h = self.features(x)
        return [head(h) for head in self.style_heads]

    def heads(self, h: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
        """features (B, F) -> attribute logits (B, A), style logits [(B, count_s)] * S, nuisance logits
        (B, N)."""
        return self.attr_head(h), [head(h) for head in self.style_heads], self.nuisance_head(h)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
        """(B, C, H, W) -> the three heads' logits (see `heads`)."""
        return self.heads(self.features(x))

    def nuisance_visible(self, attrs: Tensor) -> Tensor:
        """attrs (B, A) bool (ground truth or a reading) -> (B, N) bool: which nuisance factors show."""
        visible = attrs.new_ones((attrs.shape[0], len(self.cfg.nuisance_names)), dtype=torch.bool)
        for j, a, present in self.conditions:
            visible[:, j] &= attrs[:, a].bool() == present
        return visible

    @torch.inference_mode()
    def read(self, x: Tensor) -> OracleReading:
        return self.read_with_features(x)[0]

    @torch.inference_mode()
    def read_with_features(self, x: Tensor) -> tuple[OracleReading, Tensor]:
        """One pass: the reading and the features (B, F) (for the Fréchet distance)."""
        h = self.features(x)
        attr_logits, style_logits, nuisance_logits = self.heads(h)
        prob = torch.sigmoid(attr_logits.float())
        styles = (torch.stack([s.argmax(dim=-1) for s in style_logits], dim=1) if style_logits
                  else prob.new_zeros((x.shape[0], 0), dtype=torch.long))
        return OracleReading(prob > 0.5, prob, styles, torch.sigmoid(nuisance_logits.float())), h


# ----------------------------------------------------------------------------------------------------
# Losses and measurement


def oracle_losses(oracle: Oracle, images: Tensor, attrs: Tensor, styles: Tensor,
                  nuisance: Tensor) -> dict[str, Tensor]:
    """images (B, C, H, W), attrs (B, A) {0, 1}, styles (B, S) long, nuisance (B, N) in [0, 1].

    Attribute BCE (mean over attributes), style cross-entropy only where the attribute is present (mean
    over those), nuisance BCE against the soft targets where the factor is visible.
    Returns the terms and their sum, "total"."""
    attr_logits, style_logits, nuisance_logits = oracle(images)
    out = {"attr": F.binary_cross_entropy_with_logits(attr_logits.float(), attrs.float())}
    style = attr_logits.new_zeros((), dtype=torch.float32)
    for s, (logits, a) in enumerate(zip(style_logits, oracle.style_index, strict=True)):
        present = attrs[:, a] > 0.5
        if present.any():
            style = style + F.cross_entropy(logits[present].float(), styles[present, s])
    out["style"] = style / max(1, len(style_logits))
    visible = oracle.nuisance_visible(attrs > 0.5).float()  # a hidden factor has nothing to read
    per_factor = F.binary_cross_entropy_with_logits(nuisance_logits.float(), nuisance.float(),
                                                    reduction="none")
    out["nuisance"] = (per_factor * visible).sum() / visible.sum().clamp(min=1)
    out["total"] = out["attr"] + out["style"] + out["nuisance"]
    return out


def _named(names: tuple[str, ...], values: Tensor) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in zip(names, values, strict=True)}


@torch.inference_mode()
def measure_oracle(oracle: Oracle, batches: Iterator[tuple[Tensor, Tensor, Tensor, Tensor]],
                   ) -> dict[str, Any]:
    """Accuracy of an oracle on held-out (images, attrs, styles, nuisance) batches.

    Returns attr_accuracy (mean over attributes), attr_accuracy_min, per-attribute accuracy, style
    accuracy over present attributes (pooled, and per style attribute), nuisance MAE where the factor is
    visible (mean, per factor)."""
    cfg = oracle.cfg
    attr_hits = torch.zeros(len(cfg.attribute_names), dtype=torch.float64)
    style_hits = torch.zeros(len(cfg.style_names), dtype=torch.float64)
    style_n = torch.zeros(len(cfg.style_names), dtype=torch.float64)
    nuis_err = torch.zeros(len(cfg.nuisance_names), dtype=torch.float64)
    nuis_n = torch.zeros(len(cfg.nuisance_names), dtype=torch.float64)
    n = 0
    for images, attrs, styles, nuisance in batches:
        r = oracle.read(images.to(oracle.device))
        dev = r.attrs.device
        attrs, styles, nuisance = attrs.to(dev), styles.to(dev), nuisance.to(dev)
        attr_hits += (r.attrs == (attrs > 0.5)).sum(0).double().cpu()
        if cfg.style_names:
            present = attrs[:, oracle.style_index] > 0.5
            style_hits += ((r.styles == styles) & present).sum(0).double().cpu()
            style_n += present.sum(0).double().cpu()
        visible = oracle.nuisance_visible(attrs > 0.5)
        nuis_err += ((r.nuisance - nuisance.float()).abs() * visible).sum(0).double().cpu()
        nuis_n += visible.sum(0).double().cpu()
        n += images.shape[0]
    attr_acc = attr_hits / max(n, 1)
    style_acc = style_hits / style_n.clamp(min=1)
    mae = nuis_err / nuis_n.clamp(min=1)
    return {
        "n": n,
        "attr_accuracy": float(attr_acc.mean()),
        "attr_accuracy_min": float(attr_acc.min()),
        "attr_accuracy_per_attribute": _named(cfg.attribute_names, attr_acc),
        "style_accuracy": float(style_hits.sum() / style_n.sum().clamp(min=1)),
        "style_accuracy_per_attribute": _named(cfg.style_names, style_acc),
        "nuisance_mae": float(mae.mean()) if len(mae) else 0.0,
        "nuisance_mae_per_factor": _named(cfg.nuisance_names, mae),
    }


# ----------------------------------------------------------------------------------------------------
# Checkpoints


def save_oracle(path: str | os.PathLike, oracle: nn.Module, metrics: dict | None = None,
                role: str = "oracle", **extra: Any) -> Path:
    """Save an Oracle (role "oracle" or "judge") or a DigitJudge (role "digit_judge") with its config."""
    meta = {"config": json.loads(oracle.cfg.to_json()), "metrics": metrics or {}, **extra}
    return save_checkpoint(path, oracle.state_dict(), role=role, **meta)


def _load(path: str | os.PathLike, roles: tuple[str, ...], build: Callable[[dict], nn.Module],
          device: str | torch.device) -> nn.Module:
    tensors, meta = read_checkpoint(path)
    if meta.get("role") not in roles:
        raise CheckpointError(f"{path}: holds a {meta.get('role')!r} checkpoint, "
                              f"expected one of {list(roles)}")
    try:
        module = build(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad or missing config in metadata ({e})") from None
    load_state(module, tensors, path)
    module.metadata = meta
    return module.to(device).eval()


def load_oracle(path: str | os.PathLike, device: str | torch.device = "cpu",
                role: str | None = None) -> Oracle:
    """An Oracle in eval mode on `device`. role: "oracle", "judge", or None for either."""
    roles = (role,) if role else ("oracle", "judge")
    return _load(path, roles, lambda c: Oracle(from_dict(OracleConfig, c)), device)


# ----------------------------------------------------------------------------------------------------
# Training


def _lr_at(step: int, progress: float, lr: float, warmup: int = 100) -> float:
    """Linear warm-up over the first steps, then cosine decay to 5 % of lr as progress goes 0 -> 1."""
    ramp = min(1.0, (step + 1) / warmup)
    return lr * ramp * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _to_float(images: Tensor) -> Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W) in [0, 1]. The permuted view of NHWC memory is already
    channels_last, the fast layout on CPU."""
    return images.permute(0, 3, 1, 2).float().div(255)


def _random_batches(tensors: tuple[Tensor, ...], batch: int, seed: int) -> Iterator[tuple[Tensor, ...]]:
    """Endless minibatches drawn with replacement from tensors sharing their first dimension and device."""
    device = tensors[0].device
    g = torch.Generator(device=device).manual_seed(seed)
    while True:
        idx = torch.randint(len(tensors[0]), (batch,), generator=g, device=device)
        yield tuple(t[idx] for t in tensors)


def _chunked(tensors: tuple[Tensor, ...], size: int) -> Iterator[tuple[Tensor, ...]]:
    for i in range(0, len(tensors[0]), size):
        yield tuple(t[i : i + size] for t in tensors)


def render_faces(n: int, seed: int, size: int, start: int = 0, workers: int = 0,
                 device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Faces start..start+n-1 of `seed`, rendered once and kept in memory (rendering, not the network, is
    the bottleneck: about 400 faces/s per core, so on-the-fly loading starves a GPU).

    -> images uint8 (n, size, size, 3), attrs float (n, A), styles long (n, S), nuisance float (n, N), on
    `device` (200k faces at 64x64 are 2.5 GB)."""
    from model.data import faces

    batch = faces.sample_faces(seed, start, n)
    chunks = [torch.from_numpy(faces.render(batch.take(slice(i, i + 20_000)), size, workers))
              for i in range(0, n, 20_000)]
    images = torch.cat(chunks) if chunks else torch.zeros(0, size, size, 3, dtype=torch.uint8)
    return (images.to(device), torch.from_numpy(batch.attrs).float().to(device),
            torch.from_numpy(batch.styles).to(device), torch.from_numpy(batch.nuisance).to(device))


def _default_workers() -> int:
    return max(0, (os.cpu_count() or 1) - 1)


def _train_loop(model: nn.Module, batches: Iterator, loss_fn: Callable[[nn.Module, tuple], dict[str, Tensor]],
                steps: int, lr: float, device: torch.device, max_time: float | None, log_every: int,
                log: Callable[[str], None] | None, name: str) -> dict[str, Any]:
    """AdamW with warm-up + cosine; stops after `steps` or `max_time` seconds, whichever comes first, and the
    cosine follows whichever is nearer its end (a time-bounded run still anneals). Returns a short history."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    start, history, running, done = time.time(), [], 0.0, 0
    for step in range(steps):
        if max_time is not None and time.time() - start > max_time:
            break
        progress = step / steps if max_time is None else max(step / steps, (time.time() - start) / max_time)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, progress, lr)
        with autocast(device):
            losses = loss_fn(model, next(batches))
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        running += float(losses["total"].detach())
        done = step + 1
        if done % log_every == 0:
            seconds = round(time.time() - start, 1)
            history.append({"step": done, "loss": running / log_every, "seconds": seconds})
            if log:
                terms = "  ".join(f"{k} {float(v.detach()):.3f}" for k, v in losses.items())
                log(f"{name} step {done}/{steps} loss {running / log_every:.4f} {seconds:.0f}s  {terms}")
            running = 0.0
    model.eval()
    return {"steps": done, "seconds": round(time.time() - start, 1), "history": history}


def train_oracle(size: int = 64, n_train: int = 200_000, seed: int = ORACLE_SEED, steps: int = 6000,
                 batch: int = 256, device: str | torch.device = "auto",
                 out_path: str | os.PathLike | None = "weights/oracle.safetensors",
                 max_time: float | None = None, role: str = "oracle", width: int = 16, lr: float = 2e-3,
                 workers: int | None = None, n_val: int = 2000, log_every: int = 250,
                 log: Callable[[str], None] | None = print,
                 init: str | os.PathLike | None = None) -> tuple[Oracle, dict[str, Any]]:
    """Train an Oracle on n_train faces of `seed`, rendered once (render_faces, `workers` processes; default
    all cores but one) and held in memory, random minibatches; bf16 autocast on CUDA. Measure it on n_val
    held-out faces of the same seed (indices n_train.., never trained on) and save it (role "oracle", or
    "judge" with seed JUDGE_SEED) with those metrics in the metadata. max_time (seconds) bounds the
    training steps only, not the rendering.

    Use seed 1 for the eval oracle and 2 for the training judge: the VCN trains on seed 0 and is
    tested on seed 10_000. `init` starts from another Oracle-shaped checkpoint (e.g. a judge whose
    attribute trunk is already trained; the heads it lacks are then learnt here). Returns (oracle in eval
    mode, metrics)."""
    if seed in (0, TEST_SEED):
        raise ValueError(f"seed {seed} is the VCN's training or test seed; an oracle must not see "
                         "those faces")
    device = pick_device(str(device))
    workers = _default_workers() if workers is None else workers
    start = time.time()
    train = render_faces(n_train, seed, size, 0, workers, device)
    val = render_faces(n_val, seed, size, n_train, workers, device)
    render_seconds = round(time.time() - start, 1)
    if log:
        log(f"{role}: rendered {n_train} + {n_val} faces in {render_seconds:.0f}s")
    torch.manual_seed(seed)
    oracle = Oracle(OracleConfig.for_faces(image_size=size, width=width)).to(device)
    if init is not None:
        load_state(oracle, read_checkpoint(init)[0], init)
    if device.type == "cpu":
        oracle = oracle.to(memory_format=torch.channels_last)
    info = _train_loop(oracle, _random_batches(train, batch, seed),
                       lambda m, b: oracle_losses(m, _to_float(b[0]), *b[1:]), steps, lr, device, max_time,
                       log_every, log, role)
    metrics = measure_oracle(oracle, ((_to_float(x), *rest) for x, *rest in _chunked(val, 500)))
    metrics.update({"train_seed": seed, "n_train": n_train, "batch": batch, "val_start": n_train,
                    "init": str(init) if init is not None else None,
                    "render_seconds": render_seconds, **info})
    if log:
        log(f"{role}: attributes {metrics['attr_accuracy']:.4f} (min {metrics['attr_accuracy_min']:.4f}), "
            f"styles {metrics['style_accuracy']:.4f}, nuisance MAE {metrics['nuisance_mae']:.4f} "
            f"on {n_val} held-out faces")
    if out_path is not None:
        save_oracle(out_path, oracle, metrics, role=role)
    return oracle, metrics
