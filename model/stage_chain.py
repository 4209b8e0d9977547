"""`vcn stages`: the stages after training, run in turn with the flags the hour from scratch uses.

A faces model out of `vcn train` edits with its bare capsules. The stages add what makes edits take and keep the
rest (docs/recipes.md): a capsule bank (edits and samples draw capsules seen in training), per-attribute edit
strengths, transfer maps (a switched-on capsule keeps the face's pose and background), the style strength of
resamples, a verifier embedded in the file, and style clusters (resamples take the styles in turn). Each is its
own `vcn` command (model/cli_stages.py) that reads one file and writes the next; `vcn stages` runs them as
experiments/session25_scratch.sh does, each writing OUT's name + _<stage> beside OUT and the last writing OUT.
With resume, a stage whose file is there is skipped (files are written atomically: one that is there is whole).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# (command, its flags): the hour's stages and settings (docs/recipes.md, sessions 25-31). style-fit and
# paste-regions are left out: they only move styles, at minutes each (the shipped model has them).
HOUR_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bank", ("--n", "8000", "--size", "256", "--edit-strength", "1.5")),
    ("calibrate", ()),
    ("transfer", ("--n", "4000", "--variety", "0.5", "--blend", "0.05")),
    ("calibrate-styles", ()),
    ("verify", ("--strengths", "1", "1.5", "2", "--confidence", "0.995", "--sample-tries", "4")),
    ("style-clusters", ("--half",)),
)
READER_STAGES = {"calibrate", "calibrate-styles", "verify", "style-clusters"}  # they take --reader
NO_DEVICE = {"bank"}  # the stages without a --device flag


def stage_files(out: Path) -> list[Path]:
    """Where each stage writes: beside OUT, named for the stage (OUT itself for the last)."""
    beside = [out.with_name(f"{out.stem}_{name.replace('-', '_')}{out.suffix}") for name, _ in HOUR_STAGES[:-1]]
    return [*beside, out]


def stage_commands(weights: Path, out: Path, reader: str | None = None, device: str | None = None) -> list[list[str]]:
    """The `vcn` command lines of the stages, in order: each reads the file the one before wrote."""
    lines, src = [], weights
    for (name, flags), dst in zip(HOUR_STAGES, stage_files(out), strict=True):
        line = [name, "--weights", str(src), "--out", str(dst), *flags]
        if reader is not None and name in READER_STAGES:
            line += ["--reader", reader]
        if device is not None and name not in NO_DEVICE:
            line += ["--device", device]
        lines.append(line)
        src = dst
    return lines


def run_stages(weights: str | Path, out: str | Path, *, reader: str | None = None, device: str | None = None,
               resume: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run the stages on a trained faces model (`weights`), writing the servable file `out`; returns it."""
    from model.checkpoint import read_checkpoint
    from model.cli import build_parser

    config = read_checkpoint(weights, role="vcn")[1].get("config", {})
    if config.get("dataset") != "faces" or config.get("kind") != "multilabel":  # every stage renders faces to read
        raise SystemExit("vcn stages: for attribute (faces) models of the rendered faces; digit models take "
                         "`vcn class-evidence`")
    out = Path(out)
    parser = build_parser()
    for line, dst in zip(stage_commands(Path(weights), out, reader, device), stage_files(out), strict=True):
        name = line[0]
        if resume and dst.is_file():
            log(f"{name}: {dst} is there, skipped")
            continue
        t0 = time.time()
        args = parser.parse_args(line)
        args.func(args)
        log(f"TIME {name} {time.time() - t0:.0f} s")
    return out
