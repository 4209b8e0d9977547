"""Training and data speed on CPU (or a GPU: --device cuda): img/s of the real training loop (model.train.train)
per preset, as a share of the fp32 matmul rate, and rendered faces/s of the procedural face renderer.

    vcn bench train [--steps 30] [--rounds 2] [--faces 200] [--json OUT]

Training: each preset runs `steps` steps per round on in-memory data (MNIST; 512 rendered face pairs), the
presets in turn, `rounds` times; img/s is the loop's own log column (images through the encoder per second:
a faces64 step with swap pairs sees 2 x batch images) without its first logged interval (warm-up).
FLOPs per image: one step (forward + backward) under torch.utils.flop_counter. On CPU the presets also run
under bf16 autocast (`--cpu-bf16 1`), their share taken of the bf16 matmul rate of the same rounds.
Data: faces.render of the same faces at 64x64 in this process (0 workers) and in a pool of 1 and 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import interleaved, machine, markdown_table, matmul_rate

REPO = Path(__file__).resolve().parent.parent
RUNS: dict[str, tuple[str, dict]] = {  # name -> (preset, TrainConfig overrides)
    "mnist": ("mnist", {}),
    "faces64 (swap pairs)": ("faces64", {}),
    "faces64 (no pairs)": ("faces64", {"swap_weight": 0.0}),
    "mnist, CPU bf16": ("mnist", {"cpu_bf16": True}),
    "faces64 (swap pairs), CPU bf16": ("faces64", {"cpu_bf16": True}),
}


def training_data(preset: str, faces: int = 512):
    """In-memory training data for a preset: MNIST (from the loader's default root, VCN_MNIST_ROOT), or
    `faces` rendered face pairs."""
    from model.config import PRESETS
    from model.train import face_pairs, mnist_data

    vcfg, tcfg = PRESETS[preset]
    if vcfg.dataset == "mnist":
        return mnist_data(None)
    return face_pairs(faces, tcfg.seed, vcfg.image_size)


def train_steps(preset: str, overrides: dict, data, steps: int, log_every: int, device: str = "cpu") -> list[float]:
    """Run the training loop for `steps` steps in a temporary folder; the img_per_s column of its log."""
    from model.config import PRESETS, replace
    from model.train import train

    vcfg, tcfg = PRESETS[preset]
    tcfg = replace(tcfg, steps=steps, **overrides)
    with tempfile.TemporaryDirectory() as out:
        train(vcfg, tcfg, out, device=device, data=data, log_every=log_every, progress=False,
              ckpt_every=10**9, sample_every=10**9)
        with open(Path(out) / "log.csv") as f:
            return [float(row["img_per_s"]) for row in csv.DictReader(f)]


def flops_per_image(preset: str, overrides: dict, data, device: str = "cpu") -> float:
    """Forward + backward FLOPs of one training step, per image the encoder sees."""
    from model.config import PRESETS, replace

    _, tcfg = PRESETS[preset]
    tcfg = replace(tcfg, **overrides)
    with FlopCounterMode(display=False) as counter:
        train_steps(preset, overrides, data, steps=1, log_every=1, device=device)
    pairs = tcfg.swap_weight > 0 and data.cf_images is not None
    return counter.get_total_flops() / (tcfg.batch_size * (2 if pairs else 1))


def training(steps: int = 30, rounds: int = 2, log_every: int = 5, device: str = "cpu") -> list[dict]:
    """img/s, FLOPs per image and matmul share per RUNS entry (on a GPU: against an 8192^2 fp32 matmul)."""
    from model.config import PRESETS

    runs = {name: run for name, run in RUNS.items() if device == "cpu" or not run[1].get("cpu_bf16")}
    data = {preset: training_data(preset) for preset in {p for p, _ in runs.values()}}
    flops = {name: flops_per_image(p, over, data[p], device) for name, (p, over) in runs.items()}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    mm: dict[bool, list[float]] = {False: [], True: []}  # fp32 and (CPU) bf16 matmul rates
    for _ in range(rounds):
        mm[False].append(matmul_rate(device=device))
        if device == "cpu":
            mm[True].append(matmul_rate(device=device, dtype=torch.bfloat16))
        for name, (preset, over) in runs.items():
            rates[name] += train_steps(preset, over, data[preset], steps, log_every, device)[1:]
    rows = []
    for name, (preset, over) in runs.items():
        batch = PRESETS[preset][1].batch_size
        img_s = statistics.median(rates[name])
        mm_rate = statistics.median(mm[bool(over.get("cpu_bf16"))])
        rows.append({"run": name, "batch": batch, "img_per_s": img_s, "gflop_per_img": flops[name] / 1e9,
                     "gflop_s": img_s * flops[name] / 1e9, "matmul_gflop_s": mm_rate / 1e9,
                     "share": img_s * flops[name] / mm_rate, "intervals": len(rates[name])})
    return rows


def rendering(n: int = 200, workers: tuple[int, ...] = (0, 1, 2), rounds: int = 3) -> dict[int, float]:
    """Rendered 64x64 faces per second with each number of workers (0 = in this process)."""
    from model.data import faces

    batch = faces.sample_faces(0, 0, n)
    cands = {w: (lambda w=w: faces.render(batch, size=64, workers=w)) for w in workers}
    times = interleaved(cands, rounds=rounds, warmup=1)
    return {w: n / statistics.median(t) for w, t in times.items()}


def run(steps: int = 30, rounds: int = 2, faces: int = 200, parts: tuple[str, ...] = ("training", "render"),
        json_out: str | None = None, device: str = "cpu") -> dict:
    """The chosen parts; prints markdown tables and returns the figures."""
    info = machine()
    if device != "cpu":
        info["gpu"] = torch.cuda.get_device_name()
    print(f"# train bench\n{json.dumps(info, indent=1)}", flush=True)
    rows = training(steps, rounds, device=device) if "training" in parts else []
    if rows:
        header = ["run", "batch", "img/s", "GFLOP/img (fwd+bwd)", "GFLOP/s", "matmul GFLOP/s (same dtype)", "share",
                  "intervals"]
        print(markdown_table(header, [[r["run"], r["batch"], r["img_per_s"], r["gflop_per_img"], r["gflop_s"],
                                       r["matmul_gflop_s"], f"{100 * r['share']:.0f} %", r["intervals"]]
                                      for r in rows]))
    render = rendering(faces) if "render" in parts else {}
    if render:
        print(markdown_table(["renderer workers", "faces/s (64x64)"], [[w, r] for w, r in render.items()]))
    result = {"machine": info, "loadavg_after": machine()["loadavg"], "training": rows, "render_faces_per_s": render}
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="vcn bench train", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30, help="training steps per preset and round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--faces", type=int, default=200, help="faces per rendering measurement")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    p.add_argument("--parts", nargs="+", default=["training", "render"], choices=["training", "render"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the training runs")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    run(a.steps, a.rounds, a.faces, tuple(a.parts), a.json, a.device)


if __name__ == "__main__":
    main()
