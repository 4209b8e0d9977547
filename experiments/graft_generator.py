"""Put a generator trained on a frozen encoder into the model file that encoder came from.

A decoder-only fine-tune (`vcn train --init SHIPPED --freeze encoder ...`) leaves the capsules as they were,
so the shipped file's capsule bank, transfer maps, calibrated strengths and edit blend still describe them;
only the generator is new. This writes SHIPPED with FINETUNED's generator (and nothing else) so the two
can be compared with `vcn eval` on equal terms. It refuses if the encoders differ.

Usage: python experiments/graft_generator.py SHIPPED FINETUNED OUT [--half]
"""

from __future__ import annotations

import argparse

import torch

from model.checkpoint import load_vcn, read_checkpoint, resave_vcn


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("shipped")
    p.add_argument("finetuned")
    p.add_argument("out")
    p.add_argument("--half", action="store_true", help="store float16 weights (smaller file)")
    a = p.parse_args()
    model = load_vcn(a.shipped)
    new, meta = read_checkpoint(a.finetuned, role="vcn")
    own = model.state_dict()
    # Exactly: a fine-tune --init from the (float16) shipped file loads those values, and a frozen encoder
    # keeps them, weights and BatchNorm statistics alike.
    changed = [k for k in own if k.startswith("encoder.") and not torch.equal(own[k], new[k].to(own[k].dtype))]
    if changed:
        raise SystemExit(f"{a.finetuned}: its encoder differs from {a.shipped}'s ({changed[:3]}); "
                         "the bank and transfer maps would not describe its capsules")
    gen = {k: v for k, v in new.items() if k.startswith("generator.")}
    missing = sorted(k for k in own if k.startswith("generator.") and k not in gen)
    if missing:
        raise SystemExit(f"{a.finetuned}: no generator weights {missing[:3]}")
    model.load_state_dict(gen, strict=False)
    print(resave_vcn(a.out, model, dtype=torch.float16 if a.half else None,
                     generator={"source": a.finetuned, "train_config": meta.get("train_config"),
                                "metrics": meta.get("metrics")}))


if __name__ == "__main__":
    main()
