"""What the capsules of a faces model carry: python experiments/capsule_probe.py [WEIGHTS]

Styles: where does an attribute's style live, and where is it lost? For Eyeglasses, Bangs and
Wearing_Hat, on faces of seed 5 (neither training, calibration nor test faces)
that have the attribute:
1. encoder: how well a linear probe reads the ground-truth style id from the attribute's own capsule mean
   (8 numbers), from the context capsule, and from all the other capsules (held-out accuracy; chance is
   1 / number of styles);
2. decoder: the share of reconstructions whose style the oracle reads as the ground truth (the oracle's own
   style accuracy on real renders is the ceiling), and of *transplants* - the recipient keeps everything
   but that attribute's capsule pair, which comes from a donor of another style - read as the donor's style
   vs the recipient's.
If the capsule carries the style (1) and transplants follow the recipient (2), the decoder draws style from
elsewhere; if (1) is weak, the encoder never put it there.

Nuisance: the context capsule's mean KL to the prior, and how well linear regressions recover each nuisance
factor (held-out R², last 30 %) from the context capsule's mean and from the active capsules (as the
generator sees them), and which attribute's pair carries the most of skin tone and background hue. A
factor an attribute capsule carries moves whenever an edit replaces that capsule.
"""

from __future__ import annotations

import sys

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import DEFAULT_ORACLE
from model.oracle import load_oracle

SEED, N = 5, 3000
ATTRIBUTES = ("Eyeglasses", "Bangs", "Wearing_Hat")


def probe(features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int = 300) -> float:
    """Held-out accuracy (last 30 %) of a softmax regression on standardised features (N, F)."""
    with torch.inference_mode(False), torch.enable_grad():
        return _fit(features.clone(), labels.clone(), classes, steps)


def _fit(features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int) -> float:
    n_train = int(0.7 * len(labels))
    x = (features - features[:n_train].mean(0)) / (features[:n_train].std(0) + 1e-6)
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x[:n_train] @ w + b, labels[:n_train]) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x[n_train:] @ w + b).argmax(1) == labels[n_train:]).float().mean())


def r2(features: torch.Tensor, y: torch.Tensor) -> float:
    """Held-out R² (last 30 %) of a least-squares fit of y (N,) on standardised features (N, F)."""
    with torch.inference_mode(False):
        f, y = features.clone().float(), y.clone().float()
        n = int(0.7 * len(y))
        f = (f - f[:n].mean(0)) / (f[:n].std(0) + 1e-6)
        a = torch.cat([f, torch.ones(len(f), 1)], 1)
        w = torch.linalg.lstsq(a[:n], y[:n, None]).solution
        return float(1 - ((a[n:] @ w).squeeze(1) - y[n:]).pow(2).mean() / y[n:].var())


@torch.inference_mode()
def nuisance_probe(model, images: torch.Tensor, batch) -> None:
    from model.capsules import targets_to_mask

    caps = model.encode(images)
    attrs = torch.from_numpy(batch.attrs).long()
    mask = targets_to_mask(attrs, "multilabel", model.cfg.num_capsules).float()
    ctx_kl = 0.5 * (caps.ctx_mu.pow(2) + caps.ctx_logvar.exp() - 1 - caps.ctx_logvar).sum(1).mean()
    print(f"context capsule: mean KL to the prior {float(ctx_kl):.4f} nats")
    active = (caps.mu * mask[..., None]).flatten(1)
    nuisance = torch.from_numpy(batch.nuisance)
    for j, name in enumerate(faces.NUISANCE[:9]):
        print(f"  {name:12s} R² from the context {r2(caps.ctx_mu, nuisance[:, j]):.2f}, "
              f"from the active capsules {r2(active, nuisance[:, j]):.2f}")
    for j in (faces.NUISANCE.index("skin_tone"), faces.NUISANCE.index("bg_hue")):
        per = []
        for a, name in enumerate(faces.ATTRIBUTES):
            on = attrs[:, a, None].float()
            pair = torch.cat([caps.mu[:, 2 * a] * on, caps.mu[:, 2 * a + 1] * (1 - on)], 1)
            per.append((r2(pair, nuisance[:, j]), name))
        top = ", ".join(f"{name} {v:.2f}" for v, name in sorted(per, reverse=True)[:3])
        print(f"  {faces.NUISANCE[j]}: the pairs that carry most (R²): {top}")


@torch.inference_mode()
def main() -> None:
    torch.manual_seed(0)
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors")
    oracle = load_oracle(DEFAULT_ORACLE)
    batch = faces.sample_faces(SEED, 0, N)
    images = torch.from_numpy(faces.render(batch, 64, workers=2)).permute(0, 3, 1, 2).float() / 255
    nuisance_probe(model, images[:2000], batch.take(slice(0, 2000)))
    for name in ATTRIBUTES:
        a, s = faces.ATTRIBUTES.index(name), faces.STYLE_ATTRIBUTES.index(name)
        rows = torch.from_numpy(batch.attrs[:, a]).bool().nonzero().squeeze(1)
        x, style = images[rows], torch.from_numpy(batch.styles[rows.numpy(), s])
        count = faces.STYLE_COUNTS[name]
        caps = model.encode(x)
        own = caps.mu[:, 2 * a]
        others = torch.cat([caps.mu[:, : 2 * a], caps.mu[:, 2 * a + 2 :]], 1).flatten(1)
        probes = {"own capsule": probe(own, style, count), "context": probe(caps.ctx_mu, style, count),
                  "all other capsules": probe(others, style, count)}
        oracle_s = oracle.cfg.style_names.index(name)
        real = oracle.read(x).styles[:, oracle_s]
        recon = oracle.read(model.reconstruct(x)).styles[:, oracle_s]
        donor = torch.roll(torch.arange(len(rows)), 1)
        differ = style[donor] != style
        moved = model.swap(x[differ], x[donor][differ], [name])
        read = oracle.read(moved).styles[:, oracle_s]
        print(f"{name} ({count} styles, {len(rows)} faces; chance {1 / count:.2f})")
        print("  probe accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in probes.items()))
        print(f"  oracle reads the true style: real renders {(real == style).float().mean():.2f}, "
              f"reconstructions {(recon == style).float().mean():.2f}")
        print(f"  transplants read as the donor's style {(read == style[donor][differ]).float().mean():.2f}, "
              f"as the recipient's {(read == style[differ]).float().mean():.2f}", flush=True)


if __name__ == "__main__":
    main()
