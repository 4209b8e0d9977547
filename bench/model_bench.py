"""Model speed on CPU (or a GPU: --device cuda): batch-1 latency and batched throughput of predict, edit and
sample, as shipped and with each optimisation of model/fast.py, against the machine's fp32 matmul rate measured
in the same rounds.

    vcn bench model [--threads 1] [--runs 50] [--batches 8 32 128] [--compile] [--device cuda] [--json OUT]

Every variant is timed side by side with the others (see bench/common.py); "share" is achieved FLOP/s
(torch.utils.flop_counter: convolutions and matmuls) over the 2048x2048 fp32 matmul rate of the same rounds.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import interleaved, machine, markdown_table, matmul_rates, percentile, reference_matmul

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "weights" / "faces.safetensors"
OP_NAMES = ("predict", "edit", "sample")
VARIANTS = ("base", "fold", "channels_last", "fast", "bf16-gen", "bf16-all")  # the default comparison


@dataclass
class Variant:
    """A model to time and the torch threads it runs with (None: the process default)."""

    model: torch.nn.Module
    threads: int | None = None


def op_call(model: torch.nn.Module, op: str, x: torch.Tensor) -> Callable[[], object]:
    """A no-argument call of one operation on batch x: predict(x), edit(x, one attribute on), sample(n)."""
    names = model.cfg.capsule_names
    if op == "predict":
        return lambda: model.predict(x)
    if op == "edit":
        on = {"Eyeglasses" if "Eyeglasses" in names else names[0]: True}
        return lambda: model.edit(x, on, seed=0)
    if op == "sample":
        return lambda: model.sample({}, n=x.shape[0], seed=0)
    raise ValueError(f"unknown op {op!r}")


def bound(v: Variant, fn: Callable[[], object]) -> Callable[[], object]:
    """fn run with the variant's threads (restored afterwards)."""

    def call() -> object:
        before = torch.get_num_threads()
        if v.threads:
            torch.set_num_threads(v.threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return call


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (convolutions and matmuls, forward only under inference mode)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def make_variants(model: torch.nn.Module, names: list[str], compile_: bool = False) -> dict[str, Variant]:
    """The variants to compare, by name: base (as shipped), fold (BN folded), channels_last, fast (both),
    fast-1t / fast-2t (fast on one / two threads), bf16-gen / bf16-all (fast, the generator / both networks
    under CPU bf16 autocast), compile (fast + torch.compile)."""
    from model.fast import optimize_for_inference

    fast = optimize_for_inference(model)
    table = {
        "base": lambda: Variant(model),
        "fold": lambda: Variant(optimize_for_inference(model, channels_last=False)),
        "channels_last": lambda: Variant(optimize_for_inference(model, fold_bn=False)),
        "fast": lambda: Variant(fast),
        "fast-1t": lambda: Variant(fast, threads=1),
        "fast-2t": lambda: Variant(fast, threads=2),
        "bf16-gen": lambda: Variant(optimize_for_inference(model, bf16="generator")),
        "bf16-all": lambda: Variant(optimize_for_inference(model, bf16="all")),
        "compile": lambda: Variant(compiled(fast)),
    }
    if compile_ and "compile" not in names:
        names = [*names, "compile"]
    return {n: table[n]() for n in names}


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose encoder and generator go through torch.compile (inductor, dynamic batch size)."""
    import copy

    out = copy.deepcopy(model)
    out.encoder = torch.compile(out.encoder, dynamic=True)
    out.generator = torch.compile(out.generator, dynamic=True)
    return out


def accuracy(variants: dict[str, Variant], x: torch.Tensor) -> dict[str, dict]:
    """Per variant, against base: largest pixel difference of edit, share of equal predictions."""
    base = variants["base"]
    ref_img = op_call(base.model, "edit", x)()
    ref = base.model.predict(x).present
    out = {}
    for name, v in variants.items():
        img = bound(v, op_call(v.model, "edit", x))()
        pred = bound(v, lambda m=v.model: m.predict(x))()
        out[name] = {"edit_max_abs_diff": float((img.float() - ref_img).abs().max()),
                     "predict_agreement": float((pred.present == ref).float().mean())}
    return out


def images(model: torch.nn.Module, batch: int, seed: int = 0) -> torch.Tensor:
    """A batch of uniform random images of the model's shape, on the model's device."""
    cfg, g = model.cfg, torch.Generator().manual_seed(seed)
    x = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=g)
    return x.to(next(model.parameters()).device)


def latency(variants: dict[str, Variant], runs: int, seed: int = 0) -> dict[str, dict[str, dict]]:
    """Batch-1 latency in ms (p50, p90) of each op and variant, over `runs` calls each, interleaved."""
    x = images(next(iter(variants.values())).model, 1, seed)
    out: dict[str, dict[str, dict]] = {}
    for op in OP_NAMES:
        cands = {name: bound(v, op_call(v.model, op, x)) for name, v in variants.items()}
        times = interleaved(cands, rounds=max(runs // 5, 1), per_round=5)
        out[op] = {name: {"p50_ms": percentile(t, 50) * 1e3, "p90_ms": percentile(t, 90) * 1e3, "n": len(t)}
                   for name, t in times.items()}
    return out


def throughput(variants: dict[str, Variant], batches: list[int], rounds: int, seed: int = 0) -> list[dict]:
    """Images/s and FLOP share of each (op, batch, variant); the matmul runs in the same rounds."""
    model = next(iter(variants.values())).model
    mm, mm_flops = reference_matmul(next(model.parameters()).device.type)
    rows = []
    for batch in batches:
        x = images(model, batch, seed)
        for op in OP_NAMES:
            flops = count_flops(op_call(variants["base"].model, op, x)) if "base" in variants else None
            cands = {name: bound(v, op_call(v.model, op, x)) for name, v in variants.items()}
            times = interleaved({"matmul": mm, **cands}, rounds=rounds)
            mm_rate = mm_flops / percentile(times.pop("matmul"), 50)
            for name, t in times.items():
                sec = percentile(t, 50)
                rate = flops / sec if flops else float("nan")
                rows.append({"op": op, "batch": batch, "variant": name, "ms": sec * 1e3, "img_per_s": batch / sec,
                             "mflop_per_img": (flops or 0) / batch / 1e6, "gflop_s": rate / 1e9,
                             "matmul_gflop_s": mm_rate / 1e9, "share": rate / mm_rate})
    return rows


def run(weights: str | Path = WEIGHTS, runs: int = 50, batches: tuple[int, ...] = (8, 32, 128), rounds: int = 5,
        variants: tuple[str, ...] = VARIANTS, compile_: bool = False, threads: int | None = None,
        json_out: str | None = None, device: str = "cpu") -> dict:
    """Load the weights, build the variants, measure, print markdown tables; returns everything as a dict.
    threads: torch threads for the whole run (None: torch's default, one per core). device "cuda": the same
    on the GPU, each call timed until its GPU work is done, the reference an 8192^2 matmul (fp32, no TF32)."""
    from model.checkpoint import load_vcn

    if threads:
        torch.set_num_threads(threads)
    model = load_vcn(weights, device=device)
    info = machine()
    if device != "cpu":
        info["gpu"] = torch.cuda.get_device_name()
    print(f"# model bench: {weights}\n{json.dumps(info, indent=1)}", flush=True)
    t0 = time.perf_counter()
    vs = make_variants(model, list(variants), compile_)
    acc = accuracy(vs, images(model, 8, seed=1))  # also the first (compiling) call of every variant
    setup_s = time.perf_counter() - t0
    if device == "cpu":
        mm = matmul_rates()
        print(markdown_table(["fp32 2048x2048 matmul, threads", "GFLOP/s"], [[t, r / 1e9] for t, r in mm.items()]))
    else:
        refs = {name: reference_matmul(device, dt) for name, dt in (("float32", torch.float32),
                                                                    ("bfloat16", torch.bfloat16))}
        times = interleaved({k: fn for k, (fn, _) in refs.items()}, rounds=rounds)
        mm = {k: refs[k][1] / percentile(t, 50) for k, t in times.items()}
        print(markdown_table(["8192x8192 matmul on the GPU", "GFLOP/s"], [[k, r / 1e9] for k, r in mm.items()]))
    lat = latency(vs, runs)
    print(markdown_table(["op", "variant", "p50 ms", "p90 ms", "runs"],
                         [[op, n, r["p50_ms"], r["p90_ms"], r["n"]] for op, d in lat.items() for n, r in d.items()]))
    thr = throughput(vs, list(batches), rounds)
    print(markdown_table(["op", "batch", "variant", "ms/batch", "img/s", "MFLOP/img", "GFLOP/s", "matmul GFLOP/s",
                          "share"],
                         [[r["op"], r["batch"], r["variant"], r["ms"], r["img_per_s"], r["mflop_per_img"],
                           r["gflop_s"], r["matmul_gflop_s"], f"{100 * r['share']:.0f} %"] for r in thr]))
    print(markdown_table(["variant", "edit max |diff|", "predict agreement"],
                         [[n, a["edit_max_abs_diff"], a["predict_agreement"]] for n, a in acc.items()]))
    result = {"machine": info, "loadavg_after": machine()["loadavg"], "weights": str(weights), "setup_s": setup_s,
              "matmul_gflop_s_by_threads": {t: r / 1e9 for t, r in mm.items()}, "latency": lat, "throughput": thr,
              "accuracy": acc}
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="vcn bench model", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=str(WEIGHTS))
    p.add_argument("--runs", type=int, default=50, help="batch-1 calls per op and variant")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    p.add_argument("--rounds", type=int, default=5, help="timed calls per (op, batch, variant)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS),
                   help="of: base fold channels_last fast fast-1t fast-2t bf16-gen bf16-all compile")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compiling)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the run (default: one per core)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: time on the GPU (use --variants base fast bf16-gen bf16-all)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    run(a.weights, a.runs, tuple(a.batches), a.rounds, tuple(a.variants), a.compile, a.threads, a.json, a.device)


if __name__ == "__main__":
    main()
