"""Nuisance-matched capsule draws, no training: python experiments/matched_draw.py [WEIGHTS] [N_FIT]

The capsule probe found pose, brightness and background in every attribute capsule (the context capsule
collapsed), so an edit that swaps in a banked capsule brings another face's nuisance with it. Here the new
capsule is split in two: the part linearly predictable from the face's *other* active capsules and context
(fitted by ridge regression on training faces, per capsule slot) comes from the face being edited, and only
the residual comes from a banked face. Style is independent of the other attributes in the renderer, so it
should stay in the residual and resamples should keep their variety. Prints the edit and style metrics of
the plain bank and of the matched draw, same faces, same seeds.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from model.capsules import active_mask, transfer_features
from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import edit_metrics, style_metrics
from model.evaluate import DEFAULT_ORACLE, TEST_SEED
from model.oracle import load_oracle
from model.transfer import ridge_solve


def others(feats: torch.Tensor, a: int, d: int) -> torch.Tensor:
    """capsules.transfer_features (B, A * D + Dc + 1) without attribute a's block: the face's other active
    capsules, its context and the constant."""
    return torch.cat([feats[:, : a * d], feats[:, (a + 1) * d :]], 1)


def fit_matched(model, images: torch.Tensor, ridge: float = 1.0, keep: int = 256, batch: int = 500):
    """Per capsule slot: W (F+1, D) predicting the slot's mean from the other attributes' active capsules and
    the context, and up to `keep` residuals of faces where the slot was active."""
    mus, masks, ctxs = [], [], []
    with torch.inference_mode():
        for s in range(0, len(images), batch):
            x = images[s : s + batch].permute(0, 3, 1, 2).float().div(255)
            caps = model.encode(x)
            mus.append(caps.mu.float()), masks.append(active_mask(caps.kl, "multilabel").float())
            ctxs.append(caps.ctx_mu.float())
    mu, mask, ctx = torch.cat(mus), torch.cat(masks), torch.cat(ctxs)
    feats = transfer_features(mu, mask, ctx)
    k, d = mu.shape[1], mu.shape[2]
    weights, resid, r2, means = [], torch.zeros(k, keep, d), [], torch.zeros(k, d)
    for slot in range(k):
        a = slot // 2
        rows = mask[:, slot] > 0.5
        x = others(feats[rows], a, d)
        y = mu[rows, slot]
        w = ridge_solve(x.T @ x, x.T @ y, ridge)
        e = y - x @ w
        r2.append(float(1 - e.pow(2).sum() / (y - y.mean(0)).pow(2).sum()))
        weights.append(w)
        means[slot] = y.mean(0)
        n = min(keep, len(e))
        resid[slot, :n] = e[:n]
        if n < keep:
            resid[slot, n:] = e[torch.arange(keep - n) % max(1, n)]
    return torch.stack(weights), resid, means, torch.tensor(r2)


def patch(model, weights: torch.Tensor, resid: torch.Tensor, means: torch.Tensor, share: float = 1.0) -> None:
    """Make model.edit draw new capsules as prediction-from-this-face + banked residual (share = how much of
    the prediction; 0 gives the plain bank's mean + residual spread)."""
    plain_posterior, plain_draw = model._posterior, model.draw

    def posterior(x):
        c, ctx, mask, kl = plain_posterior(x)
        model._feats = transfer_features(c, mask, ctx)
        return c, ctx, mask, kl

    def draw(slots, g):
        out = plain_draw(slots, g)  # consumes the same random numbers as the plain bank
        feats = getattr(model, "_feats", None)
        if feats is None or feats.shape[0] != slots.shape[0]:
            return out
        g2 = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        pick = torch.randint(0, resid.shape[1], (slots.shape[0],), generator=g2)
        new = torch.empty_like(out)
        for slot in slots.unique().tolist():
            rows = (slots == slot).nonzero().squeeze(1)
            pred = others(feats[rows], slot // 2, resid.shape[2]) @ weights[slot]
            new[rows] = share * pred + (1 - share) * means[slot] + resid[slot, pick[rows]]
        return new

    model._posterior, model.draw = posterior, draw


def bank_model(path: str):
    """The model as session 4 edited: new capsules from the bank (transfer maps and blend off, if the file
    has them), which is what the matched draw is compared with."""
    model = load_vcn(path).eval()
    model.cfg = dataclasses.replace(model.cfg, transfer_maps=0, edit_blend=0.0)
    return model


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    n_fit = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    torch.manual_seed(0)
    oracle = load_oracle(DEFAULT_ORACLE)
    t0 = time.time()
    train = faces.sample_faces(0, 0, n_fit)
    model = bank_model(path)
    imgs = torch.as_tensor(faces.render(train, size=model.cfg.image_size, workers=2))
    weights, resid, means, r2 = fit_matched(model, imgs)
    print(f"fitted on {n_fit} training faces in {time.time() - t0:.0f}s; R² of a slot from the rest: "
          f"median {r2.median():.2f}, min {r2.min():.2f}, max {r2.max():.2f}")
    test = faces.sample_faces(TEST_SEED, 0, 2000)
    images = torch.as_tensor(faces.render(test, size=model.cfg.image_size, workers=2))
    attrs = torch.as_tensor(test.attrs).bool()
    m = 150
    for label, share in (("plain bank", None), ("matched 1.0", 1.0), ("matched 0.5", 0.5)):
        model = bank_model(path)
        if share is not None:
            patch(model, weights, resid, means, share)
        e = edit_metrics(model, oracle, images[:m], test.take(slice(0, m)), TEST_SEED, 100, model.device)
        s = style_metrics(model, oracle, images, attrs, tuple(oracle.cfg.style_names), 30, TEST_SEED, 100,
                          model.device)
        div = {k: round(v, 2) for k, v in s["style_diversity"].items() if k in ("Eyeglasses", "Bangs", "Wearing_Hat")}
        print(f"{label:12s} edit {e['edit_success']:.4f} kept {e['edit_preservation']:.4f} "
              f"(attrs {e['attribute_preservation']:.4f}, nuisance {e['nuisance_preservation']:.4f}, "
              f"style {e['style_preservation']:.4f}) styles {div} ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
