"""Where an edit loses the face's nuisance: python experiments/nuisance_drift.py WEIGHTS [STRENGTH ...]

With vcn eval's protocol and seeds (the first 150 test faces, every attribute flipped in turn, read by the
oracle against the reconstruction), for each strength (default: the model's calibrated ones, then 1):
nuisance kept overall and per factor, the ten edited attributes that keep the least, and the attributes
most often changed as a side effect. Then, for Smiling and Mouth_Slightly_Open, a resample of that one
capsule without changing its state: if the nuisance moves, that capsule carries it. Last, Smiling swapped
in from the next face (VCN.swap), with the model's transfer maps on and off.
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import nuisance_kept
from model.evaluate import DEFAULT_ORACLE, N_EDIT, TEST_SEED
from model.oracle import load_oracle
from model.readings import read_map, take

CARRIERS = ("Smiling", "Mouth_Slightly_Open")


def shares(kept: torch.Tensor, counted: torch.Tensor, names) -> dict[str, float]:
    return {n: round(float(kept[j] / counted[j].clamp(min=1)), 3) for j, n in enumerate(names)}


@torch.inference_mode()
def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    strengths = [float(s) for s in sys.argv[2:]] or [None, 1.0]
    oracle, model = load_oracle(DEFAULT_ORACLE), load_vcn(path).eval()
    test = faces.sample_faces(TEST_SEED, 0, N_EDIT)
    images = torch.as_tensor(faces.render(test, size=model.cfg.image_size, workers=2))
    gt = torch.as_tensor(test.attrs).bool()
    names, factors = model.cfg.capsule_names, oracle.cfg.nuisance_names
    recon, _ = read_map(oracle, lambda x, i: model.reconstruct(x), images, 100, model.device)

    def drift(make, idx):
        """(kept (N,), counted (N,)) per nuisance factor, and the reading, of make(x) on faces idx."""
        r, _ = read_map(oracle, make, images[idx], 100, model.device)
        kept, visible = nuisance_kept(oracle, take(recon, idx), r)
        return kept.sum(0).float(), visible.sum(0).float(), r

    for strength in strengths:
        kept, counted = torch.zeros(len(factors)), torch.zeros(len(factors))
        by_edit, side_kept, side_n = {}, torch.zeros(len(names)), torch.zeros(len(names))
        for a, name in enumerate(names):
            forced = torch.as_tensor(faces.flip(test, name).attrs).bool() != gt
            k_a = n_a = 0.0
            for target in (True, False):
                idx = (gt[:, a] != target).nonzero().squeeze(1)
                if len(idx) == 0:
                    continue
                s0 = TEST_SEED + 1000 * (2 * a + int(target))
                k, n, r = drift(lambda x, i, nm=name, t=target, s=s0, st=strength:
                                model.edit(x, {nm: t}, seed=s + i, strength=st), idx)
                kept, counted = kept + k, counted + n
                k_a, n_a = k_a + float(k.sum()), n_a + float(n.sum())
                free = ~forced[idx]
                side_kept += ((r.attrs == take(recon, idx).attrs) & free).sum(0).float()
                side_n += free.sum(0).float()
            by_edit[name] = k_a / max(n_a, 1.0)
        label = "calibrated strengths" if strength is None else f"strength {strength}"
        print(f"{label}: nuisance kept {float(kept.sum() / counted.sum()):.4f}")
        print("  per factor:", shares(kept, counted, factors))
        print("  edits that keep the least:", [(k, round(v, 3)) for k, v in sorted(by_edit.items(),
                                                                                     key=lambda kv: kv[1])[:10]])
        side = side_kept / side_n.clamp(min=1)
        print("  attributes most often changed by other edits:",
              [(names[i], round(float(side[i]), 3)) for i in side.argsort()[:10].tolist()], flush=True)
    everyone = torch.arange(len(images))
    for name in CARRIERS:
        k, n, _ = drift(lambda x, i, nm=name: model.edit(x, resample=[nm], seed=1 + i), everyone)
        print(f"resample {name} alone (state unchanged): nuisance kept {float(k.sum() / n.sum()):.4f}",
              shares(k, n, factors))
    donors = images.roll(1, 0).permute(0, 3, 1, 2).float().div(255).to(model.device)
    a = names.index("Smiling")
    for label, maps in (("maps off", 0), ("as the file says", model.cfg.transfer_maps)):
        swapper = load_vcn(path).eval()
        swapper.cfg = dataclasses.replace(swapper.cfg, transfer_maps=maps)
        k, n, r = drift(lambda x, i, m=swapper: m.swap(x, donors[100 * i : 100 * i + len(x)], ["Smiling"]),
                        everyone)
        took = float((r.attrs[:, a] == gt.roll(1, 0)[:, a]).float().mean())
        print(f"swap Smiling from the next face ({label}): nuisance kept {float(k.sum() / n.sum()):.4f}, "
              f"Smiling reads as the donor's {took:.3f}")


if __name__ == "__main__":
    main()
