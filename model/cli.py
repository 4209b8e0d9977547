"""The `vcn` command: argument parsing only; every subcommand calls a function that lives elsewhere."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.cli_stages import add_stage_commands
from model.config import PRESETS

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO / "weights" / "faces.safetensors"


RECIPE_FLAGS: list[tuple[str, type]] = [
    ("steps", int), ("batch_size", int), ("lr", float), ("lr_floor", float), ("margin", float),
    ("down_weight", float), ("recon_weight", float), ("adv_weight", float), ("swap_weight", float),
    ("judge_weight", float), ("mmd_weight", float), ("context_kl_weight", float), ("train_size", int),
    ("seed", int), ("recon", str), ("style_share", float), ("augment_shift", int),
    ("augment_rotate", float), ("augment_scale", float), ("donor_weight", float), ("perceptual_weight", float),
    ("style_weight", float), ("choice_weight", float), ("choice_temperature", float), ("weight_decay", float),
    ("edge_weight", float), ("encoder_share", float), ("encoder_lr", float), ("finish_share", float),
    ("finish_lr", float)]
FLAG_HELP = {  # the phases (model/phases.py); the other flags are the TrainConfig fields they name
    "encoder_share": "share of the run (--max-time, else --steps) for the encoder phase: encoder and generator "
                     "without the pair and judge terms, from --encoder-lr (0: none)",
    "finish_share": "share of the run for the finish, last: the generator alone (encoder frozen) on "
                    "reconstructions, from --finish-lr (0: none)",
}


def _train_overrides(p: argparse.ArgumentParser) -> None:
    """Flags that override preset fields (unset = keep the preset's value)."""
    g = p.add_argument_group("recipe overrides")
    for name, typ in RECIPE_FLAGS:
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=FLAG_HELP.get(name))
    g.add_argument("--freeze", nargs="+", choices=["encoder", "generator"], default=None,
                   help="keep these parts' weights as they start (from --init)")
    g.add_argument("--judge-augment", dest="judge_augment", type=int, choices=[0, 1], default=None,
                   help="1: the judge reads generated images through a random shift, brightness and noise")
    g.add_argument("--judge-eval-norm", dest="judge_eval_norm", type=int, choices=[0, 1], default=None,
                   help="1: the judge's fakes are decoded with BatchNorm on its running statistics, as served")
    g.add_argument("--style-augment", dest="style_augment", type=int, choices=[0, 1], default=None,
                   help="1: the style reader (--style-weight) reads generated images through the same random view")
    g.add_argument("--cpu-bf16", dest="cpu_bf16", type=int, choices=[0, 1], default=None,
                   help="1: train on the CPU under bf16 autocast (about 2.5x faster on CPUs with AMX; CUDA always "
                        "uses bf16)")
    g.add_argument("--lr-schedule", dest="lr_schedule", choices=["constant", "cosine"], default=None,
                   help="cosine: decay to --lr-floor x lr over --steps or --max-time, whichever ends first")
    n = p.add_argument_group("network overrides")
    for name in ("capsule_dim", "context_dim", "width", "image_size"):
        n.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=None)
    n.add_argument("--mask-input", dest="mask_input", type=int, choices=[0, 1], default=None,
                   help="1: the generator also reads the mask (default for faces presets); 0: the paper's design")


def cmd_train(a: argparse.Namespace) -> None:
    from model.config import replace
    from model.phases import train_in_phases
    from model.train import train

    vcfg, tcfg = PRESETS[a.preset]
    vcfg = replace(vcfg, capsule_dim=a.capsule_dim, context_dim=a.context_dim, width=a.width,
                   image_size=a.image_size, mask_input=None if a.mask_input is None else bool(a.mask_input))
    tcfg = replace(tcfg, **{k: getattr(a, k) for k in [*(name for name, _ in RECIPE_FLAGS), "lr_schedule"]},
                   freeze=tuple(a.freeze) if a.freeze else None,
                   judge_augment=None if a.judge_augment is None else bool(a.judge_augment),
                   judge_eval_norm=None if a.judge_eval_norm is None else bool(a.judge_eval_norm),
                   style_augment=None if a.style_augment is None else bool(a.style_augment),
                   cpu_bf16=None if a.cpu_bf16 is None else bool(a.cpu_bf16))
    run = train_in_phases if tcfg.phased else train  # a recipe in phases: one train run per phase
    path = run(vcfg, tcfg, a.out, device=a.device, max_time=a.max_time, resume=a.resume, data_root=a.data_root,
               data_cache=a.data_cache, judge_path=a.judge, style_judge_path=a.style_judge, ckpt_every=a.ckpt_every,
               sample_every=a.sample_every, workers=a.workers, progress=not a.no_progress, init=a.init,
               init_parts=tuple(a.init_parts) if a.init_parts else None)
    print(f"wrote {path}")


def cmd_baseline(a: argparse.Namespace) -> None:
    from model.baseline import CVAEConfig, train_baseline
    from model.config import DIGITS

    cfg = (CVAEConfig(arch="mnist", kind="multiclass", capsule_names=DIGITS, image_size=28, channels=1,
                      z_dim=a.z_dim, dataset="mnist") if a.dataset == "mnist"
           else CVAEConfig(image_size=a.image_size, z_dim=a.z_dim, width=a.width))
    train_baseline(cfg, steps=a.steps, batch=a.batch_size, lr=a.lr, n_train=a.train_size, device=a.device,
                   out_path=a.out, max_time=a.max_time, workers=a.workers, data_root=a.data_root,
                   data_cache=a.data_cache)
    print(f"wrote {a.out}")


def cmd_eval(a: argparse.Namespace) -> None:
    from model.evaluate import run_eval

    run_eval(a.weights, dataset=a.dataset, data_root=a.data_root, oracle_path=a.oracle, json_out=a.json,
             n=a.n, device=a.device, paste=a.paste)


def cmd_data_faces(a: argparse.Namespace) -> None:
    from model.data.faces import write_celeba_layout

    write_celeba_layout(a.out, a.n, seed=a.seed, size=a.size, workers=a.workers)
    print(f"wrote {a.n} faces to {a.out}")


def cmd_data_stats(a: argparse.Namespace) -> None:
    from model.data.faces import data_stats

    print(json.dumps(data_stats(a.dataset, a.data_root), indent=2))


def cmd_bench(a: argparse.Namespace) -> None:
    import importlib

    if not (REPO / "bench").is_dir():
        raise SystemExit("vcn bench: needs the source checkout (no bench/ folder next to model/)")
    if str(REPO) not in sys.path:  # bench/ lives in the checkout, not in the installed package
        sys.path.insert(0, str(REPO))
    importlib.import_module(f"bench.{a.which}_bench").main(a.args)


def cmd_serve(a: argparse.Namespace) -> None:
    from app.main import serve

    serve(host=a.host, port=a.port, weights=a.weights, device=a.device)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vcn", description="Variational Capsule Networks: train, evaluate, serve.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a VCN from a preset")
    t.add_argument("--preset", default="faces64", choices=list(PRESETS))
    t.add_argument("--out", default="runs/faces64")
    t.add_argument("--device", default="auto")
    t.add_argument("--max-time", type=float, default=None, help="seconds; stop cleanly and save")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--data-root", default=None)
    t.add_argument("--data-cache", default=None, help="safetensors cache of rendered training faces")
    t.add_argument("--init", default=None, help="start from these VCN weights (same network shape)")
    t.add_argument("--init-parts", nargs="+", choices=["encoder", "generator"], default=None,
                   help="take only these parts from --init (the others start fresh and may differ in shape)")
    t.add_argument("--judge", default=None,
                   help="judge weights for --judge-weight and --perceptual-weight (default for 64px faces: "
                        "weights/judge.safetensors)")
    t.add_argument("--style-judge", default=None,
                   help="a reader with style heads for --style-weight (default for 64px faces: "
                        "weights/reader.safetensors; never the eval oracle)")
    t.add_argument("--ckpt-every", type=int, default=1000)
    t.add_argument("--sample-every", type=int, default=2000)
    t.add_argument("--workers", type=int, default=0)
    t.add_argument("--no-progress", action="store_true")
    _train_overrides(t)
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("baseline", help="train the CVAE baseline (one global latent) on a VCN's data")
    c.add_argument("--dataset", default="faces", choices=["faces", "mnist"])
    c.add_argument("--out", default="runs/baseline.safetensors")
    c.add_argument("--steps", type=int, default=20_000)
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--lr", type=float, default=3e-4)
    c.add_argument("--z-dim", type=int, default=64)
    c.add_argument("--width", type=int, default=32)
    c.add_argument("--image-size", type=int, default=64)
    c.add_argument("--train-size", type=int, default=200_000, help="rendered faces (without --data-cache)")
    c.add_argument("--data-cache", default=None, help="vcn train's face cache: train on the same faces")
    c.add_argument("--data-root", default=None)
    c.add_argument("--max-time", type=float, default=None, help="seconds")
    c.add_argument("--device", default="auto")
    c.add_argument("--workers", type=int, default=None)
    c.set_defaults(func=cmd_baseline)

    e = sub.add_parser("eval", help="evaluate a checkpoint (metrics JSON + table)")
    e.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    e.add_argument("--dataset", default=None, help="faces (default for faces models), mnist, celeba")
    e.add_argument("--data-root", default=None)
    e.add_argument("--oracle", default=None, help="oracle weights (default: weights/oracle.safetensors)")
    e.add_argument("--json", default=None, help="write the metrics here")
    e.add_argument("--n", type=int, default=None, help="test images (default: the documented set)")
    e.add_argument("--device", default="auto")
    e.add_argument("--paste", action="store_true",
                   help="faces: paste each edit onto the input, as the server does for models that blend edits")
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser("data", help="data sets").add_subparsers(dest="data_command", required=True)
    f = d.add_parser("faces", help="render procedural faces in CelebA's on-disk layout")
    f.add_argument("--out", required=True)
    f.add_argument("--n", type=int, default=1000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--size", type=int, default=64)
    f.add_argument("--workers", type=int, default=0)
    f.set_defaults(func=cmd_data_faces)
    s = d.add_parser("stats", help="images per split and attribute positive rates, as JSON")
    s.add_argument("--dataset", default="celeba")
    s.add_argument("--data-root", required=True)
    s.set_defaults(func=cmd_data_stats)

    add_stage_commands(sub)  # calibrate ... transfer: the stages after training (model/cli_stages.py)

    k = sub.add_parser("bench", help="measure speed on this machine (see BENCHMARKS.md)")
    k.add_argument("which", choices=["model", "http", "train", "threads", "edit"])
    k.add_argument("args", nargs=argparse.REMAINDER, help="that benchmark's own flags (vcn bench WHICH -h)")
    k.set_defaults(func=cmd_bench)

    v = sub.add_parser("serve", help="run the web service")
    v.add_argument("--host", default=None)
    v.add_argument("--port", type=int, default=None)
    v.add_argument("--weights", default=None)
    v.add_argument("--device", default=None)
    v.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
