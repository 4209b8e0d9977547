"""Where does an attribute's style live, and where is it lost? python experiments/style_probe.py [WEIGHTS]

For Eyeglasses, Bangs and Wearing_Hat, on faces of seed 5 (neither training, calibration nor test faces)
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


@torch.inference_mode()
def main() -> None:
    torch.manual_seed(0)
    model = load_vcn(sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors")
    oracle = load_oracle(DEFAULT_ORACLE)
    batch = faces.sample_faces(SEED, 0, N)
    images = torch.from_numpy(faces.render(batch, 64, workers=2)).permute(0, 3, 1, 2).float() / 255
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
