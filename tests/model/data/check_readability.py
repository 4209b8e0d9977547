"""Manual check (not a pytest test): can a small CNN read every attribute and style from the renders?

    python tests/model/data/check_readability.py --train 60000 --test 10000 --workers 16 --device cuda

Renders two disjoint seeds, trains a plain conv net (40 sigmoid outputs + one softmax head per style
attribute, the style loss counted only where the attribute is present) and prints per-attribute test
accuracy and per-style-attribute accuracy. The renderer's design target: every attribute >= 97 %, the
styles of Eyeglasses, Bangs and Wearing_Hat >= 95 %. Takes a few minutes on one GPU with 16 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn
from torch.nn import functional as F

from model.data import faces


def net(outputs: int, width: int = 48) -> nn.Module:
    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    layers = [*block(3, w, 1), *block(w, w, 1), *block(w, 2 * w, 2), *block(2 * w, 2 * w, 1),
              *block(2 * w, 4 * w, 2), *block(4 * w, 4 * w, 1), *block(4 * w, 8 * w, 2), *block(8 * w, 8 * w, 2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * w * 16, outputs))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None)
    a = p.parse_args()

    t0 = time.time()
    sets = []
    for seed, n in ((1, a.train), (2, a.test)):
        batch = faces.sample_faces(seed, 0, n)
        images = torch.from_numpy(faces.render(batch, a.size, a.workers)).permute(0, 3, 1, 2).contiguous()
        sets.append((images, torch.from_numpy(batch.attrs).float(), torch.from_numpy(batch.styles)))
    print(f"rendered {a.train + a.test} faces in {time.time() - t0:.0f}s", flush=True)

    dev = torch.device(a.device)
    (x_tr, y_tr, s_tr), (x_te, y_te, s_te) = [[t.to(dev) for t in s] for s in sets]
    style_idx = [faces.ATTRIBUTES.index(s) for s in faces.STYLE_ATTRIBUTES]
    counts = [faces.STYLE_COUNTS[s] for s in faces.STYLE_ATTRIBUTES]
    model = net(40 + sum(counts)).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    bs = 256
    steps = a.epochs * (len(x_tr) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(dev.type, torch.bfloat16, enabled=dev.type == "cuda"):
            out = model(x.float().div(255).contiguous(memory_format=torch.channels_last)).float()
        return out[:, :40], list(out[:, 40:].split(counts, dim=1))

    model.train()
    for step in range(steps):
        rows = torch.randint(0, len(x_tr), (bs,), device=dev)
        logits, style_logits = forward(x_tr[rows])
        loss = F.binary_cross_entropy_with_logits(logits, y_tr[rows])
        for k, (ai, sl) in enumerate(zip(style_idx, style_logits, strict=True)):
            present = y_tr[rows, ai] == 1
            if present.any():
                loss = loss + 0.3 * F.cross_entropy(sl[present], s_tr[rows][present, k])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f}", flush=True)

    model.eval()
    preds, spreds = [], []
    with torch.no_grad():
        for i in range(0, len(x_te), 1000):
            logits, style_logits = forward(x_te[i:i + 1000])
            preds.append(logits > 0)
            spreds.append(torch.stack([sl.argmax(1) for sl in style_logits], 1))
    pred, spred = torch.cat(preds), torch.cat(spreds)
    acc = ((pred == (y_te == 1)).float().mean(0)).tolist()
    result = {"attributes": dict(zip(faces.ATTRIBUTES, acc, strict=True)), "styles": {}}
    for k, (name, ai) in enumerate(zip(faces.STYLE_ATTRIBUTES, style_idx, strict=True)):
        present = y_te[:, ai] == 1
        result["styles"][name] = (spred[present, k] == s_te[present, k]).float().mean().item()
    for name, v in sorted(result["attributes"].items(), key=lambda kv: kv[1]):
        print(f"{name:22s} {100 * v:6.2f}")
    print("styles:")
    for name, v in sorted(result["styles"].items(), key=lambda kv: kv[1]):
        print(f"{name:22s} {100 * v:6.2f}")
    wrong = (pred != (y_te == 1)).float()
    for name, v in result["attributes"].items():
        if v < 0.99:      # which other attributes are present when this one is misread
            i = faces.ATTRIBUTES.index(name)
            rates = [(wrong[y_te[:, j] == 1, i].mean().item(), other) for j, other in enumerate(faces.ATTRIBUTES)
                     if j != i and (y_te[:, j] == 1).sum() >= 100]
            worst = ", ".join(f"{o} {100 * r:.1f}%" for r, o in sorted(rates, reverse=True)[:4])
            print(f"{name}: errors when present -> {worst}")
    print(f"total {time.time() - t0:.0f}s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
