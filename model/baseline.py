"""The baseline the paper argues against: a conditional VAE with one global latent.

    x ──► encoder ──► attribute logits (B, A)  (the classifier head: `predict`)
                 └──► q(z|x) = N(mu, sigma^2), z (B, Z)
    attribute vector y (B, A) + z ──► generator ──► x_hat

Attributes are a binary vector (one-hot for digits) fed to the generator beside z. Editing changes y and
keeps z; resampling a "style" can only redraw z, and z is shared by everything, so the whole image
changes: there is no per-attribute latent to resample (the VCN's point). The backbone is the VCN's own
compact family, built from a VCNConfig whose capsule layout gives the right sizes (one 1-d capsule per
attribute, a context of Z dims), so the comparison is about the latent structure, not the network.

The operations mirror model.vcn.VCN (predict, reconstruct, edit, resample, sample_states, sample) so
model.evaluate treats both alike.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.capsules import draw_states, exclusive_pairs, partner_matrix, reparameterize
from model.checkpoint import CheckpointError, load_state, read_checkpoint, save_model
from model.config import CELEBA_ATTRIBUTES, TrainConfig, VCNConfig, from_dict
from model.devices import autocast, pick_device
from model.losses import gaussian_kl, reconstruction_loss
from model.networks import build_encoder, build_generator
from model.vcn import Prediction


@dataclass(frozen=True)
class CVAEConfig:
    """Field names follow VCNConfig where they mean the same (capsule_names = the attribute names), so
    code that reads model.cfg (evaluate, the CLI) works on either model."""

    arch: str = "compact"  # "compact" (faces) or "mnist" (digits)
    kind: str = "multilabel"
    capsule_names: tuple[str, ...] = CELEBA_ATTRIBUTES
    image_size: int = 64
    channels: int = 3
    z_dim: int = 64
    width: int = 32
    dataset: str = "faces"
    attribute_rates: tuple[float, ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()  # as VCNConfig.exclusive: edits and samples obey the same rule
    edit_strength: float = 1.0  # as VCNConfig.edit_strength: the attribute vector's change is extrapolated

    def __post_init__(self) -> None:
        if self.arch not in ("compact", "mnist"):
            raise ValueError(f"the baseline supports arch 'compact' or 'mnist', got {self.arch!r}")
        object.__setattr__(self, "capsule_names", tuple(self.capsule_names))
        object.__setattr__(self, "attribute_rates", tuple(float(r) for r in self.attribute_rates))
        object.__setattr__(self, "exclusive", tuple((str(a), str(b)) for a, b in self.exclusive))
        if self.kind not in ("multilabel", "multiclass"):
            raise ValueError(f"kind must be 'multilabel' or 'multiclass', got {self.kind!r}")
        self.backbone()  # validates names and sizes

    @property
    def num_names(self) -> int:
        return len(self.capsule_names)

    def backbone(self) -> VCNConfig:
        """The VCNConfig the encoder and generator are built from: A capsules of dimension 1 (encoder
        side: the attribute logits; generator side: the attribute vector) and a context of z_dim (z).
        That is the multiclass layout (one slot per name) whatever the CVAE's own kind."""
        return VCNConfig(arch=self.arch, kind="multiclass", capsule_names=self.capsule_names,
                         image_size=self.image_size, channels=self.channels, capsule_dim=1,
                         context_dim=self.z_dim, width=self.width, dataset=self.dataset)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CVAEConfig:
        return from_dict(cls, json.loads(text))


class CVAE(nn.Module):
    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.backbone())  # its logvar for the 1-d "capsules" is unused
        self.generator = build_generator(cfg.backbone())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------------------------------------
    # The differentiable path

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, C, H, W) -> attribute logits (B, A), z_mu (B, Z), z_logvar (B, Z)."""
        mu, _, z_mu, z_logvar = self.encoder(x)
        return mu.squeeze(-1), z_mu, z_logvar

    def decode(self, states: Tensor, z: Tensor) -> Tensor:
        """states (B, A) float (multilabel {0, 1}, multiclass one-hot), z (B, Z) -> (B, C, H, W)."""
        return self.generator(states.float().unsqueeze(-1), z)

    def to_states(self, targets: Tensor) -> Tensor:
        """Ground truth -> the generator's attribute vector (B, A): multilabel as is, multiclass one-hot."""
        if self.cfg.kind == "multilabel":
            return targets.float()
        return F.one_hot(targets.long(), self.cfg.num_names).float()

    def forward(self, x: Tensor, targets: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Training pass (ground-truth attributes to the generator, z reparameterised).
        -> reconstruction (B, C, H, W), logits (B, A), z_mu, z_logvar (B, Z)."""
        logits, z_mu, z_logvar = self.encode(x)
        z = reparameterize(z_mu, z_logvar, generator)
        return self.decode(self.to_states(targets.to(x.device)), z), logits, z_mu, z_logvar

    # ------------------------------------------------------------------------------------------------
    # Helpers

    def index(self, name: str) -> int:
        try:
            return self.cfg.capsule_names.index(name)
        except ValueError:
            known = ", ".join(self.cfg.capsule_names)
            raise KeyError(f"unknown attribute {name!r}; known: {known}") from None

    def prior(self, shape: Sequence[int], seed: int | torch.Generator) -> Tensor:
        """Standard normal draws on the model's device from a CPU generator (same bytes on any device)."""
        g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
        return torch.randn(tuple(shape), generator=g).to(self.device)

    def _predicted_states(self, logits: Tensor) -> Tensor:
        if self.cfg.kind == "multilabel":
            return (logits > 0).float()
        return F.one_hot(logits.argmax(dim=-1), self.cfg.num_names).float()

    # ------------------------------------------------------------------------------------------------
    # Operations (same names and meaning as VCN's)

    @torch.inference_mode()
    def predict(self, x: Tensor) -> Prediction:
        """From the classifier head; the KL fields are NaN (a CVAE has no per-attribute KL)."""
        logits = self.encode(x)[0].float()
        nan = torch.full_like(logits, float("nan"))
        score = torch.sigmoid(logits) if self.cfg.kind == "multilabel" else torch.softmax(logits, dim=-1)
        return Prediction(self._predicted_states(logits).bool(), score, nan, nan.clone())

    @torch.inference_mode()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the predicted attributes with z at its posterior mean."""
        logits, z_mu, _ = self.encode(x)
        return self.decode(self._predicted_states(logits), z_mu)

    @torch.inference_mode()
    def edit(self, x: Tensor, set: Mapping[str, bool] | None = None, resample: Sequence[str] = (),
             seed: int = 0, resolve_conflicts: bool = True, strength: float | None = None) -> Tensor:
        """Set attributes in the vector and keep z; naming any attribute in `resample` redraws the one
        global z from the prior (everything changes, not just that attribute). resolve_conflicts and
        strength as VCN.edit (strength extrapolates the attribute vector's change)."""
        logits, z, _ = self.encode(x)
        states = self._predicted_states(logits)
        before = states.clone()
        for name, on in (set or {}).items():
            a = self.index(name)
            if self.cfg.kind == "multiclass":
                if not on:
                    raise ValueError("for a digit model, set the class you want to True")
                states.zero_()
            states[:, a] = float(bool(on))
        if resolve_conflicts and self.cfg.kind == "multilabel" and self.cfg.exclusive and set:
            keep = torch.tensor([n in set for n in self.cfg.capsule_names], device=states.device)
            partners = partner_matrix(self.cfg.capsule_names, self.cfg.exclusive).to(states.device)
            off = (states.bool() & keep).float() @ partners.float()  # partners of what was kept on
            states = torch.where(off.bool() & ~keep, torch.zeros_like(states), states)
        for name in resample:
            self.index(name)
        if resample:
            z = self.prior(z.shape, seed)
        s = self.cfg.edit_strength if strength is None else float(strength)
        return self.decode(torch.lerp(before, states, s) if s != 1.0 else states, z)

    @torch.inference_mode()
    def resample(self, x: Tensor, attribute: str, n: int, seed: int = 0) -> Tensor:
        """x (1, C, H, W) -> (n, C, H, W): n draws of z (the only latent there is) with x's attributes."""
        return self.edit(x[:1].expand(n, *x.shape[1:]), resample=[attribute], seed=seed)

    @torch.inference_mode()
    def sample_states(self, states: Tensor, seed: int = 0) -> Tensor:
        """Prior samples for explicit states: multilabel (N, A) in {0, 1}, multiclass (N,) indices."""
        z = self.prior((states.shape[0], self.cfg.z_dim), seed)
        return self.decode(self.to_states(states.to(self.device)), z)

    @torch.inference_mode()
    def sample(self, attributes: Mapping[str, bool] | None = None, n: int = 1, seed: int = 0) -> Tensor:
        """As VCN.sample: given attributes fixed, the rest drawn at the training rates (else 0.5)."""
        g = torch.Generator().manual_seed(int(seed))
        cfg = self.cfg
        partners = partner_matrix(cfg.capsule_names, cfg.exclusive) if cfg.exclusive else None
        states = draw_states(cfg.capsule_names, cfg.kind, cfg.attribute_rates, attributes or {}, n, g, partners)
        return self.decode(self.to_states(states.to(self.device)), self.prior((n, cfg.z_dim), g))


def cvae_losses(model: CVAE, images: Tensor, attrs: Tensor, recon_weight: float = 1.0, kl_weight: float = 1.0,
                cls_weight: float = 1.0, recon: str = "mse", reduction: str = "sum",
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The CVAE objective: recon_weight * reconstruction (summed over pixels, as VCN's Eq. 4) + kl_weight *
    KL(q(z|x) || N(0, I)) + cls_weight * the classifier head's loss (BCE summed over attributes, or CE).

    images (B, C, H, W) in [0, 1]; attrs (B, A) {0, 1} or (B,) class indices.
    Returns the terms and "total"."""
    x_hat, logits, z_mu, z_logvar = model(images, attrs, generator)
    if model.cfg.kind == "multilabel":
        cls = F.binary_cross_entropy_with_logits(logits.float(), attrs.float(), reduction="none")
        cls = cls.sum(1).mean()
    else:
        cls = F.cross_entropy(logits.float(), attrs.long())
    out = {"recon": reconstruction_loss(x_hat, images, recon, reduction),
           "kl": gaussian_kl(z_mu.float(), z_logvar.float()), "cls": cls}
    out["total"] = recon_weight * out["recon"] + kl_weight * out["kl"] + cls_weight * out["cls"]
    return out


# ----------------------------------------------------------------------------------------------------
# Checkpoints


def save_baseline(path: str | os.PathLike, model: CVAE, metrics: dict | None = None,
                  train_config: TrainConfig | None = None, dtype: torch.dtype | None = None, **extra: Any) -> Path:
    """Save a CVAE with its config (and recipe, metrics) in the metadata (checkpoint.save_model); dtype=torch.float16
    halves the file, as the shipped VCN files are stored."""
    return save_model(path, model, "baseline", train_config, metrics, dtype, **extra)


def load_baseline(path: str | os.PathLike, device: str | torch.device = "cpu") -> CVAE:
    """A ready CVAE (eval mode, on `device`); CheckpointError if the file is unusable."""
    tensors, meta = read_checkpoint(path, role="baseline")
    try:
        cfg = from_dict(CVAEConfig, meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad or missing config in metadata ({e})") from None
    model = CVAE(cfg)
    load_state(model, tensors, path)
    model.metadata = meta
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------------
# Training (a plain loop; the VCN's own trainer is model/train.py)


def _training_tensors(cfg: CVAEConfig, n_train: int, seed: int, data_root: str | None,
                      data_cache: str | os.PathLike | None, workers: int) -> tuple[Tensor, Tensor]:
    """The VCN's own training data, in memory: images uint8 (N, C, H, W), targets (N, A) or (N,).

    MNIST's training split; or model/train.py's face cache (both halves of its counterfactual pairs are
    real renders of seed-0 faces); or n_train faces of `seed` rendered now."""
    if cfg.dataset == "mnist":
        from model.data.mnist import load_mnist

        images, labels = (torch.as_tensor(a) for a in load_mnist(data_root, "train"))
        return images.unsqueeze(1), labels.long()
    if data_cache is not None and Path(data_cache).is_file():
        t, _ = read_checkpoint(data_cache, role="face_cache")
        return torch.cat([t["images"], t["cf_images"]]), torch.cat([t["targets"], t["cf_targets"]]).float()
    from model.oracle import render_faces

    images, attrs, _, _ = render_faces(n_train, seed, cfg.image_size, workers=workers)
    return images.permute(0, 3, 1, 2).contiguous(), attrs


def train_baseline(cfg: CVAEConfig | None = None, steps: int = 20_000, batch: int = 64, lr: float = 3e-4,
                   recon_weight: float = 1.0, kl_weight: float = 1.0, recon: str = "mse",
                   n_train: int = 200_000, seed: int = 0, device: str | torch.device = "auto",
                   out_path: str | os.PathLike | None = None, max_time: float | None = None,
                   workers: int | None = None, data_root: str | None = None,
                   data_cache: str | os.PathLike | None = None, log_every: int = 100,
                   log: Callable[[str], None] | None = print) -> CVAE:
    """Train a CVAE on the VCN's data (see _training_tensors), held in memory on `device`, random
    minibatches; Adam (betas 0.5, 0.999) with cosine decay over steps or max_time (whichever ends first);
    bf16 autocast on CUDA. Saves to out_path when given. Returns the model in eval mode."""
    cfg = cfg or CVAEConfig()
    device = pick_device(str(device))
    workers = max(0, (os.cpu_count() or 1) - 1) if workers is None else workers
    images, targets = _training_tensors(cfg, n_train, seed, data_root, data_cache, workers)
    if cfg.kind == "multilabel":
        cfg = dataclasses.replace(cfg, attribute_rates=tuple(targets.float().mean(0).tolist()),
                                  exclusive=exclusive_pairs(cfg.capsule_names, targets.cpu()))
    images, targets = images.to(device), targets.to(device)
    torch.manual_seed(seed)
    model = CVAE(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator(device=device).manual_seed(seed)
    start, step = time.time(), 0
    while step < steps and (max_time is None or time.time() - start < max_time):
        progress = step / steps if max_time is None else max(step / steps, (time.time() - start) / max_time)
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        idx = torch.randint(len(images), (batch,), generator=g, device=device)
        x = images[idx].float().div(255)
        with autocast(device):
            losses = cvae_losses(model, x, targets[idx], recon_weight, kl_weight, recon=recon)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        step += 1
        if log and step % log_every == 0:
            log(f"baseline step {step}/{steps} {time.time() - start:.0f}s  "
                + "  ".join(f"{k} {float(v.detach()):.3f}" for k, v in losses.items()))
    model.eval()
    if out_path is not None:
        save_baseline(out_path, model, {"steps": step, "seconds": round(time.time() - start, 1)},
                      recipe={"lr": lr, "batch": batch, "recon": recon, "recon_weight": recon_weight,
                              "kl_weight": kl_weight, "n_train": len(images), "seed": seed})
    return model
