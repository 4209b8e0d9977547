"""Picked resamples, an inference-time probe (session 20; not shipped):

    python experiments/picked_resamples.py [W] --pick P [P ...] [--paste]

n resamples of a capsule take the transfer fit's residual clusters in turn, but a residual that draws one cut on a
face draws another on the next. Here a resample draws P times as many candidates (the clusters in turn P times over),
the file's embedded verifier (the calibration reader that verifies edits, never the oracle) reads each one's presence
and style, and n are shown: round robin over the styles the reader sees on candidates that still show the attribute,
each style's most convincing candidate first, the styles in order of their most convincing candidate, then the rest
in draw order. vcn eval's style protocol (model.edit_metrics.style_metrics: 30 faces per style attribute, 10
resamples each, its seeds and oracle) with VCN.edit patched so; P = 1 is the file as it is. Per P: the mean of 17
styles, still present, the rest kept, and Eyeglasses / Bangs / Wearing_Hat at three seed offsets. Results:
experiments/results/session20/picked_resamples.log; the ceiling (every residual drawn): residual_ceiling.py.
"""

from __future__ import annotations

import argparse
import time

import torch
from eval_inputs import eval_inputs
from torch import Tensor

from model.edit_metrics import RESAMPLES, style_metrics
from model.evaluate import N_STYLE, TEST_SEED
from model.vcn import VCN

SHIPPED = VCN.edit
NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def shown_candidates(present: Tensor, style_prob: Tensor, n: int) -> Tensor:
    """Which n of one face's K candidates to show: present (K,) bool (the reader sees the attribute), style_prob
    (K, S) the reader's style probabilities -> (n,) long indices into K, distinct (n <= K).

    Round robin over the reader's styles (argmax) among present candidates, a style's candidates most convincing
    (highest probability of that style) first, the styles in order of their most convincing candidate; once
    those run out, the remaining candidates in draw order (present ones before the rest)."""
    k = present.shape[0]
    if n > k:
        raise ValueError(f"{n} to show from {k} candidates")
    style = style_prob.argmax(dim=1)
    sure = style_prob.gather(1, style.unsqueeze(1)).squeeze(1)
    groups = []
    for s in style[present].unique().tolist():
        members = (present & (style == s)).nonzero().squeeze(1)
        groups.append(members[sure[members].argsort(descending=True, stable=True)].tolist())
    groups.sort(key=lambda members: -float(sure[members[0]]))
    shown: list[int] = []
    for depth in range(max((len(g) for g in groups), default=0)):
        shown += [g[depth] for g in groups if depth < len(g)]
    taken = set(shown)
    shown += [i for i in range(k) if present[i] and i not in taken] + [i for i in range(k) if not present[i]]
    return torch.tensor(shown[:n], dtype=torch.long)


def picked_rows(present: Tensor, style_prob: Tensor, faces: int, n: int) -> Tensor:
    """present (F * K,) bool and style_prob (F * K, S) of F faces' K candidates each, face by face -> (F * n,)
    long rows to show, n per face (shown_candidates), in face order."""
    k = present.shape[0] // faces
    rows = [f * k + shown_candidates(present[f * k : (f + 1) * k], style_prob[f * k : (f + 1) * k], n)
            for f in range(faces)]
    return torch.cat(rows)


@torch.inference_mode()
def reader_picks(reader: torch.nn.Module, images: Tensor, attribute: str, faces: int, n: int) -> Tensor:
    """images (F * K, C, H, W): F faces' K candidate resamples of `attribute`, face by face -> (F * n,) long rows
    to show (picked_rows), as the reader (an Oracle with a style head for the attribute) reads them."""
    attrs, styles, _ = reader(images)
    a = reader.cfg.attribute_names.index(attribute)
    s = reader.cfg.style_names.index(attribute)
    present = (attrs[:, a].float() > 0).cpu()
    return picked_rows(present, torch.softmax(styles[s].float(), dim=1).cpu(), faces, n)


def picked(p: int):
    def edit(self: VCN, x, set=None, resample=(), seed=0, **kw):
        if set or len(resample) != 1 or p == 1:
            return SHIPPED(self, x, set, resample, seed, **kw)
        faces = x[::RESAMPLES]
        out = SHIPPED(self, faces.repeat_interleave(RESAMPLES * p, 0), set, resample, seed, **kw)
        return out[reader_picks(self.verifier, out, resample[0], len(faces), RESAMPLES).to(out.device)]
    return edit


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("weights", nargs="?", default="weights/faces.safetensors")
    a.add_argument("--pick", type=int, nargs="+", default=[1, 2, 3])
    a.add_argument("--paste", action="store_true")
    a = a.parse_args()
    cpu, oracle, model, images, attrs, styles = eval_inputs(a.weights)
    for p in a.pick:
        VCN.edit = picked(p)
        t0 = time.time()
        with torch.inference_mode():
            r = style_metrics(model, oracle, images, attrs, styles, N_STYLE, TEST_SEED, 100, cpu, a.paste)
            rows = [style_metrics(model, oracle, images, attrs, NAMED, N_STYLE, TEST_SEED + 77 * s, 100, cpu,
                                  a.paste)["style_diversity"] for s in (1, 2)]
        d, pr, k = r["style_diversity"], r["style_presence"], r["style_kept"]
        mean = lambda v: sum(v.values()) / len(v)  # noqa: E731
        three = {n: (d[n] + rows[0][n] + rows[1][n]) / 3 for n in NAMED}
        print(f"pick {p}{' pasted' if a.paste else ''}: E / B / H {' / '.join(f'{d[n]:.2f}' for n in NAMED)}, "
              f"offsets 77: {' / '.join(f'{rows[0][n]:.2f}' for n in NAMED)}, 154: "
              f"{' / '.join(f'{rows[1][n]:.2f}' for n in NAMED)}, mean of three "
              f"{' / '.join(f'{three[n]:.2f}' for n in NAMED)}"
              f" (present {' / '.join(f'{pr[n] * 100:.0f}' for n in NAMED)} %); mean of 17: styles {mean(d):.3f}, "
              f"present {mean(pr) * 100:.1f} %, rest kept {mean(k) * 100:.2f} %; {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
