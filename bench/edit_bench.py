"""What the edit settings cost: vcn bench edit [--weights W] [--rounds N]

Edit latency of the server's model (model/fast.py, as app/deps.py loads it) at batch 1 and 8, interleaved
in one process, with the same network weights: as session 4 edited (capsules from the bank, no blend:
cfg.transfer_maps and edit_blend set to 0), with the transfer maps, with maps + blend (sessions 5-8: the
edit and the reconstruction decode together), and, when the file has a verifier, verified (session 9,
model/verify.py: strength 1 for every face, then the other strengths at once for the faces the embedded
reader does not yet believe). One edit = Smiling switched on for faces without it; at batch 1 also every
attribute of the face flipped in turn (the time per edit), since verified edits stop early for most
attributes but rarely for Smiling; a style resample (Eyeglasses) is timed apart, bank against maps.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from bench.common import interleaved, machine, markdown_table, percentile
from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED
from model.fast import optimize_for_inference

N_ATTRIBUTES = len(faces.ATTRIBUTES)


def every_attribute(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Each attribute of the face x (1, C, H, W) flipped in turn: one edit each."""
    present = model.predict(x).present[0].tolist()
    for name, on in zip(model.cfg.capsule_names, present, strict=True):
        model.edit(x, {name: not on}, seed=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default="weights/faces.safetensors")
    p.add_argument("--rounds", type=int, default=100)
    a = p.parse_args(argv)

    def variant(**settings) -> torch.nn.Module:
        m = optimize_for_inference(load_vcn(a.weights))
        m.cfg = dataclasses.replace(m.cfg, **settings)
        return m

    shipped, blend = variant(), variant(verify_strengths=())
    maps = variant(edit_blend=0.0, verify_strengths=())
    bank = variant(edit_blend=0.0, transfer_maps=0, verify_strengths=())
    edits = [("bank (session 4)", bank), ("maps", maps), ("maps + blend (sessions 5-8)", blend)]
    if shipped.cfg.verify_strengths:
        edits.append((f"verified at {list(shipped.cfg.verify_strengths)} + calibrated", shipped))
    batch = faces.sample_faces(TEST_SEED, 0, 64)
    no_smile = batch.attrs[:, faces.ATTRIBUTES.index("Smiling")] == 0
    images = torch.from_numpy(faces.render(batch.take(no_smile.nonzero()[0][:8]), 64))
    x8 = images.permute(0, 3, 1, 2).float().div(255).contiguous(memory_format=torch.channels_last)
    rows = []
    for b in (1, 8):
        x = x8[:b]
        runs = {name: (lambda m=m, x=x: m.edit(x, {"Smiling": True}, seed=1)) for name, m in edits}
        runs.update({f"resample, {name}": (lambda m=m, x=x: m.edit(x, resample=["Eyeglasses"], seed=1))
                     for name, m in (("bank", bank), ("maps", shipped))})
        edits_per_call = dict.fromkeys(runs, 1)
        if b == 1:  # Smiling is one of the edits verified edits push hardest: every attribute in turn too
            for name, m in edits[2:]:
                key = f"{name}, every attribute in turn (per edit)"
                runs[key], edits_per_call[key] = (lambda m=m, x=x: every_attribute(m, x)), N_ATTRIBUTES
        times = interleaved(runs, a.rounds)
        for name, t in times.items():
            ms = [1000 * v / edits_per_call[name] for v in t]
            rows.append([name, b, f"{percentile(ms, 50):.2f}", f"{percentile(ms, 90):.2f}"])
    print(machine())
    print(f"threads {torch.get_num_threads()}, {a.rounds} interleaved rounds")
    print(markdown_table(["edit", "batch", "p50 ms", "p90 ms"], rows))


if __name__ == "__main__":
    main()
