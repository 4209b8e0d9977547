"""Losses: small pure functions (stylegan2-pytorch style). Each returns a scalar averaged over the batch.

Paper terms: capsule_margin_loss (Eq. 3), reconstruction_loss (Eq. 4), lsgan_* (Eq. 5). The rest are the
levers that make edits take (docs/recipes.md measures each).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from model.capsules import capsule_kl


def capsule_margin_loss(kl: Tensor, targets: Tensor, margin: float, down_weight: float) -> Tensor:
    """Eq. 3: L_k = T_k * KL_k + lambda * (1 - T_k) * max(0, m - KL_k), summed over capsules, averaged over
    the batch. Active capsules are pulled onto the prior; inactive ones pushed at least m nats away.

    kl: (B, K) per-capsule KL; targets: (B, K) mask T in {0, 1}; margin m; down_weight lambda.
    """
    t = targets.to(kl.dtype)
    per_capsule = t * kl + down_weight * (1.0 - t) * F.relu(margin - kl)
    return per_capsule.sum(dim=-1).mean()


def capsule_choice_loss(kl: Tensor, targets: Tensor, group_size: int, temperature: float = 1.0) -> Tensor:
    """Cross-entropy of each group's choice by smallest KL: softmax over -KL_k / temperature within each group
    of `group_size` capsules (all ten digits; an attribute's present/absent pair), the true capsule as the
    label; summed over groups, averaged over the batch. Eq. 3 asks each KL to sit on its side of the margin
    on its own; this asks the true capsule's KL to undercut its rivals', which is what prediction reads. At
    temperature 1 (KLs are in nats) it has gradient only where the choice is close; a higher temperature
    keeps widening the gap on every image, like a soft, larger margin.

    kl: (B, K); targets: (B, K) mask with exactly one 1 per group of consecutive capsules.
    """
    b, k = kl.shape
    logits = -kl.float().reshape(b * (k // group_size), group_size) / temperature
    labels = targets.reshape(b * (k // group_size), group_size).argmax(-1)
    return F.cross_entropy(logits, labels, reduction="sum") / b


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL of a diagonal Gaussian (B, D) to N(0, I), summed over D, averaged over the batch (the context
    capsule's VAE term). Zero for D = 0."""
    if mu.shape[-1] == 0:
        return mu.new_zeros(())
    return capsule_kl(mu, logvar).mean()


def reconstruction_loss(x_hat: Tensor, x: Tensor, kind: str = "mse", reduction: str = "sum") -> Tensor:
    """Eq. 4. x_hat, x: (B, C, H, W) in [0, 1]. "sum" sums over pixels (VAE-style, commensurate with the
    KL in nats), "mean" averages; both average over the batch. kind "bce" for near-binary images."""
    if kind == "mse":
        per_pixel = (x_hat.float() - x.float()).pow(2)
    elif kind == "bce":
        with torch.autocast(x_hat.device.type, enabled=False):  # BCE refuses to run under autocast
            per_pixel = F.binary_cross_entropy(x_hat.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none")
    else:
        raise ValueError(f"unknown reconstruction loss {kind!r}")
    per_image = per_pixel.flatten(1).sum(1) if reduction == "sum" else per_pixel.flatten(1).mean(1)
    return per_image.mean()


def edge_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Squared error of neighbouring-pixel differences (horizontal and vertical), summed over pixels like
    reconstruction_loss's "sum", averaged over the batch. x_hat, x: (B, C, H, W).

    A decoder early in training draws low frequencies first and leaves every edge soft: the pixel MSE of a
    slightly blurred face is small. On differences a blur costs what an edge is worth, and a uniform shift of
    brightness costs nothing, so this weighs the fine detail the oracle's Blurry reads (docs/recipes.md,
    session 27).
    """
    d = x_hat.float() - x.float()
    dy, dx = d[..., 1:, :] - d[..., :-1, :], d[..., :, 1:] - d[..., :, :-1]
    return (dy.pow(2).flatten(1).sum(1) + dx.pow(2).flatten(1).sum(1)).mean()


def lsgan_discriminator_loss(real_scores: list[Tensor], fake_scores: list[Tensor]) -> Tensor:
    """Eq. 5, discriminator side (least squares, targets real=1, fake=0), summed over the scales."""
    loss = real_scores[0].new_zeros(())
    for real, fake in zip(real_scores, fake_scores, strict=True):
        loss = loss + 0.5 * ((real.float() - 1).pow(2).mean() + fake.float().pow(2).mean())
    return loss


def lsgan_generator_loss(fake_scores: list[Tensor]) -> Tensor:
    """Eq. 5, generator side: fakes should score 1 at every scale."""
    return sum(0.5 * (f.float() - 1).pow(2).mean() for f in fake_scores)


def attribute_judge_loss(logits: Tensor, states: Tensor) -> Tensor:
    """A judge's reading of generated images against the states they were asked for.

    logits: (B, A) the judge's per-attribute logits; states: (B, A) in {0, 1}. Summed over attributes.
    The judge's own weights must not learn from this (it is trained on real images only): call it
    with the judge frozen (requires_grad False) so the gradient reaches the generator alone.
    """
    return F.binary_cross_entropy_with_logits(logits.float(), states.float(), reduction="none").sum(1).mean()


def perceptual_loss(fake: list[Tensor], real: list[Tensor]) -> Tensor:
    """LPIPS-style distance without learned layer weights: each stage's activations (B, C, H, W) are
    scaled to unit length along channels at every position, then the squared difference is summed over
    channels, averaged over positions and summed over stages (so each stage adds at most 4).

    A pixel MSE lets a decoder that is unsure which of several small shapes to draw (which pair of
    glasses) paint their average; a CNN's activations tell the shapes apart, so matching them pays for
    committing to one. Averaged over the batch. fake: from generated images; real: the targets (the
    network reading them must be frozen; the gradient reaches the generator through `fake` alone).
    """
    loss = fake[0].new_zeros((), dtype=torch.float32)
    for f, r in zip(fake, real, strict=True):
        f = F.normalize(f.float(), dim=1, eps=1e-6)
        r = F.normalize(r.float().detach(), dim=1, eps=1e-6)
        loss = loss + (f - r).pow(2).sum(1).flatten(1).mean(1).mean()
    return loss


def style_judge_loss(fake: list[Tensor], real: list[Tensor], present: Tensor) -> Tensor:
    """A frozen reader's style heads on generated images against its reading of their targets.

    fake, real: per style attribute s, logits (B, count_s) read on the generated images and on the real
    images they should look like; present: (B, S) bool, the attribute shows on the real image (a style is
    only defined there). The generated image must be read as the style the reader sees on the real one
    (cross-entropy against that argmax), summed over the present style attributes, averaged over the batch.

    The target is the reader's, not the renderer's: a cached CelebA-like set has no style ids, and what the
    decoder is asked to commit to is whatever a reader of real images tells apart. The reader must be
    frozen; the gradient reaches the generator through `fake` alone.
    """
    loss = fake[0].new_zeros((), dtype=torch.float32)
    for s, (f, r) in enumerate(zip(fake, real, strict=True)):
        ce = F.cross_entropy(f.float(), r.detach().argmax(1), reduction="none")
        loss = loss + (ce * present[:, s].float()).sum()
    return loss / present.shape[0]


def mmd_to_prior(samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Maximum mean discrepancy (inverse multiquadric kernel, as WAE) between capsule samples (N, D)
    and as many draws from N(0, I): closes "prior holes" so that a capsule drawn from the prior
    looks like one the decoder saw in training."""
    n, d = samples.shape
    if n < 2:
        return samples.new_zeros(())
    prior = torch.randn(samples.shape, generator=generator, device=samples.device, dtype=samples.dtype)
    c = 2.0 * d

    def k(a: Tensor, b: Tensor) -> Tensor:
        return c / (c + torch.cdist(a, b).pow(2))

    off = 1.0 - torch.eye(n, device=samples.device, dtype=samples.dtype)
    kxx = (k(samples, samples) * off).sum() / (n * (n - 1))
    kyy = (k(prior, prior) * off).sum() / (n * (n - 1))
    kxy = k(samples, prior).mean()
    return kxx + kyy - 2.0 * kxy
