"""The training objective: the paper's losses plus the levers that make edits take.

`VCNObjective` wraps a VCN so that one forward call computes every term of a step (DistributedDataParallel
wants exactly one forward per backward). Terms, each weighted by a TrainConfig field (0 = off):
- margin (Eq. 3) on every capsule's KL, reconstruction (Eq. 4), KL of the context capsule;
- choice: cross-entropy of the smallest-KL choice within each group (the ten digits, an attribute's pair),
  so the true capsule's KL must undercut its rivals' rather than only sit below the margin.
- swap: counterfactual pairs (x, x') from the renderer, same face with one attribute flipped or restyled.
  Decoding x's capsules with the changed attributes' pairs taken from x' must give x' (and the reverse).
  This makes the flipped pair the only carrier of that attribute (the other capsules and the context come
  from the face that has the other state) and puts the attribute's style inside its own capsule.
- donor: the swap again, but the changed pair comes from *another* face of the batch in the same state
  (rendered pairs only; not where the new state is a style attribute switched on, whose look the donor
  would bring along). The target is still x'. A capsule that carries anything of its face besides its
  attribute (background hue, pose: measured in docs/recipes.md) draws the donor's instead, so the encoder
  learns to leave those to the context capsule, and an edit with a banked capsule stops moving them.
- mmd: the active capsules' aggregate posterior is pulled towards N(0, I), so prior draws are in-distribution.
- judge: a frozen classifier trained on real renders only reads edits whose new capsule is a prior draw
  and pure prior samples; its loss reaches the generator alone (capsules are detached). Optionally it
  reads them through augment.judge_view, so that only changes robust to a shift and noise please it.
- adversarial (Eq. 5): LSGAN through a multi-scale discriminator on reconstructions and prior edits.
- perceptual: a frozen CNN trained on real renders (the judge's trunk by default) reads each reconstruction
  and its image; their activations must match (losses.perceptual_loss). Against the blurred average of
  small shapes (which pair of glasses) a pixel MSE settles for.
- edge: neighbouring-pixel differences of each reconstruction must match its image's (losses.edge_loss): the
  cheap half of the perceptual term's job, against the soft edges of a decoder early in training.
- style: a frozen reader with style heads (rendered faces) reads each reconstruction and swap and the image
  each must look like; the generated one must show the style the reader sees on the real one, for every
  style attribute that image has (losses.style_judge_loss). The swap of a restyled pair is where a capsule
  must bring another pair of glasses onto the face, what a resample does. The perceptual term asks for the
  same in general; this names the shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from model.augment import judge_view
from model.capsules import active_mask, mask_to_states, reparameterize, targets_to_mask
from model.config import TrainConfig
from model.data.faces_attributes import STYLE_COUNTS
from model.losses import (
    attribute_judge_loss,
    capsule_choice_loss,
    capsule_margin_loss,
    edge_loss,
    gaussian_kl,
    lsgan_generator_loss,
    mmd_to_prior,
    perceptual_loss,
    reconstruction_loss,
    style_judge_loss,
)
from model.vcn import VCN


@contextmanager
def running_norm(module: nn.Module) -> Iterator[None]:
    """Inside the block, `module`'s BatchNorm layers normalise with their running statistics (as at inference) and
    leave them as they are; gradients still flow. Layers already in eval mode stay so."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m in norms:
            m.train()


@dataclass
class Batch:
    """x (B, C, H, W) in [0, 1]; targets (B, A) in {0, 1} or (B,) classes. For counterfactual pairs:
    x_cf (B, C, H, W) the same faces with some attributes changed, targets_cf likewise; changed (B,) the
    attribute each pair changes on purpose (a restyled one keeps its state), None: read off the targets."""

    x: Tensor
    targets: Tensor
    x_cf: Tensor | None = None
    targets_cf: Tensor | None = None
    changed: Tensor | None = None


def swapped_slots(mask: Tensor, mask_cf: Tensor, changed: Tensor | None) -> Tensor:
    """Which capsules a counterfactual swap takes from the other face of the pair.

    mask, mask_cf (B, K) multilabel masks of the two faces (pairs exist for rendered faces only), changed
    (B,) attribute indices or None.
    Returns (B, K) bool: every capsule whose state differs (the flipped attribute and any rule-coupled
    partners), plus both capsules of the `changed` attribute (multilabel pairs 2a, 2a + 1), which a restyled
    pair needs since its state is the same on both faces."""
    slots = mask != mask_cf
    if changed is not None:
        idx = changed.long().to(mask.device)
        pair = torch.stack([2 * idx, 2 * idx + 1], dim=1)  # (B, 2): present and absent capsule
        slots = slots | torch.zeros_like(slots).scatter_(1, pair, True)
    return slots


def donor_rows(mask: Tensor, target: Tensor, slots: Tensor, eligible: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
    """For each counterfactual swap, a donor: another face whose mask equals the target on the swapped slots.

    mask (2B, K) the batch's masks [x; x'], target (B, K) the mask the swap must produce (x'), slots (B, K)
    bool the swapped capsules, eligible (B,) bool rows that may take a donor. Returns (B,) long indices into
    the 2B faces, drawn at random among the matches (never the pair itself), -1 where there is none."""
    b = target.shape[0]
    match = ((mask[None] == target[:, None]) | ~slots[:, None]).all(-1)  # (B, 2B)
    own = torch.arange(b, device=mask.device)
    match[own, own] = False
    match[own, own + b] = False
    match &= eligible[:, None]
    score = torch.rand(match.shape, device=mask.device, generator=generator) + match.to(torch.float32)
    return torch.where(match.any(1), score.argmax(1), torch.full_like(own, -1))


def flip_with_prior(c: Tensor, mask: Tensor, noise: Tensor, which: Tensor,
                    partners: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Flip one attribute per image, the newly active capsule drawn from the prior.

    c (B, K, D) capsule values, mask (B, K) multilabel mask, noise (B, K, D) prior draws (a slot uses its
    draw only if it becomes active), which (B,) attribute indices, partners (A, A) bool or None: where the
    flip switches an attribute on, its exclusive partners switch off (as VCN.edit does).
    Returns (c', mask')."""
    b = torch.arange(c.shape[0], device=c.device)
    states = mask_to_states(mask, "multilabel") > 0.5
    new = states.clone()
    new[b, which] = ~states[b, which]
    if partners is not None:
        switched_on = new[b, which].unsqueeze(1)  # (B, 1)
        new &= ~(partners.to(c.device)[which] & switched_on)
    new_mask = targets_to_mask(new, "multilabel", mask.shape[1]).to(mask.dtype)
    became_active = (new_mask > 0.5) & (mask < 0.5)
    return torch.where(became_active.unsqueeze(-1), noise.to(c.dtype), c), new_mask


class VCNObjective(nn.Module):
    """model + recipe -> dict of loss terms (and "total") for one batch."""

    def __init__(self, model: VCN, tcfg: TrainConfig, judge: nn.Module | None = None,
                 discriminator: nn.Module | None = None, perceptual: nn.Module | None = None,
                 style: nn.Module | None = None):
        super().__init__()
        self.model, self.tcfg = model, tcfg
        # Neither is trained through this objective: the judge is frozen (trained on real images only),
        # the discriminator has its own optimiser step. Stored outside the module tree on purpose.
        self._judge = [judge] if judge is not None else []
        # Present-capsule slots (2a) of attributes that have styles (rendered faces): a donor would bring its
        # style. (K,) bool, multilabel only.
        styled = torch.tensor([name in STYLE_COUNTS for name in model.cfg.capsule_names],
                              device=next(model.parameters()).device)
        self.style_slots = (torch.stack([styled, torch.zeros_like(styled)], 1).flatten()
                            if model.cfg.kind == "multilabel" else None)
        self._disc = [discriminator] if discriminator is not None else []
        # images (B, C, H, W) -> [(B, C_i, H_i, W_i)] activations per stage; frozen like the judge.
        self._perceptual = [perceptual] if perceptual is not None else []
        # images -> [(B, count_s)] style logits for every style attribute in STYLE_COUNTS' order; frozen. The
        # term reads the heads of the style attributes this model has (style_heads) against its targets'
        # columns of them (style_columns).
        self._style = [style] if style is not None else []
        styles = [(i, model.cfg.capsule_names.index(n)) for i, n in enumerate(STYLE_COUNTS)
                  if model.cfg.kind == "multilabel" and n in model.cfg.capsule_names]
        self.style_heads, self.style_columns = [i for i, _ in styles], [c for _, c in styles]
        for net in (judge, perceptual, style):
            for p in (net.parameters() if net is not None else []):
                p.requires_grad_(False)

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        m, t = self.model, self.tcfg
        cfg = m.cfg
        pairs = batch.x_cf is not None
        x = torch.cat([batch.x, batch.x_cf]) if pairs else batch.x
        targets = torch.cat([batch.targets, batch.targets_cf]) if pairs else batch.targets

        caps = m.encode(x)
        c = reparameterize(caps.mu, caps.logvar, generator)
        ctx = reparameterize(caps.ctx_mu, caps.ctx_logvar, generator)
        truth = targets_to_mask(targets, cfg.kind, cfg.num_capsules).to(c.dtype)
        # The margin loss always learns from the truth; the generator sees the true mask (teacher forcing)
        # or, as at inference, the one the capsules' KLs predict.
        mask = truth if t.teacher_forcing else active_mask(caps.kl.detach(), cfg.kind).to(c.dtype)
        recon = m.decode(c, mask, ctx)

        losses: dict[str, Tensor] = {
            "margin": capsule_margin_loss(caps.kl, truth, t.margin, t.down_weight),
            "recon": reconstruction_loss(recon, x, t.recon, t.recon_reduction),
            "ctx_kl": gaussian_kl(caps.ctx_mu, caps.ctx_logvar),
        }
        total = losses["margin"] + t.recon_weight * losses["recon"] + t.context_kl_weight * losses["ctx_kl"]
        if t.edge_weight > 0:
            losses["edge"] = edge_loss(recon, x)
            total = total + t.edge_weight * losses["edge"]
        if t.choice_weight > 0:
            group = 2 if cfg.kind == "multilabel" else cfg.num_capsules
            losses["choice"] = capsule_choice_loss(caps.kl, truth, group, t.choice_temperature)
            total = total + t.choice_weight * losses["choice"]
        if self._perceptual and t.perceptual_weight > 0:
            net = self._perceptual[0]
            with torch.no_grad():
                real = net(x)
            losses["perceptual"] = perceptual_loss(net(recon), real)
            total = total + t.perceptual_weight * losses["perceptual"]

        # Generated images and, per row, the row of x each must look like (style term).
        drawn, wanted = [recon], [torch.arange(x.shape[0], device=x.device)]
        if pairs and (t.swap_weight > 0 or t.donor_weight > 0):
            b = batch.x.shape[0]
            slots = swapped_slots(truth[:b], truth[b:], batch.changed)  # (B, K): what changes hands
            if t.swap_weight > 0:
                losses["swap"], swapped = self._swap_loss(c, ctx, truth, x, slots)
                total = total + t.swap_weight * losses["swap"]
                drawn.append(swapped)
                wanted.append(wanted[0].roll(b))  # [x'; x]
            if t.donor_weight > 0:
                losses["donor"] = self._donor_loss(c, ctx, truth, x, slots, generator)
                total = total + t.donor_weight * losses["donor"]
        if self._style and t.style_weight > 0 and self.style_heads:
            net, heads, rows = self._style[0], self.style_heads, torch.cat(wanted)
            with torch.no_grad():  # each real image read once, its reading reused for every image drawn after it
                real = net(x)
            drawn_all = torch.cat(drawn)
            fake = net(judge_view(drawn_all, generator) if t.style_augment else drawn_all)
            present = targets[rows][:, self.style_columns].bool()
            losses["style"] = style_judge_loss([fake[i] for i in heads], [real[i][rows] for i in heads], present)
            total = total + t.style_weight * losses["style"]
        if t.mmd_weight > 0:
            active = c[mask > 0.5]
            if active.shape[0] > 1024:  # an unbiased subsample keeps the kernel matrix small
                keep = torch.randperm(active.shape[0], device=c.device, generator=generator)[:1024]
                active = active[keep]
            losses["mmd"] = mmd_to_prior(active.float(), generator)
            total = total + t.mmd_weight * losses["mmd"]

        fakes = None
        if cfg.kind == "multilabel" and (self._judge and t.judge_weight > 0 or self._disc and t.adv_weight > 0):
            fakes, fake_states = self._prior_edits(c.detach(), ctx.detach(), mask, generator)
            if self._judge and t.judge_weight > 0:
                seen = judge_view(fakes, generator) if t.judge_augment else fakes
                losses["judge"] = attribute_judge_loss(self._judge[0](seen), fake_states)
                total = total + t.judge_weight * losses["judge"]
        generated = recon if fakes is None else torch.cat([recon, fakes])
        if self._disc and t.adv_weight > 0:
            losses["adv"] = lsgan_generator_loss(self._disc[0](generated))
            total = total + t.adv_weight * losses["adv"]

        losses["total"] = total
        # Kept for the discriminator step; detached so nothing leaks.
        self.last_fakes = generated.detach()
        return losses

    def _swap_loss(self, c: Tensor, ctx: Tensor, mask: Tensor, x: Tensor, slots: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-decoding of counterfactual pairs. c (2B, K, D) = [x; x'] capsules, mask likewise; slots
        (B, K) the capsules each pair exchanges (swapped_slots). Returns the loss and the decoded images
        (2B, C, H, W), which must look like [x'; x]."""
        b = slots.shape[0]
        changed = slots.unsqueeze(-1)  # (B, K, 1)
        c_x, c_cf = c[:b], c[b:]
        mixed = torch.cat([torch.where(changed, c_cf, c_x), torch.where(changed, c_x, c_cf)])
        # The first half keeps x's context and unchanged capsules but must look like x', and vice versa.
        mixed_mask = torch.cat([mask[b:], mask[:b]])
        mixed_ctx = torch.cat([ctx[:b], ctx[b:]])
        out = self.model.decode(mixed, mixed_mask, mixed_ctx)
        target = torch.cat([x[b:], x[:b]])
        return reconstruction_loss(out, target, self.tcfg.recon, self.tcfg.recon_reduction), out

    def _donor_loss(self, c: Tensor, ctx: Tensor, mask: Tensor, x: Tensor, slots: Tensor,
                    generator: torch.Generator | None) -> Tensor:
        """x's capsules and context, the changed pair from a donor in x''s state, must decode to x'."""
        b = slots.shape[0]
        eligible = ~(slots & (mask[b:] > 0.5) & self.style_slots).any(1)
        donor = donor_rows(mask, mask[b:], slots, eligible, generator)
        rows = (donor >= 0).nonzero().squeeze(1)
        if rows.numel() == 0:
            return c.new_zeros(())
        mixed = torch.where(slots[rows].unsqueeze(-1), c[donor[rows]], c[rows])
        out = self.model.decode(mixed, mask[b + rows], ctx[rows])
        return reconstruction_loss(out, x[b + rows], self.tcfg.recon, self.tcfg.recon_reduction)

    def _prior_edits(self, c: Tensor, ctx: Tensor, mask: Tensor,
                     generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Half the batch: one attribute flipped with a prior capsule; half: pure prior samples with the
        batch's own masks. Returns (images (N, C, H, W), the states they should show (N, A))."""
        cfg = self.model.cfg
        n = c.shape[0]
        half = n // 2
        which = torch.randint(cfg.num_names, (half,), device=c.device, generator=generator)
        noise = torch.randn(c[:half].shape, device=c.device, generator=generator)
        partners = self.model.partners if cfg.exclusive else None
        c_edit, m_edit = flip_with_prior(c[:half], mask[:half], noise, which, partners)
        c_prior = torch.randn(c[half:].shape, device=c.device, generator=generator)
        ctx_prior = torch.randn(ctx[half:].shape, device=c.device, generator=generator)
        cs = torch.cat([c_edit, c_prior.to(c.dtype)])
        masks = torch.cat([m_edit, mask[half:]])
        ctxs = torch.cat([ctx[:half], ctx_prior.to(ctx.dtype)])
        with running_norm(self.model.generator) if self.tcfg.judge_eval_norm else nullcontext():
            images = self.model.decode(cs, masks, ctxs)
        return images, masks.unflatten(-1, (-1, 2))[..., 0]
