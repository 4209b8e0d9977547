"""What the first call at a new batch size costs on the GPU (cuDNN plans), against the next two calls
(on the GPU machine: python3 experiments/gpu_shapes_probe.py; the server's settings: no cudnn.benchmark)."""

import time

import torch

from model.checkpoint import load_vcn

model = load_vcn("weights/faces.safetensors", device="cuda")
torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True
x = torch.rand(16, 3, 64, 64, device="cuda")
for op in ("predict", "reconstruct"):
    fn = getattr(model, op)
    for b in (1, 2, 3, 5, 7, 11, 16):
        times = []
        for _ in range(3):
            torch.cuda.synchronize()
            start = time.perf_counter()
            fn(x[:b])
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
        print(op, b, " ".join(f"{v:.2f}" for v in times), flush=True)
