"""Variational capsules: the KL that says whether an entity is present, sampling, and masks.

A capsule k is a diagonal Gaussian q(c_k|x) = N(mu_k, diag(sigma_k^2)). Its KL divergence to the prior
N(0, I) is small when the entity is present (the capsule is "on the prior" and carries the entity's
style) and large when it is absent (pushed above a margin). Layout conventions: docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor


def capsule_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form KL(N(mu, diag(exp(logvar))) || N(0, I)) per capsule (the paper's Eq. 2, with the
    leading minus sign the paper drops), summed over the capsule dimension.

    mu, logvar: (..., K, D)  ->  (..., K), always >= 0.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=-1)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """c = mu + eps * sigma with eps ~ N(0, I): differentiable in mu and logvar. (..., D) -> (..., D)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * (0.5 * logvar).exp()


def targets_to_mask(targets: Tensor, kind: str, num_capsules: int) -> Tensor:
    """Ground-truth capsule mask T (B, K) in {0, 1}.

    multilabel: targets (B, A) in {0, 1}; capsule 2a is "present", 2a+1 "absent" (K = 2A).
    multiclass: targets (B,) class indices; one-hot over K classes.
    """
    if kind == "multilabel":
        t = targets.float()
        return torch.stack([t, 1.0 - t], dim=-1).flatten(-2)
    return torch.nn.functional.one_hot(targets.long(), num_capsules).float()


def active_mask(kl: Tensor, kind: str) -> Tensor:
    """The mask the model itself predicts: (B, K) -> (B, K) in {0, 1}.

    multilabel: in each present/absent pair the capsule with the smaller KL is active.
    multiclass: the capsule with the smallest KL is the only active one.
    """
    if kind == "multilabel":
        pairs = kl.unflatten(-1, (-1, 2))  # (B, A, 2)
        present = (pairs[..., 0] <= pairs[..., 1]).float()
        return torch.stack([present, 1.0 - present], dim=-1).flatten(-2)
    return torch.nn.functional.one_hot(kl.argmin(dim=-1), kl.shape[-1]).float()


def mask_to_states(mask: Tensor, kind: str) -> Tensor:
    """Inverse of targets_to_mask: (B, K) -> multilabel (B, A) in {0, 1}, multiclass (B,) indices."""
    if kind == "multilabel":
        return mask.unflatten(-1, (-1, 2))[..., 0]
    return mask.argmax(dim=-1)


def mask_capsules(c: Tensor, mask: Tensor) -> Tensor:
    """What the generator sees: inactive capsules zeroed. c (B, K, D), mask (B, K) -> (B, K, D)."""
    return c * mask.unsqueeze(-1)


def attribute_scores(kl: Tensor, kind: str, temperature: float = 1.0) -> Tensor:
    """A score in [0, 1] for "present", from the KLs.

    multilabel: sigmoid((KL_absent - KL_present) / T) per pair, (B, 2A) -> (B, A); 0.5 = undecided.
    multiclass: softmax(-KL / T) over classes, (B, K) -> (B, K).
    """
    if kind == "multilabel":
        pairs = kl.unflatten(-1, (-1, 2))
        return torch.sigmoid((pairs[..., 1] - pairs[..., 0]) / temperature)
    return torch.softmax(-kl / temperature, dim=-1)


def draw_states(names: Sequence[str], kind: str, rates: Sequence[float], attributes: Mapping[str, bool],
                n: int, g: torch.Generator) -> Tensor:
    """States for n new images: the given attributes fixed, the rest drawn (seeded) with the training
    positive rates (else 0.5) for multilabel -> (n, A) in {0, 1}; multiclass -> (n,) class indices, the
    one class set True or a uniform class. Unknown names raise KeyError."""

    def index(name: str) -> int:
        if name not in names:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(names)}")
        return list(names).index(name)

    if kind == "multilabel":
        p = torch.tensor(list(rates) or [0.5] * len(names))
        states = (torch.rand((n, len(names)), generator=g) < p).float()
        for name, on in attributes.items():
            states[:, index(name)] = float(bool(on))
        return states
    wanted = [index(k) for k, on in attributes.items() if on]
    if len(wanted) > 1:
        raise ValueError("a digit model samples one class at a time")
    return torch.full((n,), wanted[0]) if wanted else torch.randint(len(names), (n,), generator=g)
