"""Verified edits: push each edit only as far as a reader needs to see it.

The calibrated strengths (model/calibrate.py) push every edit of an attribute equally hard, up to 3x the
mask change, and the push is what costs the rest of the face: with the transfer maps an edit at strength 1
keeps 97.1 % of the nuisance, at the calibrated strengths 95.3 % (docs/recipes-history.md, session 5;
docs/recipes-sessions-8-10.md, session 9). But most faces do not need the push: at strength 1 the oracle already reads
80 % of edits as taken.

So a verified edit is decoded at the strengths of a short ladder (cfg.verify_strengths, e.g. 1, 1.5, 2) and
then at the calibrated strength; a *verifier* reads each try, and the first that it reads with at least
cfg.verify_confidence as having every attribute the edit sets is returned; when none does, the try it finds
most convincing. Decoding goes in two stages: strength 1 for every face (half of them stop there), then all
the other strengths at once for the faces the verifier does not yet believe.

The verifier is a calibration reader (an attribute CNN trained from scratch on its own seed of rendered
faces, weights/reader.safetensors) embedded in the model file by `vcn verify`:
never the evaluation oracle, which `vcn eval` uses to judge the result, nor the training judge, which the
generator learnt to please. A confidence well above 0.5 matters: the reader and the oracle disagree on a few
percent of edited faces, and at 0.5 the edits that convinced only the reader cost 5 points of edit success.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn


def target_confidence(verifier: nn.Module, images: Tensor, names: Sequence[str],
                      flags: Mapping[str, bool] | Sequence[Mapping[str, bool]]) -> Tensor:
    """How sure the verifier is that each image shows every state in flags (one mapping for all images, or
    one per image, none of them empty): images (B, C, H, W) -> (B,), the smallest over the set attributes of
    P(state), P from the verifier's attribute logits (B, A)."""
    prob = torch.sigmoid(verifier.attribute_logits(images).float())
    per_image = [flags] * len(images) if isinstance(flags, Mapping) else flags
    if len(per_image) != len(images):
        raise ValueError(f"{len(per_image)} sets of states for {len(images)} images")
    # (image, attribute column, wanted state) for every state asked, set in two (B, A) masks at once
    cells = [(i, names.index(name), bool(on)) for i, states in enumerate(per_image) for name, on in states.items()]
    asked = torch.zeros(prob.shape, dtype=torch.bool)
    wanted = torch.zeros(prob.shape, dtype=torch.bool)
    if cells:
        rows, cols, on = (list(column) for column in zip(*cells, strict=True))
        asked[rows, cols] = True
        wanted[rows, cols] = torch.tensor(on)
    asked, wanted = asked.to(prob.device), wanted.to(prob.device)
    return torch.where(asked, torch.where(wanted, prob, 1.0 - prob), 1.0).amin(dim=1)


def verified_tries(n: int, stages: Sequence[Sequence[float | Tensor]],
                   decode: Callable[[Tensor, Sequence[float | Tensor]], Tensor],
                   confidence: Callable[[Tensor, Tensor], Tensor], threshold: float,
                   device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """A verified edit of n images, decoding no more than it needs. decode(rows, strengths) gives those rows'
    edit at each strength (L, k, C, H, W) in one generator call; confidence(rows, images) how sure the verifier
    is of each of those tries, flattened (L * k, C, H, W) -> (L * k,). Stage by stage, only the images the
    verifier is not yet sure of go on: with stages [[1], [1.5, 2, calibrated]] a face that takes at strength 1
    costs one decode, any other one more. Each image ends as its first try (in strength order) read with at
    least `threshold`, else its most convincing try (the earliest of equals) -> (n, C, H, W), how sure the
    verifier is of each chosen try (n,), and which try it is (n,) long, counted over the stages' strengths in order."""
    todo = torch.arange(n, device=device)
    best = torch.full((n,), -1.0, device=device)
    chosen = torch.full((n,), -1, dtype=torch.long, device=device)
    out: Tensor | None = None
    offset = 0  # the stage's first strength, counted over all the stages'
    for stage in stages:
        tries = decode(todo, stage)  # (L, k, C, H, W)
        sure = confidence(todo, tries.flatten(0, 1)).view(tries.shape[:2])  # (L, k)
        if out is None:
            out = torch.empty((n, *tries.shape[2:]), dtype=tries.dtype, device=tries.device)
        open_ = torch.ones(len(todo), dtype=torch.bool, device=todo.device)  # not yet sure, within this stage
        for j, (images, conf) in enumerate(zip(tries, sure, strict=True)):
            better = open_ & (conf > best[todo])
            out[todo[better]] = images[better]
            best[todo[better]] = conf[better]
            chosen[todo[better]] = offset + j
            open_ &= conf < threshold
        todo, offset = todo[open_], offset + len(stage)
        if len(todo) == 0:
            break
    assert out is not None, "no strengths to try"
    return out, best, chosen


def states_agreement(verifier: nn.Module, images: Tensor, states: Tensor) -> Tensor:
    """How closely the verifier reads images (B, C, H, W) as having states (B, A) in {0, 1} -> (B,): the number
    of attributes it reads as asked (probability above one half), plus the mean log-probability of the asked
    states held within (-1, 0] so that it only breaks ties between equal counts."""
    logits = verifier.attribute_logits(images).float()
    logp = nn.functional.logsigmoid(torch.where(states.bool(), logits, -logits))
    return (logits > 0).eq(states.bool()).sum(1).float() + logp.mean(1).clamp(min=-0.999)


def best_draw(verifier: nn.Module, draws: Tensor, states: Tensor) -> Tensor:
    """Verified samples: draws (T, N, C, H, W), T prior draws of each of N new images that should show states
    (N, A) -> (N, C, H, W), per image the draw the verifier reads closest to its states (states_agreement; the
    earliest of equals). Prior draws land in the decoder's holes now and then (an attribute it does not draw
    from that draw); the verifier, a calibration reader and never the evaluation oracle, spots most of them."""
    t, n = draws.shape[:2]
    score = states_agreement(verifier, draws.flatten(0, 1), states.repeat(t, 1)).view(t, n)
    return draws[score.argmax(0), torch.arange(n, device=draws.device)]


def with_verifier(model: nn.Module, reader: nn.Module, strengths: Sequence[float], confidence: float,
                  sample_tries: int = 1) -> nn.Module:
    """A copy of a VCN (model/vcn.py) with `reader` (an Oracle of the same attributes and image size) embedded
    as its verifier, verified edits on at these ladder strengths and each new face picked from sample_tries
    draws; no strengths and one try: verified edits and samples off and no verifier in the file."""
    if tuple(reader.cfg.attribute_names) != tuple(model.cfg.capsule_names):
        raise ValueError("the reader reads other attributes than the model has")
    if reader.cfg.image_size != model.cfg.image_size:
        raise ValueError(f"the reader reads {reader.cfg.image_size}px faces, the model makes "
                         f"{model.cfg.image_size}px")
    keep = bool(strengths) or sample_tries > 1
    cfg = dataclasses.replace(model.cfg, verify_strengths=tuple(strengths), verify_confidence=float(confidence),
                              sample_tries=int(sample_tries), verifier=reader.cfg.to_json() if keep else "")
    out = model.rebuilt(cfg, fresh=("verifier",))
    if out.verifier is not None:
        out.verifier.load_state_dict(reader.state_dict())
    return out.eval()
