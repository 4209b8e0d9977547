"""What the class-evidence rule costs a digit predict (session 10): the shipped rule against the smallest KL, side
by side. Usage: python experiments/mnist_class_evidence_time.py OLD NEW."""
import sys

import torch

from bench.common import interleaved, percentile
from model.checkpoint import load_vcn

torch.set_num_threads(2)
old, new = load_vcn(sys.argv[1]), load_vcn(sys.argv[2])
x1 = torch.rand(1, 1, 28, 28)
x256 = torch.rand(256, 1, 28, 28)
fns = {"smallest KL, batch 1": lambda: old.predict(x1), "class evidence, batch 1": lambda: new.predict(x1),
       "smallest KL, batch 256": lambda: old.predict(x256), "class evidence, batch 256": lambda: new.predict(x256)}
t = interleaved(fns, rounds=10, per_round=10)
for k, v in t.items():
    print(f"{k}: p50 {percentile(v, 50) * 1e3:.2f} ms")
