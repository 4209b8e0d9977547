"""Training in phases: the hour's recipe (docs/recipes.md, "The hour from scratch") as one `vcn train`.

A recipe with `encoder_share` or `finish_share` (TrainConfig) splits its budget, --max-time if given, else
`steps`, into up to three runs of model.train.train, each starting from the weights the last one ended with
(and a fresh optimiser and learning-rate schedule):

1. "whole": every term of the objective, from `lr` (the counterfactual swap and the judge shape the capsules);
2. "encoder": encoder and generator without the pair and judge terms (swap, donor, judge) from `encoder_lr`:
   the margin, choice and reconstruction terms settle on real faces once the edit terms have done their work;
3. "finish": the generator alone (encoder frozen, so predictions cannot move) on reconstructions from
   `finish_lr`, about 2.5 times the images a second of phase 1: sharper faces and edits that keep the rest.

Why in this order: measured in docs/recipes-sessions-29-30.md (session 29: the finish; 30: the encoder phase before
it) and docs/recipes.md (31: their shares and rates). Each phase writes OUT/<phase>/ (model.safetensors,
last.safetensors, log.csv, samples/); OUT/phases.json records the phases done; OUT/model.safetensors is the last
phase's weights saved with the whole recipe in their metadata. `--resume` skips the phases phases.json lists and
resumes the one that was cut short from its last.safetensors (a timed phase then gets its full time again, as a
resumed timed `train` does).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from model.checkpoint import read_checkpoint, save_checkpoint
from model.config import TrainConfig, VCNConfig


@dataclasses.dataclass(frozen=True)
class Phase:
    """One run of a phased recipe: its name, its recipe and its share of the budget."""

    name: str
    tcfg: TrainConfig
    share: float


def plan_phases(tcfg: TrainConfig) -> list[Phase]:
    """The runs a recipe trains in, in order; phases with no share are left out. Each phase's recipe is the
    recipe with that phase's rate, terms and frozen parts, and no phases of its own."""
    single = dataclasses.replace(tcfg, encoder_share=0.0, finish_share=0.0)
    no_pairs = dict(swap_weight=0.0, donor_weight=0.0, judge_weight=0.0)
    plan = [Phase("whole", single, 1.0 - tcfg.encoder_share - tcfg.finish_share),
            Phase("encoder", dataclasses.replace(single, lr=tcfg.encoder_lr, **no_pairs), tcfg.encoder_share),
            Phase("finish", dataclasses.replace(single, lr=tcfg.finish_lr, freeze=("encoder",), **no_pairs),
                  tcfg.finish_share)]
    return [p for p in plan if p.share > 0]


def phase_budget(phase: Phase, steps: int, max_time: float | None) -> tuple[int, float | None]:
    """A phase's (steps, max_time): its share of each (at least one step)."""
    return max(1, round(phase.share * steps)), None if max_time is None else phase.share * max_time


def train_in_phases(vcfg: VCNConfig, tcfg: TrainConfig, out_dir: str | os.PathLike, *,
                    max_time: float | None = None, resume: bool = False, init: str | None = None,
                    init_parts: tuple[str, ...] | None = None, **train_kwargs: Any) -> Path:
    """Train `tcfg`'s phases in turn (module docstring); returns OUT/model.safetensors. `train_kwargs` go to every
    phase's model.train.train (device, data, judge paths, checkpoint cadence...)."""
    from model.train import load_training_data, train

    out = Path(out_dir)
    record = out / "phases.json"
    done: dict[str, dict] = json.loads(record.read_text()) if resume and record.is_file() else {}
    rank = int(os.environ.get("RANK", "0"))
    if train_kwargs.get("data") is None:  # rendered once for every phase (minutes for 60,000 pairs)
        cache = train_kwargs.pop("data_cache", None)
        train_kwargs["data"] = load_training_data(vcfg, tcfg, train_kwargs.pop("data_root", None),
                                                  Path(cache) if cache else None, train_kwargs.get("workers", 0))
    path, start, start_parts = None, init, init_parts
    for phase in plan_phases(tcfg):
        path = out / phase.name / "model.safetensors"
        if phase.name not in done:
            steps, seconds = phase_budget(phase, tcfg.steps, max_time)
            t0 = time.time()
            train(vcfg, dataclasses.replace(phase.tcfg, steps=steps), out / phase.name, max_time=seconds,
                  resume=resume, init=start, init_parts=start_parts, **train_kwargs)
            if rank == 0:
                step = read_checkpoint(path, role="vcn")[1].get("metrics", {}).get("step")
                done[phase.name] = {"steps": step, "seconds": round(time.time() - t0, 1), "lr": phase.tcfg.lr}
                _write_json(record, done)
        start, start_parts = str(path), None  # the next phase starts from this one's weights
    final = out / "model.safetensors"
    if rank == 0:
        tensors, meta = read_checkpoint(path, role="vcn")
        meta = {k: v for k, v in meta.items() if k not in ("format", "role")}
        meta["train_config"] = json.loads(tcfg.to_json())  # the whole recipe, not the last phase's
        meta["metrics"] = {**meta.get("metrics", {}), "phases": done}
        save_checkpoint(final, tensors, role="vcn", **meta)
    return final


def _write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (temp file + rename), so an interrupted run never leaves half a record."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)
