"""Can the shipped decoder learn to draw Bangs' cuts if it sees more of them? (a probe, session 17)

    python experiments/decoder_focus.py OUT [--focus Bangs [Eyeglasses ...]] [--minutes 35] [--threads 1]
        [--device cuda] [--workers 4]

style_ceiling.py found the encoder carrying Bangs' cut (a linear probe reads it on 83 % of held-out faces) and the
decoder drawing it on under half of reconstructions (choppy 28 %). In training, 15 % of faces have Bangs and a
quarter of those the choppy cut: is the finest cut rare in the gradient, or beyond this decoder? Here the shipped
decoder alone is fine-tuned (the encoder frozen, so every capsule stage of the file still holds) on reconstructions
only (summed pixel MSE + 40 x the perceptual term with the training judge's trunk, as the shipped recipe weighs
them), capsules drawn from the posterior under the true mask, CPU bf16 autocast, for a fixed time, on faces of
training seed 0 past every set used so far: with --focus NAME half of each batch wears NAME in a uniformly drawn
style; with --focus none (the control) all are plain faces. The result is the shipped file with the new generator:
read it with `python experiments/style_ceiling.py OUT` and `python experiments/style_eval.py OUT`.

--swap-weight W (session 18): every face wearing NAME also has a twin, the same face rendered with another style of
NAME; the face's capsules with NAME's capsule pair taken from its twin must decode to the twin (the swap loss of
training's restyled pairs, model/recipe.py, pixel + perceptual as above, weighed by W). Reconstructions alone let the
decoder draw the cut from any capsule that carries it; the swap asks it to take the cut from NAME's own capsule,
which is the one a resample changes.

--region-weight W (session 18): the cut is a thin fringe, a few hundred of the 12,288 numbers a summed MSE adds up,
so a decoder that draws every cut as the same blur loses little. Each wearing face is rendered in every style of
NAME; the pixels where any two differ (grown by one pixel) are where the cut shows, and their squared error there is
added again, W times. --style-weight W (session 18): the style reader's (weights/reader.safetensors, not the
oracle) cross-entropy of NAME's style on the reconstructions of faces wearing it, against its reading of the input,
through the training judge's view (shifted, noisy), W times (losses.style_judge_loss, NAME's head only).

Session 19: --focus takes several attributes (half of the pool wears one of them, in equal shares, so a name given
twice gets twice the share; each face's region from its own attribute's styles; the swap and style terms still take
one), --device (cuda where present,
bf16 autocast on either) and --workers (processes rendering the pool) for a lent GPU's length of run.

--resample-weight W (session 20): the decoder trained on resamples as the shipped path draws them. Each face wearing
the focus has its capsule replaced by the maps' prediction for it plus style_strength times another wearing face's
residual (that face's capsule less the maps' prediction for it, both at the posterior means under the true mask), and
the style reader (weights/reader.safetensors, not the oracle; the training judge's style heads are untrained) must
read, through judge_view as the style term does, the *other* face's cut, the style the renderer drew it with:
cross-entropy, W times; or with --resample-target render, the face itself rendered in that cut (the pixel, perceptual
and region terms against it, W times). Reconstructions teach the decoder to draw a cut from a face's
capsules together; this asks it to draw the cut a residual came from, on any face, which is what 10 resamples that
take residuals in turn need (over all 256 residuals stage 14 draws 3.80 of Bangs' 4 cuts on a face).

--resample-strength S (session 21): the resample term at push S instead of the file's style strength (3). At 3 the
rendered target cost the reconstructions their own cut (the oracle reads the input's cut on a reconstruction 80 % of
the time for stage 14, 53 % after 46 minutes of it: experiments/paste_cuts.py): a face's own residual is a third as
long as the pushes the term teaches, so it reads as no cut in particular. At S = 1 the resample is the donor's
residual as it is, the same length as a reconstruction's own.

--widen N (session 23): the generator grown to at least N channels a layer first (model/widen.py: the old decoder's
drawing kept exactly, new channels feeding nothing until trained), since the decoder as it is stops at 3.77 of Bangs'
4 cuts over all residuals (session 22): are the 32 channels of its 64x64 layer too few to draw a fringe?
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from model.augment import judge_view
from model.capsules import reparameterize, targets_to_mask
from model.checkpoint import load_vcn, resave_vcn
from model.data import faces
from model.data.faces_attributes import STYLE_COUNTS
from model.losses import perceptual_loss, reconstruction_loss, style_judge_loss
from model.oracle import load_oracle
from model.readings import to_input
from model.train import _load_judge
from model.widen import widen_generator

START = 800_000  # training seed 0, past the calibration (500k), style (510k) and probe (600k) faces
POOL = 12_000  # faces rendered once, then drawn from
READER = "weights/reader.safetensors"  # the style reader (seed 4): neither the oracle nor the training judge


def face_pool(foci: list[str], n: int, seed: int, twins: bool = False, regions: bool = False, workers: int = 1,
              every_style: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None,
                                                  torch.Tensor | None, torch.Tensor | None]:
    """n rendered faces (uint8 (n, 64, 64, 3), attrs (n, 40) bool): plain faces, or half of them wearing one of
    `foci` (in equal shares, each in a uniformly drawn style; faces that have it in the renderer's draw, so its
    rules hold), those last, focus after focus; with twins (one focus only) also the wearing faces again, each in
    another style of the focus (uint8 (w, 64, 64, 3): twin i is row n - w + i), else None; with regions where the
    wearing faces' styles differ (bool (w, 1, 64, 64): the pixels where any two styles of the face's focus render
    differently, grown by one pixel), else None; and the style each wearing face was drawn with in its focus
    (long (w,)), None without foci; with every_style (and regions, one focus) each wearing face rendered in every
    style of the focus (uint8 (w, S, 64, 64, 3)), else None."""
    plain = faces.sample_faces(0, START + seed * 1_000_000, n)
    if not foci:
        images = torch.as_tensor(faces.render(plain, size=64, workers=workers))
        return images, torch.as_tensor(plain.attrs).bool(), None, None, None, None
    if twins and len(foci) > 1:
        raise ValueError("restyled twins take one focus")
    many = faces.sample_faces(0, START + seed * 1_000_000 + n, 20 * n)
    rng = np.random.default_rng(seed)
    groups, drawn_styles = [], []
    for j, focus in enumerate(foci):  # disjoint faces per focus: focus j takes every len(foci)-th face
        has = many.attrs[:, faces.ATTRIBUTES.index(focus)] & (np.arange(len(many.attrs)) % len(foci) == j)
        wearing = many.take(has.nonzero()[0][: n // (2 * len(foci))])
        styles = rng.integers(0, STYLE_COUNTS[focus], len(wearing.attrs))
        groups.append(faces.with_styles(wearing, focus, styles))
        drawn_styles.append(styles)
    worn = sum(len(g.attrs) for g in groups)
    mixed = [plain.take(np.arange(n - worn)), *groups]
    images = np.concatenate([faces.render(b, size=64, workers=workers) for b in mixed])
    attrs = np.concatenate([b.attrs for b in mixed])
    twin = None
    if twins:  # any other style, uniformly (as training's restyled pairs draw it)
        count, styles = STYLE_COUNTS[foci[0]], drawn_styles[0]
        other = (styles + rng.integers(1, count, len(styles))) % count
        twin = torch.as_tensor(faces.render(faces.with_styles(groups[0], foci[0], other), size=64, workers=workers))
    region, styled = None, []
    if regions:
        parts, row = [], n - worn
        for focus, group in zip(foci, groups, strict=True):
            own = images[row: row + len(group.attrs)].astype(np.int16)
            differs = np.zeros(own.shape[:3], dtype=bool)
            for style in range(STYLE_COUNTS[focus]):
                restyled = faces.render(faces.with_styles(group, focus, np.full(len(group.attrs), style)), size=64,
                                        workers=workers)
                differs |= (np.abs(restyled.astype(np.int16) - own) > 0).any(-1)
                if every_style and len(foci) == 1:
                    styled.append(restyled)
            parts.append(differs)
            row += len(group.attrs)
        differs = np.concatenate(parts)
        region = torch.nn.functional.max_pool2d(torch.as_tensor(differs)[:, None].float(), 3, 1, 1).bool()
    worn_styles = torch.as_tensor(np.concatenate(drawn_styles)).long()
    every = torch.as_tensor(np.stack(styled, axis=1)) if styled else None
    return torch.as_tensor(images), torch.as_tensor(attrs).bool(), twin, region, worn_styles, every


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--weights", default="weights/faces.safetensors")
    p.add_argument("--focus", nargs="+", default=["Bangs"], help="attributes with styles (in equal shares), or none")
    p.add_argument("--minutes", type=float, default=35.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--perceptual-weight", type=float, default=40.0)
    p.add_argument("--faces", type=int, default=POOL, help="how many faces to render and draw from")
    p.add_argument("--pool", type=int, default=1, help="which set of faces (another one to continue a run)")
    p.add_argument("--swap-weight", type=float, default=0.0, help="weight of the swap loss on restyled twins")
    p.add_argument("--region-weight", type=float, default=0.0, help="extra weight of the pixels where styles differ")
    p.add_argument("--style-weight", type=float, default=0.0, help="weight of the reader's style cross-entropy")
    p.add_argument("--resample-weight", type=float, default=0.0,
                   help="weight of the loss on resamples drawn with another face's residual")
    p.add_argument("--resample-target", choices=("reader", "render"), default="reader",
                   help="what a resample must match: the reader's reading of the residual's cut, or the face rendered "
                        "in that cut (pixel + perceptual + region terms)")
    p.add_argument("--resample-strength", type=float, default=None,
                   help="how far a resample moves the capsule along the donor's residual (default: the file's "
                        "style_strength)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the pool")
    p.add_argument("--widen", type=int, default=0, help="grow the generator to at least this many channels a layer")
    p.add_argument("--deadline", type=float, default=float("inf"), help="stop by this time (epoch s) at the latest")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    foci = [] if a.focus == ["none"] else a.focus
    focus = foci[0] if len(foci) == 1 else None  # the swap and style terms take one focus
    if (a.swap_weight > 0 or a.style_weight > 0 or a.resample_weight > 0) and focus is None:
        p.error("--swap-weight, --style-weight and --resample-weight take exactly one --focus")
    model = load_vcn(a.weights, a.device).float()
    if a.widen:
        model = widen_generator(model, a.widen)
    judge = _load_judge(None, model.device, model.cfg)
    for net in (model.encoder, judge):
        net.requires_grad_(False)
    model.encoder.eval()
    model.generator.train()
    opt = torch.optim.Adam(model.generator.parameters(), lr=a.lr, betas=(0.5, 0.999))
    t0 = time.time()
    swapping = focus is not None and a.swap_weight > 0
    styling = focus is not None and a.style_weight > 0
    resampling = focus is not None and a.resample_weight > 0
    reader = load_oracle(READER, model.device).eval().requires_grad_(False) if styling or resampling else None
    head = reader.cfg.style_names.index(focus) if reader is not None else -1
    rendered_target = resampling and a.resample_target == "render"
    push = model.cfg.style_strength if a.resample_strength is None else a.resample_strength
    images, attrs, twins, regions, worn_styles, every_style = face_pool(
        foci, a.faces, a.pool, twins=swapping, regions=bool(foci) and (a.region_weight > 0 or rendered_target),
        workers=a.workers, every_style=rendered_target)
    # the faces wearing the focus are the last ones (their twins and regions row for row)
    first_wearing = len(images) - (len(worn_styles) if worn_styles is not None else 0)
    pair = [model.slot(focus, True), model.slot(focus, False)] if swapping else []
    twinned = f" and {len(twins)} twins" if swapping else ""
    print(f"{' + '.join(a.focus)} on {a.device}: rendered {len(images)} faces{twinned} in {time.time() - t0:.0f} s",
          flush=True)

    def drawn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Capsules (B, K, D) and context (B, Dc) drawn from the frozen encoder's posterior of x."""
        caps = model.encode(x)
        return reparameterize(caps.mu, caps.logvar), reparameterize(caps.ctx_mu, caps.ctx_logvar)

    def image_loss(fake: torch.Tensor, x: torch.Tensor, real: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed pixel MSE, it + the weighted perceptual term) of fake against x (real: x's judge stages)."""
        pixel = reconstruction_loss(fake, x)
        return pixel, pixel + a.perceptual_weight * perceptual_loss(judge.stages(fake), real)

    def resample_loss(x: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, wearing: torch.Tensor) -> torch.Tensor:
        """The loss of the batch's wearing faces' resamples (x (B, C, H, W), mask (B, K); wearing: the w batch rows
        wearing the focus; rows (B,): the pool rows), each drawn with the next wearing face's residual: the reader's
        style cross-entropy against that face's cut, or (--resample-target render) pixel + perceptual + region terms
        against the face rendered in that cut."""
        slot, pooled = model.slot(focus, True), rows[wearing] - first_wearing
        # the maps' prediction in fp32: under CUDA autocast the matmuls come back bf16 and the scatter into the
        # fp32 features fails (on a CPU autocast left them fp32)
        with torch.no_grad(), torch.autocast(model.device.type, enabled=False):
            caps = model.encode(x[wearing].float())
            m = mask[wearing].float()
            slots = torch.full((len(wearing),), slot)
            pred = model.predicted(slots, model.transfer_inputs(caps.mu, m, caps.ctx_mu), slots)  # (w, D)
            donor = torch.roll(torch.arange(len(wearing)), 1)
            c_new = caps.mu.clone()
            c_new[:, slot] = pred + push * (caps.mu[donor, slot] - pred[donor])
        fake = model.decode(c_new, m, caps.ctx_mu)
        cuts = worn_styles[pooled[donor]]
        if every_style is None:
            logits = reader.style_logits(judge_view(fake.float()))[head]
            return torch.nn.functional.cross_entropy(logits.float(), cuts.to(logits.device))
        target = to_input(every_style[pooled, cuts], model.device)
        with torch.no_grad():
            real_target = judge.stages(target)
        where = regions[pooled].to(model.device)
        _, loss = image_loss(fake, target, real_target)
        return loss + a.region_weight * ((fake.float() - target.float()).pow(2) * where).flatten(1).sum(1).mean()

    t0, step, seen, swap, cut, style = time.time(), 0, 0, torch.zeros(()), torch.zeros(()), torch.zeros(())
    restyle = torch.zeros(())
    while time.time() < min(t0 + a.minutes * 60, a.deadline):
        rows = torch.randint(0, len(images), (a.batch,))
        x = to_input(images[rows], model.device)
        with torch.autocast(model.device.type, dtype=torch.bfloat16):
            with torch.no_grad():
                c, ctx = drawn(x)
                mask = targets_to_mask(attrs[rows].float(), "multilabel", model.cfg.num_capsules).to(c.device, c.dtype)
                real = judge.stages(x)
            recon = model.decode(c, mask, ctx)
            pixel, loss = image_loss(recon, x, real)
            if regions is not None:  # the cut's pixels again (rows not wearing it have no region)
                where = torch.zeros(len(rows), 1, *x.shape[2:], dtype=torch.bool)
                wearing = rows >= first_wearing
                where[wearing] = regions[rows[wearing] - first_wearing]
                where = where.to(model.device)
                cut = ((recon.float() - x.float()).pow(2) * where).flatten(1).sum(1).mean()
                loss = loss + a.region_weight * cut
            if styling:  # the reader must see the input's style of the focus on the reconstruction
                with torch.no_grad():
                    seen_style = reader.style_logits(x)[head]
                style = style_judge_loss([reader.style_logits(judge_view(recon.float()))[head]], [seen_style],
                                         attrs[rows, faces.ATTRIBUTES.index(focus)][:, None].to(x.device))
                loss = loss + a.style_weight * style
            wearing_rows = (rows >= first_wearing).nonzero().squeeze(1)
            if resampling and len(wearing_rows) > 1:
                restyle = resample_loss(x, mask, rows, wearing_rows)
                loss = loss + a.resample_weight * restyle
            paired = wearing_rows if swapping else rows[:0]
            if len(paired):  # the wearing faces with their pair of capsules from the twin must draw the twin
                x_twin = to_input(twins[rows[paired] - first_wearing], model.device)
                with torch.no_grad():
                    c_twin, _ = drawn(x_twin)
                    c_swap = c[paired].clone()
                    c_swap[:, pair] = c_twin[:, pair]
                    real_twin = judge.stages(x_twin)
                _, swap = image_loss(model.decode(c_swap, mask[paired], ctx[paired]), x_twin, real_twin)
                loss = loss + a.swap_weight * swap  # both batch means, as training's recipe weighs them
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step, seen = step + 1, seen + a.batch
        if step % 50 == 0:
            print(f"step {step}: {seen / (time.time() - t0):.1f} img/s, recon {pixel.item():.2f}, "
                  + (f"swap {swap.item():.2f}, " if swapping else "") + (f"cut {cut.item():.2f}, " if a.region_weight
                  else "") + (f"style {style.item():.3f}, " if styling else "")
                  + (f"resample {restyle.item():.3f}, " if resampling else "") + f"total {loss.item():.2f}",
                  flush=True)
    model.cpu().eval()
    resave_vcn(Path(a.out), model, dtype=torch.float16,
               decoder_focus={"focus": " + ".join(a.focus), "swap_weight": a.swap_weight,
                              "region_weight": a.region_weight, "style_weight": a.style_weight,
                              "resample_weight": a.resample_weight,
                              "resample_target": a.resample_target, "resample_strength": push, "widen": a.widen,
                              "pool": a.pool,
                              "faces": a.faces, "steps": step,
                              "images": seen, "seconds": round(time.time() - t0)})
    print(f"wrote {a.out}: {step} steps, {seen} images, {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
