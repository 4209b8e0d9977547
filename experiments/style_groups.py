"""Resamples that cycle through the styles the calibration reader sees each residual draw (a probe, session 14):

    python experiments/style_groups.py [WEIGHTS] [--labelled L] [--faces F] [--pixels] [--soft] [--no-shipped]

Session 13's resamples take the transfer fit's residuals from 10 k-means clusters in turn; clusters of an 8-number
residual need not be styles. Here, offline, L residuals of each style attribute's capsule are each decoded on F
unseen calibration faces that have the attribute (the capsule the maps predict for the face plus style_strength
times the residual, as a resample makes it), the calibration reader (weights/reader.safetensors, never the oracle)
reads the style of each, and the residual is labelled with the style most of its faces show (unlabelled where the
attribute fades on half of them or the faces disagree). Resamples then take the labelled styles in turn from a drawn
start, a residual drawn within each. Judged by the oracle with vcn eval's style protocol, against the shipped draw,
for three seed offsets.
"""

from __future__ import annotations

import argparse
import time

import torch

from model.calibrate import style_faces
from model.capsule_edits import CapsuleEdits, residual_clusters
from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics
from model.evaluate import TEST_SEED
from model.oracle import load_oracle
from model.seeds import uniform

STYLES = ("Eyeglasses", "Bangs", "Wearing_Hat")


@torch.inference_mode()
def label_residuals(model, reader, images: torch.Tensor, attrs: torch.Tensor, name: str, labelled: int,
                    n_faces: int, agree: float = 0.5, pixels: bool = False,
                    soft: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(residual indices (L,), their style labels (L,), -1 where unlabelled) for the attribute's present slot."""
    a, s = model.cfg.capsule_names.index(name), reader.cfg.style_names.index(name)
    slot = model.slot(name, True)
    t = model.transfer_residual.shape[1]
    labelled = min(labelled, t)
    picked = torch.randperm(t, generator=torch.Generator().manual_seed(0))[:labelled]
    x = images[attrs[:, a].nonzero().squeeze(1)[:n_faces]].permute(0, 3, 1, 2).float() / 255
    c, ctx, mask, _ = model._posterior(x)
    feats = model.transfer_inputs(c, mask, ctx)
    slots = torch.full((len(x),), slot)
    pred = model.predicted(slots, feats, slots)  # (F, D)
    res = model.transfer_residual[slot, picked]  # (L, D)
    votes = torch.zeros(labelled, reader.cfg.style_counts[s], dtype=torch.long)
    present = torch.zeros(labelled, dtype=torch.long)
    looks = []
    for f in range(len(x)):
        cf = c[f : f + 1].repeat(labelled, 1, 1)
        cf[:, slot] = pred[f] + model.cfg.style_strength * res
        out = model.decode(cf, mask[f : f + 1].expand(labelled, -1), ctx[f : f + 1].expand(labelled, -1),
                           mask_input=mask[f : f + 1].expand(labelled, -1))
        if soft:  # the reader's style probabilities, not only its argmax
            looks.append(torch.softmax(reader.heads(reader.features(out))[1][s].float(), -1))
        if pixels:
            change = (out - out.mean(0, keepdim=True)).flatten(1)
            looks.append(change / change.pow(2).sum(1).mean().sqrt() if soft else change)  # both: alike in scale
        r = reader.read(out)
        on = r.attrs[:, a]
        present += on.long()
        votes[on.nonzero().squeeze(1), r.styles[on, s]] += 1
    if pixels or soft:  # k-means of how each residual changes the faces' pictures, not of what the reader calls it
        return picked, residual_clusters(torch.cat(looks, 1).unsqueeze(0))[0]
    top, label = votes.max(1)
    ok = (present * 2 >= len(x)) & (top.float() >= agree * present.float().clamp(min=1))
    return picked, torch.where(ok, label, torch.full_like(label, -1))


def grouped_draw(groups: dict[int, list[torch.Tensor]]):
    """A _style_residual that takes, for slots in groups (slot -> residual index lists per style), the styles in
    turn from a drawn start (rows sharing one generator) and a residual within each; other slots as shipped."""
    shipped = CapsuleEdits._style_residual

    def draw(self, slots, g):
        base = shipped(self, slots, g)  # consumes nothing we reuse; keeps other slots as shipped
        shared = isinstance(g, torch.Generator)
        b = slots.shape[0]
        pick, start = uniform(b, g), uniform(1 if shared else b, g)
        turn = torch.arange(b) if shared else torch.zeros(b, dtype=torch.long)
        out = base.clone()
        for i, k in enumerate(slots.tolist()):
            if k not in groups:
                continue
            members = groups[k]
            j = int((turn[i] + int(start[0 if shared else i] * len(members))) % len(members))
            row = members[j][min(int(pick[i] * len(members[j])), len(members[j]) - 1)]
            out[i] = self.transfer_residual[k, row]
        return out

    return draw


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    p.add_argument("--labelled", type=int, default=1000)
    p.add_argument("--faces", type=int, default=4)
    p.add_argument("--min-size", type=int, default=5)
    p.add_argument("--pixels", action="store_true", help="group by k-means of the decoded changes instead")
    p.add_argument("--soft", action="store_true", help="group by k-means of the reader's style probabilities "
                   "(with --pixels: of both)")
    p.add_argument("--no-shipped", action="store_true", help="skip the shipped draw's rows")
    a = p.parse_args()
    model = load_vcn(a.weights).eval()
    oracle, reader = load_oracle("weights/oracle.safetensors").eval(), load_oracle("weights/reader.safetensors").eval()
    t0 = time.time()
    cal_images, cal_attrs = style_faces(400, model.cfg.image_size)
    groups: dict[int, list[torch.Tensor]] = {}
    for name in STYLES:
        idx, label = label_residuals(model, reader, cal_images, cal_attrs, name, a.labelled, a.faces,
                                     pixels=a.pixels, soft=a.soft)
        sizes = {int(v): int((label == v).sum()) for v in label.unique().tolist()}
        kept = [v for v, n in sorted(sizes.items()) if v >= 0 and n >= a.min_size]
        groups[model.slot(name, True)] = [idx[label == v] for v in kept]
        print(f"{name}: labels {sizes} -> {len(kept)} styles ({time.time() - t0:.0f} s)", flush=True)
    batch = faces.sample_faces(TEST_SEED, 0, 2000)
    images, attrs = torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool()
    shipped = CapsuleEdits._style_residual
    how = ("both's clusters" if a.pixels and a.soft else "decoded changes' clusters" if a.pixels
           else "reader's style beliefs' clusters" if a.soft
           else "reader's styles")
    ours = (f"{how} in turn", grouped_draw(groups))
    for label, draw in ([ours] if a.no_shipped else [("shipped clusters", shipped), ours]):
        CapsuleEdits._style_residual = draw
        for shift in (0, 1, 2):
            r = style_metrics(model, oracle, images, attrs, STYLES, 30, TEST_SEED + 77 * shift, 100,
                              torch.device("cpu"))
            d, pr, k = r["style_diversity"], r["style_presence"], r["style_kept"]
            print(f"{label}, seed offset {77 * shift}: styles " + " / ".join(f"{d[n]:.2f}" for n in STYLES)
                  + ", still present " + " / ".join(f"{pr[n]:.2f}" for n in STYLES)
                  + ", rest kept " + " / ".join(f"{k[n]:.3f}" for n in STYLES), flush=True)
    CapsuleEdits._style_residual = shipped


if __name__ == "__main__":
    main()
