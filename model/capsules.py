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

    mu, logvar: (..., K, D)  ->  (..., K), always >= 0. Computed in at least float32: the KL is the classifier,
    and under CPU bf16 autocast (which, unlike CUDA's, keeps exp and sum in bf16) an 8-bit mantissa would
    round a 600-nat margin sum to steps of 4.
    """
    dtype = torch.promote_types(mu.dtype, torch.float32)
    mu, logvar = mu.to(dtype), logvar.to(dtype)
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


def transfer_features(c: Tensor, mask: Tensor, ctx: Tensor) -> Tensor:
    """What a transfer map (model/transfer.py) reads of a face: c (B, K, D), mask (B, K) in {0, 1}
    (multilabel pairs), ctx (B, Dc) -> (B, A * D + Dc + 1): the active capsule of every pair, the context,
    and a constant 1 (the bias)."""
    active = (c * mask.unsqueeze(-1)).unflatten(1, (-1, 2)).sum(2)  # (B, A, D)
    return torch.cat([active.flatten(1), ctx, torch.ones_like(ctx[:, :1])], 1)


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
                n: int, g: torch.Generator, partners: Tensor | None = None) -> Tensor:
    """States for n new images: the given attributes fixed, the rest drawn (seeded) with the training
    positive rates (else 0.5) for multilabel -> (n, A) in {0, 1}; multiclass -> (n,) class indices, the
    one class set True or a uniform class. Unknown names raise KeyError. With partners (A, A) bool (see
    partner_matrix), drawn attributes that clash with a given one or an earlier drawn one are turned off."""

    def index(name: str) -> int:
        if name not in names:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(names)}")
        return list(names).index(name)

    if kind == "multilabel":
        p = torch.tensor(list(rates) or [0.5] * len(names))
        states = (torch.rand((n, len(names)), generator=g) < p).float()
        for name, on in attributes.items():
            states[:, index(name)] = float(bool(on))
        if partners is not None:  # drawn states must not clash with each other or with the given ones
            fixed = torch.zeros(len(names), dtype=torch.bool)
            fixed[[index(k) for k in attributes]] = True
            states = resolve_exclusive(states.bool(), partners, fixed).float()
        return states
    wanted = [index(k) for k, on in attributes.items() if on]
    if len(wanted) > 1:
        raise ValueError("a digit model samples one class at a time")
    return torch.full((n,), wanted[0]) if wanted else torch.randint(len(names), (n,), generator=g)


# ----------------------------------------------------------------------------------------------------
# Exclusive attributes (AttGAN / STGAN's "attribute conflicts": Bald and Bangs, two hair colours, ...)


def exclusive_pairs(names: Sequence[str], targets: Tensor, min_expected: float = 50.0,
                    max_ratio: float = 0.005) -> tuple[tuple[str, str], ...]:
    """Pairs of attributes the training data never (or almost never) shows together: targets (N, A) in
    {0, 1} -> ((a, b), ...) with a before b in `names`.

    A pair counts when independence would predict at least min_expected faces with both, yet at most
    max_ratio of that many have both (a tolerance for label noise, as in CelebA's hand labels). Strongly
    correlated pairs look exclusive in small samples (Goatee and Wearing_Lipstick): on rendered faces 8,000
    faces recover exactly the renderer's rules, 2,000 do not."""
    t = targets.double()
    n = max(t.shape[0], 1)
    together = t.T @ t  # (A, A) counts of faces with both
    rate = t.mean(0)
    expected = n * rate[:, None] * rate[None, :]
    rule = (expected >= min_expected) & (together <= max_ratio * expected)
    return tuple((names[a], names[b]) for a, b in rule.triu(1).nonzero().tolist())


def partner_matrix(names: Sequence[str], pairs: Sequence[Sequence[str]]) -> Tensor:
    """(A, A) bool, symmetric: True where two attributes are exclusive."""
    index = {name: i for i, name in enumerate(names)}
    m = torch.zeros(len(names), len(names), dtype=torch.bool)
    for a, b in pairs:
        m[index[a], index[b]] = m[index[b], index[a]] = True
    return m


def resolve_exclusive(states: Tensor, partners: Tensor, keep: Tensor) -> Tensor:
    """Clear clashes: states (B, A) bool, partners (A, A) bool, keep (A,) or (B, A) bool marks attributes
    that must stay as they are. Every kept present attribute turns its partners off; then, in attribute
    order, a present attribute turns its later partners off. Returns a new (B, A) bool."""
    states, keep = states.clone(), keep.expand_as(states)
    kept_on = states & keep
    states &= ~(kept_on.float() @ partners.float()).bool() | keep
    for a in partners.any(0).nonzero().squeeze(1).tolist():
        later = partners[a].clone()
        later[: a + 1] = False
        states[:, later] &= ~states[:, a : a + 1] | keep[:, later]
    return states
