"""What picking among more resamples could show at most, a probe (session 20):

    python experiments/pick_agreement.py [W] [K]

For vcn eval's 30 style faces of Eyeglasses / Bangs / Wearing_Hat (its test set, its style seeds), K resamples each
(the shipped path: residual clusters in turn, K / 10 times over): the distinct styles the oracle reads among all K
(the most any choice of 10 of them could show), the distinct styles the file's embedded verifier (the reader that
picked_resamples.py picks with) reads among them, and how often the two agree on a resample's style where both see the
attribute. Results: experiments/results/session20/pick_agreement.log.
"""

from __future__ import annotations

import sys

import torch
from eval_inputs import eval_inputs

from model.edit_metrics import STYLE_SEEDS
from model.evaluate import TEST_SEED
from model.readings import to_input

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat")


def main() -> None:
    weights = sys.argv[1] if len(sys.argv) > 1 else "weights/faces.safetensors"
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    cpu, oracle, model, images, attrs, styles = eval_inputs(weights)
    names, reader = list(model.cfg.capsule_names), model.verifier
    for name in NAMED:
        a, so, sr = names.index(name), oracle.cfg.style_names.index(name), reader.cfg.style_names.index(name)
        idx = attrs[:, a].nonzero().squeeze(1)[:30]
        by_oracle, by_reader, agree, both = [], [], 0, 0
        for chunk, start in enumerate(range(0, len(idx), 10)):  # vcn eval's chunks of 10 faces and their seeds
            group = idx[start : start + 10]
            with torch.inference_mode():
                out = model.edit(to_input(images[group.repeat_interleave(k)], cpu), resample=[name],
                                 seed=TEST_SEED + STYLE_SEEDS + 1000 * styles.index(name) + chunk)
                o = oracle.read(out)
                attr_logits, style_logits, _ = reader(out)
            r_present, r_style = attr_logits[:, a] > 0, style_logits[sr].argmax(1)
            for f in range(len(group)):
                rows = slice(f * k, (f + 1) * k)
                o_present, o_style = o.attrs[rows, a], o.styles[rows, so]
                by_oracle.append(len(o_style[o_present].unique()))
                by_reader.append(len(r_style[rows][r_present[rows]].unique()))
                seen = o_present & r_present[rows]
                both += int(seen.sum())
                agree += int((o_style[seen] == r_style[rows][seen]).sum())
        print(f"{name}, {k} resamples a face: distinct styles among them, by the oracle "
              f"{sum(by_oracle) / len(by_oracle):.2f}, by the reader {sum(by_reader) / len(by_reader):.2f}; the two "
              f"read the same style on {agree / both * 100:.0f} % of resamples both see the attribute on", flush=True)


if __name__ == "__main__":
    main()
