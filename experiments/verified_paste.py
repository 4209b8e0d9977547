"""Probe (session 25): pasted style resamples checked by the embedded reader, judged by the oracle on vcn eval's
style faces (30 per style attribute; Eyeglasses / Bangs / Wearing_Hat on three seed offsets).

    PYTHONPATH=.:experiments python experiments/verified_paste.py W [--rules plain grow9 ...]

A pasted resample is blend_edit(resample, reconstruction, base=input): the resample's pixels where it differs from
the reconstruction, the input's elsewhere. Where the reconstruction draws the face's cut a little off, a resample
that draws the reconstruction's cut again differs from it only faintly, and the input's own fringe shows through:
stage 17 shows 3.77 Bangs cuts plain but 3.28 pasted (session 24). Growing the pasted region everywhere (session
21's restyle_dilate.py) buys a little of that back for some of what pasting keeps. Here the model's embedded
reader (the calibration reader, never the oracle) reads the attribute's style on the plain resample and on the
pasted one; only where they differ (the paste changed which style shows) does the rule replace the pasted one:

- shipped: never (the pasted resample as served);
- plain: the plain resample itself;
- growN: the paste with its weight max-pooled over N x N pixels (restyle_dilate's grown blend);
- growN+plain: growN, and the plain resample where the reader still reads growN's style unlike the plain one's;
- ladderA,B,...: growA, then growB, ... in turn, each kept where the reader reads the plain resample's style on it
  (the last grow where none does), as a verified edit climbs its strengths;
- region / regionall: within the attribute's region (where its resamples change the reconstruction most, averaged
  over 60 training-seed faces x 10 resamples), the plain resample wherever it differs from the input, not only from
  the reconstruction; for the rows the reader reads differently (region) or for all (regionall).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from eval_inputs import eval_set, prepared_model
from restyle_dilate import grown_blend, pasted_styles, summary
from torch import Tensor

from model.data import faces
from model.paste_regions import attribute_region, regional, style_ids
from model.readings import to_input
from model.vcn import VCN

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def grown(plain: Tensor, recon: Tensor, x: Tensor, threshold: float, grow: int) -> Tensor:
    """blend_edit(plain, recon, threshold, base=x) with its weight max-pooled over grow x grow pixels."""
    return grown_blend(grow)(plain, recon, threshold, base=x)


REGIONS: dict[str, Tensor] = {}


def region(model: VCN, name: str, n: int = 60) -> Tensor:
    """(H, W): model.paste_regions.attribute_region of `name` on the first n training-seed faces that have it (never
    the test faces)."""
    if name not in REGIONS:
        batch = faces.sample_faces(0, 0, 2000)
        have = torch.as_tensor(batch.attrs)[:, model.cfg.capsule_names.index(name)].bool().nonzero().squeeze(1)[:n]
        x = to_input(torch.as_tensor(faces.render(batch, size=64))[have], model.device)
        REGIONS[name] = attribute_region(model, x, name, seed=7)
    return REGIONS[name]


def checked_edit(model: VCN, rule: str, counts: dict[str, int]) -> Callable:
    """model.edit with pasted resamples replaced by `rule` where the reader reads another style than on the plain
    resample; counts tallies the resamples seen and replaced."""
    shipped = model.edit

    def edit(x: Tensor, resample=(), seed=0, paste: bool = False, **kw) -> Tensor:
        pasted = shipped(x, resample=resample, seed=seed, paste=paste, **kw)
        if not (paste and resample) or rule == "shipped":
            return pasted
        plain = shipped(x, resample=resample, seed=seed, **kw)
        name = resample[0]
        differ = style_ids(model.verifier, plain, name) != style_ids(model.verifier, pasted, name)
        counts["seen"] += len(x)
        counts["replaced"] += int(differ.sum())
        out = pasted.clone()
        if rule == "plain":
            out[differ] = plain[differ]
            return out
        if rule.startswith("region"):
            rows = torch.ones_like(differ) if rule == "regionall" else differ
            out[rows] = regional(plain[rows], pasted[rows], x[rows], region(model, name), model.cfg.edit_blend)
            return out
        recon = model.reconstruct(x)
        if rule.startswith("ladder"):
            todo = differ.nonzero().squeeze(1)
            want = style_ids(model.verifier, plain[todo], name)
            for grow in (int(g) for g in rule.removeprefix("ladder").split(",")):
                out[todo] = grown(plain[todo], recon[todo], x[todo], model.cfg.edit_blend, grow)
                keep = style_ids(model.verifier, out[todo], name) != want
                todo, want = todo[keep], want[keep]
                if len(todo) == 0:
                    break
            counts["plain"] += len(todo)  # here: still unlike the plain one after the last grow
            return out
        grow = int(rule.removeprefix("grow").split("+")[0])
        out[differ] = grown(plain[differ], recon[differ], x[differ], model.cfg.edit_blend, grow)
        if rule.endswith("+plain"):
            still = style_ids(model.verifier, out, name) != style_ids(model.verifier, plain, name)
            out[still] = plain[still]
            counts["plain"] += int(still.sum())
        return out

    return edit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("--rules", nargs="+", default=["shipped", "plain", "grow5", "grow9", "grow9+plain"])
    a = p.parse_args()
    cpu, oracle, images, attrs, styles = eval_set()
    model = prepared_model(a.weights)
    shipped = model.edit
    for rule in a.rules:
        counts = {"seen": 0, "replaced": 0, "plain": 0}
        model.edit, t0 = checked_edit(model, rule, counts), time.time()
        r, named = pasted_styles(model, oracle, images, attrs, styles, cpu)
        model.edit = shipped
        d = r["style_diversity"]
        print(f"{rule}: {summary(r, named)}; replaced {counts['replaced']} of {counts['seen']} (plain "
              f"{counts['plain']}); {time.time() - t0:.0f} s", flush=True)
        print("  per attribute (styles, still present, input kept): " + ", ".join(
            f"{n} {d[n]:.2f} {r['style_presence'][n]:.3f} {r['style_input_kept'][n]:.3f}" for n in d), flush=True)


if __name__ == "__main__":
    main()
