"""How long the server's warm-up (app/batching.py Engine.warm_up) takes on this machine's GPU, and what a
first call at a batch size costs after it (on the GPU machine: python3 experiments/gpu_warmup_probe.py)."""

import asyncio
import time

import torch

from app.batching import Engine
from app.metrics import Metrics
from model.checkpoint import load_vcn


async def main() -> None:
    model = load_vcn("weights/faces.safetensors", device="cuda")
    engine = Engine(model, metrics=Metrics(), max_in_flight=64, batch_max_size=16, batch_max_wait_ms=0)
    await engine.start()
    print(f"warm-up of batch sizes 1-16: {await engine.warm_up():.2f} s", flush=True)
    x = torch.rand(16, 3, 64, 64, device="cuda")
    for b in (1, 5, 13):
        torch.cuda.synchronize()
        t = time.perf_counter()
        model.predict(x[:b])
        torch.cuda.synchronize()
        print(f"predict at batch {b} after the warm-up: {(time.perf_counter() - t) * 1e3:.2f} ms", flush=True)
    await engine.stop()


asyncio.run(main())
