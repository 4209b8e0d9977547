"""Probe (session 13): pasted style resamples and style swaps at lower blend thresholds (cfg.edit_blend), judged by
the oracle on vcn eval's style faces. Usage: python experiments/restyle_blend.py"""
import dataclasses
import time

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import style_metrics, style_swap_metrics
from model.oracle import load_oracle

torch.set_num_threads(2)
m = load_vcn("weights/faces.safetensors").eval(); o = load_oracle("weights/oracle.safetensors").eval()
b = faces.sample_faces(10_000, 0, 2000); imgs = torch.as_tensor(faces.render(b, size=64)); attrs = torch.as_tensor(b.attrs).bool()
dev = torch.device("cpu"); S = tuple(faces.STYLE_ATTRIBUTES)
base = m.cfg
for blend in (0.05, 0.03, 0.02, 0.01):
    m.cfg = dataclasses.replace(base, edit_blend=blend)
    t = time.time()
    r = style_metrics(m, o, imgs, attrs, S, 30, 10_000, 100, dev, paste=True)
    s = style_swap_metrics(m, o, imgs, attrs, S, 30, 100, dev, paste=True)
    d, p, k = r["style_diversity"], r["style_presence"], r["style_input_kept"]
    tr = s["swap_style_transfer"]
    mean = lambda v: sum(v.values()) / len(v)
    print(f"blend {blend}: styles E/B/H {d['Eyeglasses']:.2f}/{d['Bangs']:.2f}/{d['Wearing_Hat']:.2f} mean17 {mean(d):.2f} present {mean(p):.3f} input kept {mean(k):.4f} | swap transfer mean {mean(tr):.3f} E/B/H {tr['Eyeglasses']:.2f}/{tr['Bangs']:.2f}/{tr['Wearing_Hat']:.2f} ({time.time()-t:.0f}s)", flush=True)
