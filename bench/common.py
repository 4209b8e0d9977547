"""Shared helpers: the machine, a reference matmul rate, timing loops and percentiles.

The build machines are shared and noisy, so every benchmark measures its candidates side by side in rounds
(A B C, A B C, ...) and reports medians; ratios between candidates measured this way are the figures to trust.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable

import torch


def machine() -> dict:
    """CPU model, cores, torch version and threads, load average and the busiest other processes."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "loadavg": load(), "busy": busy_processes()}


def load() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def busy_processes(n: int = 5, min_cpu: float = 10.0) -> list[str]:
    """The other processes using at least min_cpu % of a core (per ps), as 'pcpu% command' lines."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.splitlines():
        pid, pcpu, args = line.split(None, 2)
        if int(pid) != os.getpid() and float(pcpu) >= min_cpu:
            rows.append(f"{float(pcpu):.0f}% {args[:100]}")
    return rows[:n]


def sync() -> None:
    """Wait for queued GPU work, if this process has touched CUDA (GPU calls return before they finish)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds for each of n calls of fn (on a GPU, until its work is done)."""
    out = []
    for _ in range(n):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int, per_round: int = 1,
                warmup: int = 2) -> dict[str, list[float]]:
    """Time every candidate in turn, `rounds` times, `per_round` calls each: {name: seconds per call}."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            times[name] += time_calls(fn, per_round)
    return times


def matmul_fn(n: int = 2048, dtype: torch.dtype = torch.float32,
              device: str = "cpu") -> tuple[Callable[[], object], float]:
    """A square n x n matmul and its FLOPs (2 n^3): the machine's reference rate."""
    a, b = torch.randn(n, n).to(device, dtype), torch.randn(n, n).to(device, dtype)
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def reference_matmul(device: str = "cpu", dtype: torch.dtype = torch.float32) -> tuple[Callable[[], object], float]:
    """The reference matmul of a device: 2048^2 on CPU, 8192^2 on a GPU (smaller ones do not fill it)."""
    return matmul_fn(2048 if device == "cpu" else 8192, dtype, device)


def matmul_rate(n: int | None = None, reps: int = 5, device: str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """Median FLOP/s of an n x n matmul in dtype (default: fp32 at the device's reference size)."""
    fn, flops = matmul_fn(n, dtype, device) if n else reference_matmul(device, dtype)
    fn()
    return flops / percentile(time_calls(fn, reps), 50)


def matmul_rates(threads: tuple[int, ...] | None = None, rounds: int = 5, n: int = 2048) -> dict[int, float]:
    """Median fp32 matmul FLOP/s at each torch thread count (default: 1 and one per core), interleaved."""
    fn, flops = matmul_fn(n)
    before = torch.get_num_threads()

    def at(t: int) -> Callable[[], object]:
        def call() -> object:
            torch.set_num_threads(t)
            return fn()

        return call

    try:
        times = interleaved({t: at(t) for t in threads or sorted({1, os.cpu_count() or 1})}, rounds=rounds)
    finally:
        torch.set_num_threads(before)
    return {t: flops / percentile(ts, 50) for t, ts in times.items()}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table; floats printed with 3 significant digits (or as integers when large)."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
