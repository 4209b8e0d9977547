"""The VCN module: encoder -> variational capsules -> masked generator, and its operations.

Inference operations (predict, reconstruct, edit, resample, swap, interpolate, sample) take images as
float (B, C, H, W) in [0, 1] on the model's device, run under inference mode, and are reproducible: every
random draw comes from a CPU torch.Generator seeded by the caller, then moves to the device, so the same
seed gives the same capsules on any device.

A capsule the image never had (an attribute switched on, a new style) is drawn from the prior N(0, I),
as the paper does, or, when the checkpoint carries a capsule bank (cfg.bank_size > 0, built by
model/bank.py) and `capsule_source == "bank"`, picked from capsules the encoder produced for training
faces: the aggregate posterior instead of the prior, which has holes the decoder never saw. Whatever else
the old capsule carried is lost (measured as edit_preservation), unless the checkpoint has transfer maps
(model/transfer.py, cfg.transfer_maps): then the new capsule is predicted from the face's own capsules.
How a capsule is drawn, switched or restyled lives in model/capsule_edits.py (mixed into VCN).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from model.capsule_edits import CapsuleEdits
from model.capsules import (
    active_mask,
    attribute_scores,
    capsule_kl,
    draw_states,
    mask_capsules,
    mask_to_states,
    reparameterize,
    targets_to_mask,
)
from model.config import VCNConfig, from_dict
from model.networks import build_encoder, build_generator
from model.oracle import Oracle, OracleConfig
from model.paste_regions import pasted_restyles
from model.seeds import generators
from model.verify import best_draw, target_confidence, verified_tries


def blend_edit(edited: Tensor, recon: Tensor, threshold: float, kernel: int = 5, base: Tensor | None = None) -> Tensor:
    """Keep an edit where it changes the picture, the reconstruction where it barely does: edited, recon
    (B, C, H, W) -> (B, C, H, W) = recon + w * (edited - recon), with w = min(1, d / threshold) and d the
    change (mean over channels) box-smoothed over kernel x kernel pixels. base (B, C, H, W): what is kept
    where the edit barely changes the picture, if not the reconstruction (the input image: a pasted edit).

    Why: an edit pushed past strength 1 also drifts the whole picture a little (pose, background,
    brightness), which the oracle reads as nuisance not kept; the attribute's own change is large and local.
    A mask from the edit itself, like GANimation's attention mask but not learnt."""
    d = (edited - recon).abs().mean(dim=1, keepdim=True)
    d = torch.nn.functional.avg_pool2d(d, kernel, stride=1, padding=kernel // 2, count_include_pad=False)
    return torch.lerp(recon if base is None else base, edited, (d / threshold).clamp(max=1.0))


@dataclass
class Capsules:
    """Posterior parameters for a batch: mu, logvar (B, K, D); ctx_mu, ctx_logvar (B, Dc)."""

    mu: Tensor
    logvar: Tensor
    ctx_mu: Tensor
    ctx_logvar: Tensor

    @property
    def kl(self) -> Tensor:
        """(B, K) per-capsule KL to the prior."""
        return capsule_kl(self.mu, self.logvar)


@dataclass
class Prediction:
    """Per attribute (or class): present (B, A) bool, score (B, A) in [0, 1], kl_present (B, A),
    kl_absent (B, A) (NaN for multiclass models, which have one capsule per class)."""

    present: Tensor
    score: Tensor
    kl_present: Tensor
    kl_absent: Tensor


class VCN(CapsuleEdits, nn.Module):
    """The network (encoder, capsules, masked generator) and its operations; how a capsule is drawn, switched
    or restyled is model/capsule_edits.py's CapsuleEdits."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        self.generator = build_generator(cfg)
        # The capsule bank: per capsule slot up to bank_size posterior means, and as many context vectors.
        m = cfg.bank_size
        self.register_buffer("bank", torch.zeros(cfg.num_capsules if m else 0, m, cfg.capsule_dim))
        self.register_buffer("bank_count", torch.zeros(cfg.num_capsules if m else 0, dtype=torch.long))
        self.register_buffer("ctx_bank", torch.zeros(m, cfg.context_dim))
        self.capsule_source = "bank" if m else "prior"
        # Transfer maps (model/transfer.py): per capsule slot, features of the face -> the capsule to switch on.
        t, k = cfg.transfer_maps, cfg.num_capsules
        feats = cfg.num_names * cfg.capsule_dim + cfg.context_dim + 1
        self.register_buffer("transfer_weight", torch.zeros(k if t else 0, feats, cfg.capsule_dim))
        self.register_buffer("transfer_residual", torch.zeros(k if t else 0, t, cfg.capsule_dim))
        # Which cluster each residual is in, when calibrated (cfg.style_clusters "reader"; model/style_clusters.py).
        stored = cfg.style_clusters == "reader"
        self.register_buffer("style_cluster", torch.zeros(k if stored else 0, t if stored else 0, dtype=torch.long))
        # Per attribute, where a pasted resample may show the resample over the input (model/paste_regions.py).
        r = cfg.image_size if cfg.paste_regions else 0
        self.register_buffer("paste_region", torch.zeros(cfg.num_names if r else 0, r, r))
        # Verified edits (model/verify.py): a calibration reader embedded in the file, so one file serves.
        self.verifier = Oracle(from_dict(OracleConfig, json.loads(cfg.verifier))) if cfg.verifier else None

    # ------------------------------------------------------------------------------------------------
    # The differentiable path (training)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: Tensor) -> Capsules:
        """(B, C, H, W) -> Capsules."""
        return Capsules(*self.encoder(x))

    def decode(self, c: Tensor, mask: Tensor, ctx: Tensor, mask_input: Tensor | None = None) -> Tensor:
        """c (B, K, D) capsule values, mask (B, K) (soft masks allowed), ctx (B, Dc) -> (B, C, H, W).
        mask_input (B, K): what a cfg.mask_input generator reads as the mask, if not `mask` (edits with a
        strength other than 1 pass an extrapolated one)."""
        read = mask if mask_input is None else mask_input
        return self.generator(mask_capsules(c, mask), ctx, read if self.cfg.mask_input else None)

    def forward(self, x: Tensor, targets: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Capsules, Tensor]:
        """Training pass: sample capsules with the reparameterisation trick, mask them with the
        ground-truth mask when targets are given (teacher forcing) or else with the predicted one.
        Returns (reconstruction (B, C, H, W), capsules, mask (B, K))."""
        caps = self.encode(x)
        c = reparameterize(caps.mu, caps.logvar, generator)
        ctx = reparameterize(caps.ctx_mu, caps.ctx_logvar, generator)
        if targets is not None:
            mask = targets_to_mask(targets, self.cfg.kind, self.cfg.num_capsules)
        else:
            mask = active_mask(caps.kl.detach(), self.cfg.kind)
        return self.decode(c, mask, ctx), caps, mask

    def rebuilt(self, cfg: VCNConfig, fresh: tuple[str, ...]) -> VCN:
        """A copy built from cfg (this model's config with another bank or transfer-map size) that holds this
        model's weights and buffers, except the buffers whose names start with one of `fresh`: those are
        sized by cfg and left zero for the caller to fill. Metadata and capsule_source are carried over."""
        out = VCN(cfg).to(self.device)
        own = {k: v for k, v in self.state_dict().items() if not k.startswith(fresh)}
        out.load_state_dict(own, strict=False)
        out.metadata = getattr(self, "metadata", {})
        out.capsule_source = self.capsule_source
        return out

    # ------------------------------------------------------------------------------------------------
    # What the operations read of the image

    def _posterior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The image's own capsules at their means: c (B, K, D), ctx (B, Dc), mask (B, K), kl (B, K)."""
        caps = self.encode(x)
        kl = caps.kl
        return caps.mu.clone(), caps.ctx_mu, self._active(x, caps, kl)[0], kl

    def _active(self, x: Tensor, caps: Capsules, kl: Tensor) -> tuple[Tensor, Tensor]:
        """The mask the model predicts for images x (B, C, H, W) -> (mask (B, K), evidence (B, K): what the
        choice minimised). The smallest KL (active_mask); for a multiclass model with cfg.class_evidence_weight
        w, of the two classes of smallest KL the one with the smaller KL + w * reconstruction loss under its
        own mask (the loser's evidence grows by w times its extra loss)."""
        mask, w = active_mask(kl, self.cfg.kind), self.cfg.class_evidence_weight
        if self.cfg.kind != "multiclass" or w == 0:
            return mask, kl
        b, k = kl.shape
        two = kl.topk(2, dim=1, largest=False).indices  # (B, 2)
        masks = torch.nn.functional.one_hot(two.T.flatten(), k).to(caps.mu.dtype)  # (2B, K): first, second
        x_hat = self.decode(caps.mu.repeat(2, 1, 1), masks, caps.ctx_mu.repeat(2, 1)).float()
        target = x.float().repeat(2, 1, 1, 1)
        if self.cfg.class_evidence_recon == "bce":
            per_pixel = torch.nn.functional.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), target, reduction="none")
        else:
            per_pixel = (x_hat - target) ** 2
        loss = per_pixel.flatten(1).sum(1).view(2, b).T  # (B, 2)
        extra = w * (loss - loss.amin(1, keepdim=True))  # 0 for the one that draws the image better
        evidence = kl.float().scatter_add(1, two, extra)
        pick = two.gather(1, evidence.gather(1, two).argmin(1, keepdim=True)).squeeze(1)
        return torch.nn.functional.one_hot(pick, k).to(mask.dtype), evidence

    # ------------------------------------------------------------------------------------------------
    # Operations

    @torch.inference_mode()
    def predict(self, x: Tensor) -> Prediction:
        caps = self.encode(x)
        kl = caps.kl.float()
        mask, evidence = self._active(x, caps, kl)
        score = attribute_scores(evidence, self.cfg.kind)
        if self.cfg.kind == "multilabel":
            pairs = kl.unflatten(-1, (-1, 2))
            return Prediction(mask_to_states(mask, "multilabel").bool(), score, pairs[..., 0], pairs[..., 1])
        return Prediction(mask.bool(), score, kl, torch.full_like(kl, float("nan")))

    @torch.inference_mode()
    def reconstruct(self, x: Tensor) -> Tensor:
        c, ctx, mask, _ = self._posterior(x)
        return self.decode(c, mask, ctx)

    @torch.inference_mode()
    def edit(self, x: Tensor, set: Mapping[str, bool] | Sequence[Mapping[str, bool]] | None = None,
             resample: Sequence[str] = (),
             seed: int | Sequence[int] = 0, resolve_conflicts: bool = True, strength: float | None = None,
             style_strength: float | None = None, with_confidence: bool = False,
             paste: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Set attributes on/off and/or draw new styles for some; everything else is kept.

        A capsule switched on is predicted by the transfer maps when the model has them (a resampled one goes
        there and back through them; model/transfer.py), else drawn from the bank or the prior; for multiclass models
        `set` must name exactly one class as True (the new class). With resolve_conflicts, an attribute
        switched on also switches off its exclusive partners (cfg.exclusive) not named in `set`: Bald
        clears Bangs and the hair colours, as the training faces never show them together.

        strength: the mask change is extrapolated, old + strength * (new - old), in what the generator reads
        as the mask (in the capsule mask for models without mask_input), like guidance: above 1 edits take
        more often and keep a little less (measured in docs/recipes.md). A number applies to every capsule;
        None means the model's defaults: cfg.attribute_strength per attribute if calibrated, else
        cfg.edit_strength. With cfg.edit_blend an edit that sets attributes is blended into the reconstruction
        (blend_edit). With cfg.verify_strengths (and strength None) an edit that sets attributes is a verified
        one (model/verify.py): decoded at each of those strengths and at the default, and the first the
        embedded verifier believes is returned. style_strength: how far a resampled capsule moves (see
        restyled; None = cfg's). seed: one for the batch, or one per image (B of them), which makes each
        image's edit the same as if it were edited alone (model/seeds.py; the server batches edits so). `set`
        may also be one mapping per image (with one seed per image where they differ), each image then edited
        as if alone with its own: all of them must set something, or none of them (an edit that sets nothing is
        neither blended nor verified, so the two kinds cannot share a call).
        with_confidence: also return (B,) how sure the verifier is that each returned image shows what `set`
        asks (NaN where the edit was not verified), as (images, confidence). paste: blend the edit into x itself
        instead of its reconstruction (blend_edit's base), so what the edit does not change keeps the image's own
        pixels; a style resample, otherwise never blended (it is meant to change the picture), is pasted too;
        needs cfg.edit_blend (ValueError otherwise)."""
        base = x if self._pasting(paste) else None
        c, ctx, mask, _ = self._posterior(x)
        before, original = mask.clone(), c.clone()
        g = generators(seed, c.shape[0])
        feats = self.transfer_inputs(c, mask, ctx)
        # One ask per image (a single mapping is every image's).
        asks = [dict(set or {})] * c.shape[0] if set is None or isinstance(set, Mapping) else [dict(a) for a in set]
        if len(asks) != c.shape[0] or len({bool(ask) for ask in asks}) > 1:
            raise ValueError(f"set: one mapping per image ({len(asks)} for {c.shape[0]}), all setting something "
                             "or none")
        sets = any(asks)  # whether the edit switches anything (then it is blended, and may be verified)
        self._set_states_per_row(c, mask, asks, g, resolve_conflicts, feats)
        rows = torch.arange(c.shape[0])
        for name in resample:
            slot = self._active_slot(mask, name)
            c[rows, slot] = self.restyled(c[rows, slot], slot, feats, g, style_strength)
        return self._finish_edit(c, mask, ctx, before, original, asks if sets else None, strength, blend=sets or paste,
                                 base=base, with_confidence=with_confidence, restyled=() if sets else tuple(resample))

    def _finish_edit(self, c: Tensor, mask: Tensor, ctx: Tensor, before: Tensor, original: Tensor,
                     asks: Sequence[Mapping[str, bool]] | None, strength: float | None, blend: bool,
                     base: Tensor | None, with_confidence: bool, restyled: Sequence[str] = ()
                     ) -> Tensor | tuple[Tensor, Tensor]:
        """Decode edited capsules c, mask (before / original: the face's own) as edit does: at the given or the
        calibrated strength, verified when the model verifies and asks (one mapping of states per image: what the
        verifier must see) are given with no explicit strength, blended (and pasted onto base) as edit says;
        restyled: the attributes resampled by an edit that sets nothing (their pasted resamples may take their
        paste regions)."""
        s = self.strengths() if strength is None else float(strength)
        if not (asks and strength is None and self.cfg.verify_strengths and self.verifier is not None):
            out = self._decode_edits(c, mask, ctx, before, original, [s], blend, base=base, restyled=restyled)[0][0]
            return (out, torch.full((out.shape[0],), float("nan"), device=out.device)) if with_confidence else out
        # A verified edit (model/verify.py): the first strength for every face, decoded with the reconstruction
        # to blend into; the rest of the ladder and the calibrated strength at once for the faces the verifier
        # does not yet believe.
        recon: Tensor | None = None  # every face's, from the first call (stays None without a blend)

        def decode_at(rows: Tensor, strengths: Sequence[float | Tensor]) -> Tensor:
            nonlocal recon
            tries, r = self._decode_edits(c[rows], mask[rows], ctx[rows], before[rows], original[rows], strengths,
                                          True, None if recon is None else recon[rows],
                                          None if base is None else base[rows])
            recon = r if recon is None else recon
            return tries

        def confidence(rows: Tensor, images: Tensor) -> Tensor:  # images: each row's tries, strength by strength
            asked = [asks[i] for i in rows.tolist()] * (len(images) // len(rows))
            return target_confidence(self.verifier, images, self.cfg.capsule_names, asked)

        first, *rest = [*self.cfg.verify_strengths, s]
        out, sure, _ = verified_tries(c.shape[0], [[first], rest], decode_at, confidence, self.cfg.verify_confidence,
                                   self.device)
        return (out, sure) if with_confidence else out

    def _decode_edits(self, c: Tensor, mask: Tensor, ctx: Tensor, before: Tensor, original: Tensor,
                      strengths: Sequence[float | Tensor], blend: bool, recon: Tensor | None = None,
                      base: Tensor | None = None, restyled: Sequence[str] = ()) -> tuple[Tensor, Tensor | None]:
        """The edit (capsules c, mask; before / original: the face's own) decoded at each strength in one
        generator call -> (L, B, C, H, W), and the reconstruction it was blended into (None without a blend).
        With blend and cfg.edit_blend each is blended into the reconstruction (a style resample is not: it is
        meant to change the picture), decoded in the same call unless given; base: blended into that instead
        (blend_edit), and where restyled names resampled attributes, with their paste regions
        (model/paste_regions.py)."""
        reads = [mask if isinstance(s, float) and s == 1.0 else torch.lerp(before, mask, s) for s in strengths]
        caps_masks = [mask] * len(reads) if self.cfg.mask_input else reads  # a plain generator reads the mask there
        blend = blend and bool(self.cfg.edit_blend)
        own = (original, before, ctx) if blend and recon is None else None  # one more block of rows in the call
        out, decoded = self._decode_with_own(torch.cat([c] * len(reads)), torch.cat(caps_masks),
                                             ctx.repeat(len(reads), 1), torch.cat(reads), own)
        recon = recon if decoded is None else decoded
        if blend:
            tile = (len(reads), 1, 1, 1)
            onto = None if base is None else base.to(out.dtype).repeat(tile)
            pasted = blend_edit(out, recon.repeat(tile), self.cfg.edit_blend, base=onto)
            regions = onto is not None and restyled and self.paste_region.numel()
            out = pasted_restyles(self, out, pasted, onto, restyled) if regions else pasted
        return out.unflatten(0, (len(reads), c.shape[0])), recon

    def _pasting(self, paste: bool) -> bool:
        """paste, checked: only a model that blends its edits (cfg.edit_blend) can paste (ValueError)."""
        if paste and not self.cfg.edit_blend:
            raise ValueError("paste needs a model that blends its edits (cfg.edit_blend)")
        return paste

    def _decode_onto(self, c: Tensor, mask: Tensor, ctx: Tensor, x: Tensor,
                     own: tuple[Tensor, Tensor, Tensor] | None, mask_input: Tensor | None = None) -> Tensor:
        """decode(c, mask, ctx, mask_input) -> (N, C, H, W); with own (the image's own capsules, mask and context,
        for B = 1 or N images x (B, C, H, W)) pasted onto x: the image's reconstruction, decoded in the same call,
        gives blend_edit its weights."""
        out, recon = self._decode_with_own(c, mask, ctx, mask_input, own)
        if recon is None:
            return out
        return blend_edit(out, recon.expand_as(out), self.cfg.edit_blend, base=x.to(out.dtype).expand_as(out))

    def _decode_with_own(self, c: Tensor, mask: Tensor, ctx: Tensor, mask_input: Tensor | None,
                         own: tuple[Tensor, Tensor, Tensor] | None) -> tuple[Tensor, Tensor | None]:
        """decode(c, mask, ctx, mask_input) -> (N, C, H, W), and with own (capsules, mask, context of the faces
        edited) their reconstructions (B, C, H, W) decoded in the same generator call (a blend's weights);
        None without own."""
        if own is None:
            return self.decode(c, mask, ctx, mask_input=mask_input), None
        n = c.shape[0]
        reads = None if mask_input is None else torch.cat([mask_input, own[1]])
        out = self.decode(torch.cat([c, own[0]]), torch.cat([mask, own[1]]), torch.cat([ctx, own[2]]),
                          mask_input=reads)
        return out[:n], out[n:]

    def strengths(self) -> float | Tensor:
        """The default edit strength: cfg.edit_strength, or (K,) per capsule from cfg.attribute_strength
        (both capsules of an attribute pushed alike)."""
        if not self.cfg.attribute_strength:
            return float(self.cfg.edit_strength)
        per_name = torch.tensor(self.cfg.attribute_strength, device=self.device)
        return per_name.repeat_interleave(2) if self.cfg.kind == "multilabel" else per_name

    @torch.inference_mode()
    def resample(self, x: Tensor, attribute: str, n: int, seed: int = 0, style_strength: float | None = None,
                 paste: bool = False) -> Tensor:
        """x (1, C, H, W) -> (n, C, H, W): n new styles of that attribute's active capsule (see edit; paste:
        each pasted onto x)."""
        return self.edit(x[:1].expand(n, *x.shape[1:]), resample=[attribute], seed=seed, style_strength=style_strength,
                         paste=paste)

    @torch.inference_mode()
    def swap(self, x: Tensor, x_b: Tensor, attributes: Sequence[str], paste: bool = False,
             resolve_conflicts: bool = True, strength: float | None = None, style_strength: float | None = None,
             with_confidence: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Take the named attributes' capsules (and their on/off state) from x_b; keep the rest of x. With
        transfer maps only x_b's style of the attribute is taken: the capsule is the maps' prediction for x
        plus what x_b's capsule has beyond the maps' prediction for x_b, so x keeps its background, that style
        pushed by style_strength as a resample's drawn style is (None: cfg.style_strength; on session 13's file
        2.5 showed the donor's style in 43 % of style swaps against 36 % at 1, docs/recipes-sessions-11-14.md; so
        a face swapped with itself comes back as itself only at 1: above, its own style is pushed, by under a
        thousandth of the pixel range on session 15's file, and a rule that moves only by the styles' difference
        showed fewer donor styles: docs/recipes-sessions-15-16.md, session 15).

        A swap that changes a face's states is an edit to x_b's states with x_b's capsules (see edit): with
        resolve_conflicts an attribute taken switched on switches off its exclusive partners not taken too (a
        blond donor's hair onto a black-haired face); the mask change is pushed by the calibrated strengths (or
        `strength`, never verified), verified where the model verifies (the verifier must see x_b's states of the
        named attributes), and blended into the reconstruction (paste: into x itself). A face that only takes
        styles is restyled as a resample is: not verified, blended only when pasted. with_confidence as edit's
        (NaN for faces only restyled). Session 13 made it so: decoded once, unpushed and unresolved, a swap took
        the donor's state 75 % of the time on that session's file, an edit 95 % (docs/recipes-sessions-11-14.md)."""
        c, ctx, mask, _ = self._posterior(x)
        before, original = mask.clone(), c.clone()
        base = x if self._pasting(paste) else None
        c_b, ctx_b, mask_b, _ = self._posterior(x_b.expand_as(x) if x_b.shape[0] == 1 else x_b)
        feats, feats_b = self.transfer_inputs(c, mask, ctx), self.transfer_inputs(c_b, mask_b, ctx_b)
        push = self.cfg.style_strength if style_strength is None else float(style_strength)
        asks = self._take(c, mask, c_b, mask_b, feats, feats_b, attributes, push, resolve_conflicts)
        # A face whose states change is edited (pushed, verified, blended); one that only takes styles is restyled,
        # as a resample is: never verified, and not blended unless pasted (a blend fades a faint new style away).
        moved = (mask != before).any(1)
        images, sure = None, None
        for edits in (True, False):
            idx = (moved == edits).nonzero().squeeze(1)
            if len(idx) == 0:
                continue
            got, conf = self._finish_edit(c[idx], mask[idx], ctx[idx], before[idx], original[idx],
                                          [asks[i] for i in idx.tolist()] if edits else None, strength,
                                          blend=edits or paste, base=None if base is None else base[idx],
                                          with_confidence=True)
            if images is None:
                images, sure = got.new_empty((c.shape[0], *got.shape[1:])), conf.new_empty(c.shape[0])
            images[idx], sure[idx] = got, conf
        return (images, sure) if with_confidence else images

    @torch.inference_mode()
    def interpolate(self, x: Tensor, steps: int, attribute: str | None = None, x_b: Tensor | None = None,
                    seed: int = 0, paste: bool = False, strength: float | None = None) -> Tensor:
        """x (1, C, H, W) -> (steps, C, H, W) frames.

        With `attribute`: from the image as it is to the attribute flipped, sliding the mask weight from
        the current capsule to a newly drawn capsule of the other state (as edit draws it), and on to the edit's
        strength (edit's `strength`; None: the model's defaults, per attribute where calibrated, and for a model that
        verifies its edits the first of its ladder the verifier believes the last frame at, _verified_end), so the
        last frame is the edit at that strength (session 13: ending at strength 1, the last frame of the shipped
        file showed the flip 84 % of the time). With `x_b`: from x to x_b, interpolating capsule values, context
        and mask linearly. paste: every frame pasted onto x (see edit; the first frame is then x itself)."""
        if (attribute is None) == (x_b is None):
            raise ValueError("give exactly one of attribute or x_b")
        t = torch.linspace(0, 1, steps, device=self.device).view(-1, 1)
        c, ctx, mask, _ = self._posterior(x[:1])
        own = (c.clone(), mask.clone(), ctx) if self._pasting(paste) else None
        if x_b is not None:
            c_b, ctx_b, mask_b, _ = self._posterior(x_b[:1])
        else:
            c_b, ctx_b, mask_b = c.clone(), ctx, mask.clone()
            now_on = bool(self.cfg.kind == "multilabel" and mask[0, self.slot(attribute, True)] > 0.5)
            target = (not now_on) if self.cfg.kind == "multilabel" else True
            self._set_states(c_b, mask_b, {attribute: target}, torch.Generator().manual_seed(int(seed)),
                             feats=self.transfer_inputs(c, mask, ctx))
            c = torch.where(mask.unsqueeze(-1) > 0.5, c, c_b)  # both ends share every capsule value
            c_b = c
        cs = torch.lerp(c, c_b, t.view(-1, 1, 1))
        masks = reads = torch.lerp(mask, mask_b, t)
        if x_b is None:  # what the generator reads as the mask goes on to the strength (see _decode_edits)
            end = self.strengths() if strength is None else float(strength)
            if strength is None and self.cfg.verify_strengths and self.verifier is not None:
                end = self._verified_end(c, mask, ctx, mask_b, {attribute: target}, x[:1], own)
            reads = torch.lerp(mask, mask_b, t * end)
            masks = masks if self.cfg.mask_input else reads
        return self._decode_onto(cs, masks, torch.lerp(ctx, ctx_b, t), x[:1], own, mask_input=reads)

    def _verified_end(self, c: Tensor, mask: Tensor, ctx: Tensor, mask_b: Tensor, ask: Mapping[str, bool], x: Tensor,
                      own: tuple[Tensor, Tensor, Tensor] | None) -> float | Tensor:
        """The strength an interpolation to an attribute ends at in a model that verifies its edits: of the ladder
        (cfg.verify_strengths) and the calibrated strength, the first whose last frame (c (1, K, D), mask -> mask_b,
        pasted onto x when own is given, as the frames are) the verifier reads as showing `ask` with at least
        cfg.verify_confidence, else the most convincing (the earliest of equals): verified_tries' choice, in its two
        generator calls (the first rung, then the rest only if the verifier is not yet sure)."""
        ladder = [*self.cfg.verify_strengths, self.strengths()]

        def decode_at(rows: Tensor, strengths: Sequence[float | Tensor]) -> Tensor:  # -> (L, 1, C, H, W)
            reads = torch.cat([torch.lerp(mask, mask_b, s) for s in strengths])
            n = len(strengths)
            return self._decode_onto(c.expand(n, -1, -1), mask_b.expand(n, -1) if self.cfg.mask_input else reads,
                                     ctx.expand(n, -1), x, own, mask_input=reads).unsqueeze(1)

        def confidence(rows: Tensor, images: Tensor) -> Tensor:
            return target_confidence(self.verifier, images, self.cfg.capsule_names, ask)

        _, _, chosen = verified_tries(1, [ladder[:1], ladder[1:]], decode_at, confidence, self.cfg.verify_confidence,
                                      self.device)
        return ladder[int(chosen[0])]

    @torch.inference_mode()
    def sample(self, attributes: Mapping[str, bool] | None = None, n: int = 1, seed: int = 0) -> Tensor:
        """New images from the prior with the given attributes fixed; unspecified ones are drawn with the
        training positive rates (cfg.attribute_rates, else 0.5; multiclass: a uniform class)."""
        g = torch.Generator().manual_seed(int(seed))
        cfg = self.cfg
        states = draw_states(cfg.capsule_names, cfg.kind, cfg.attribute_rates, attributes or {}, n, g,
                             self.partners if cfg.exclusive else None)
        return self._decode_new(targets_to_mask(states, cfg.kind, cfg.num_capsules).to(self.device), g)

    def _decode_new(self, mask: Tensor, g: torch.Generator) -> Tensor:
        """Images made from scratch for a (N, K) mask: every capsule and the context newly drawn. With
        cfg.sample_tries T > 1 (verified samples, model/verify.py) each image is drawn T times in one generator
        call and the embedded verifier keeps the draw it reads closest to the mask."""
        n, k = mask.shape
        tries = self.cfg.sample_tries if self.verifier is not None else 1
        rows = mask.repeat(tries, 1)  # (T * N, K): try t of image i is row t * N + i
        c = self.draw(torch.arange(k).repeat(tries * n), g).view(tries * n, k, self.cfg.capsule_dim)
        out = self.decode(c, rows, self.draw_context(tries * n, g))
        if tries == 1:
            return out
        return best_draw(self.verifier, out.unflatten(0, (tries, n)), mask_to_states(mask, self.cfg.kind))

    @torch.inference_mode()
    def sample_states(self, states: Tensor, seed: int = 0) -> Tensor:
        """Prior samples for explicit states: multilabel (N, A) in {0, 1}, multiclass (N,) indices."""
        g = torch.Generator().manual_seed(int(seed))
        return self._decode_new(targets_to_mask(states.to(self.device), self.cfg.kind, self.cfg.num_capsules), g)
