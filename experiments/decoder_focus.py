"""Can the shipped decoder learn to draw Bangs' cuts if it sees more of them? (a probe, session 17)

    python experiments/decoder_focus.py OUT [--focus Bangs] [--minutes 35] [--threads 1]

style_ceiling.py found the encoder carrying Bangs' cut (a linear probe reads it on 83 % of held-out faces) and the
decoder drawing it on under half of reconstructions (choppy 28 %). In training, 15 % of faces have Bangs and a
quarter of those the choppy cut: is the finest cut rare in the gradient, or beyond this decoder? Here the shipped
decoder alone is fine-tuned (the encoder frozen, so every capsule stage of the file still holds) on reconstructions
only (summed pixel MSE + 40 x the perceptual term with the training judge's trunk, as the shipped recipe weighs
them), capsules drawn from the posterior under the true mask, CPU bf16 autocast, for a fixed time, on faces of
training seed 0 past every set used so far: with --focus NAME half of each batch wears NAME in a uniformly drawn
style; with --focus none (the control) all are plain faces. The result is the shipped file with the new generator:
read it with `python experiments/style_ceiling.py OUT` and `python experiments/style_eval.py OUT`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from model.capsules import reparameterize, targets_to_mask
from model.checkpoint import load_vcn, resave_vcn
from model.data import faces
from model.data.faces_attributes import STYLE_COUNTS
from model.losses import perceptual_loss, reconstruction_loss
from model.readings import to_input
from model.train import _load_judge

START = 800_000  # training seed 0, past the calibration (500k), style (510k) and probe (600k) faces
POOL = 12_000  # faces rendered once, then drawn from


def face_pool(focus: str | None, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n rendered faces (uint8 (n, 64, 64, 3), attrs (n, 40) bool): plain faces, or half of them wearing `focus`
    in a uniformly drawn style (faces that have it in the renderer's draw, so its rules hold)."""
    plain = faces.sample_faces(0, START + seed * 1_000_000, n)
    if focus is None:
        return torch.as_tensor(faces.render(plain, size=64, workers=1)), torch.as_tensor(plain.attrs).bool()
    k = faces.ATTRIBUTES.index(focus)
    many = faces.sample_faces(0, START + seed * 1_000_000 + n, 20 * n)
    wearing = many.take(many.attrs[:, k].nonzero()[0][: n // 2])
    rng = np.random.default_rng(seed)
    wearing = faces.with_styles(wearing, focus, rng.integers(0, STYLE_COUNTS[focus], len(wearing.attrs)))
    mixed = [plain.take(np.arange(n - len(wearing.attrs))), wearing]
    images = np.concatenate([faces.render(b, size=64, workers=1) for b in mixed])
    attrs = np.concatenate([b.attrs for b in mixed])
    return torch.as_tensor(images), torch.as_tensor(attrs).bool()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--weights", default="weights/faces.safetensors")
    p.add_argument("--focus", default="Bangs", help="an attribute with styles, or none")
    p.add_argument("--minutes", type=float, default=35.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--perceptual-weight", type=float, default=40.0)
    p.add_argument("--pool", type=int, default=1, help="which set of faces (another one to continue a run)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    focus = None if a.focus == "none" else a.focus
    model = load_vcn(a.weights).float()
    judge = _load_judge(None, model.device, model.cfg)
    for net in (model.encoder, judge):
        net.requires_grad_(False)
    model.encoder.eval()
    model.generator.train()
    opt = torch.optim.Adam(model.generator.parameters(), lr=a.lr, betas=(0.5, 0.999))
    t0 = time.time()
    images, attrs = face_pool(focus, POOL, a.pool)
    print(f"{a.focus}: rendered {len(images)} faces in {time.time() - t0:.0f} s", flush=True)
    t0, step, seen = time.time(), 0, 0
    while time.time() - t0 < a.minutes * 60:
        rows = torch.randint(0, len(images), (a.batch,))
        x = to_input(images[rows], model.device)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            with torch.no_grad():
                caps = model.encode(x)
                c = reparameterize(caps.mu, caps.logvar)
                ctx = reparameterize(caps.ctx_mu, caps.ctx_logvar)
                mask = targets_to_mask(attrs[rows].float(), "multilabel", model.cfg.num_capsules).to(c.dtype)
                real = judge.stages(x)
            recon = model.decode(c, mask, ctx)
            pixel = reconstruction_loss(recon, x)
            loss = pixel + a.perceptual_weight * perceptual_loss(judge.stages(recon), real)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step, seen = step + 1, seen + a.batch
        if step % 50 == 0:
            print(f"step {step}: {seen / (time.time() - t0):.1f} img/s, recon {pixel.item():.2f}, "
                  f"total {loss.item():.2f}", flush=True)
    model.eval()
    resave_vcn(Path(a.out), model, dtype=torch.float16,
               decoder_focus={"focus": a.focus, "steps": step, "images": seen, "seconds": round(time.time() - t0)})
    print(f"wrote {a.out}: {step} steps, {seen} images, {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
