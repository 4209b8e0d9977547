"""Picking resamples by the reader's style ids, an inference-time probe (session 9; not shipped):

    python experiments/style_pick.py [K]

Styles stay short of 4 in 10 resamples because the decoder draws few of them. Would choosing which draws to
show help? For the first 30 test faces wearing Eyeglasses / Bangs / Wearing_Hat (vcn eval's style seeds), K
resamples each; the first 10 against 10 picked round-robin over the calibration reader's distinct style ids
(present ones first, in order of first appearance), both judged by the oracle: distinct styles and the share
still showing the attribute. Results: experiments/results/session9/style_pick.log.
"""
import sys

import torch

from model.checkpoint import load_vcn
from model.data import faces
from model.edit_metrics import STYLE_SEEDS
from model.evaluate import TEST_SEED
from model.oracle import load_oracle
from model.readings import to_input

torch.set_num_threads(2)
K = int(sys.argv[1]) if len(sys.argv) > 1 else 30
model = load_vcn("weights/faces.safetensors").eval()
oracle = load_oracle("weights/oracle.safetensors").eval()
reader = load_oracle("weights/reader.safetensors").eval()
test = faces.sample_faces(TEST_SEED, 0, 2000)
images = torch.as_tensor(faces.render(test, size=64, workers=2))
attrs = torch.as_tensor(test.attrs).bool()
names = list(model.cfg.capsule_names)
for k, name in enumerate(("Eyeglasses", "Bangs", "Wearing_Hat")):
    a, s_o, s_r = names.index(name), oracle.cfg.style_names.index(name), reader.cfg.style_names.index(name)
    idx = attrs[:, a].nonzero().squeeze(1)[:30]
    base, picked, presence_b, presence_p = [], [], [], []
    for j, i in enumerate(idx.tolist()):
        x = to_input(images[[i] * K], model.device)
        with torch.inference_mode():
            out = model.edit(x, resample=[name], seed=TEST_SEED + STYLE_SEEDS + 1000 * k + j)
            o, r = oracle.read(out), reader.read(out)
        po, so = o.attrs[:, a], o.styles[:, s_o]
        pr, sr = r.attrs[:, a], r.styles[:, s_r]
        base.append(len(torch.unique(so[:10][po[:10]])))
        presence_b.append(float(po[:10].float().mean()))
        # round robin over the reader's distinct styles (present only), in order of first appearance
        groups = {}
        for t in range(K):
            if pr[t]:
                groups.setdefault(int(sr[t]), []).append(t)
        order, lists = [], list(groups.values())
        while len(order) < 10 and any(lists):
            for group in lists:
                if group and len(order) < 10:
                    order.append(group.pop(0))
        order += [t for t in range(K) if t not in order][: 10 - len(order)]
        sel = torch.tensor(order)
        picked.append(len(torch.unique(so[sel][po[sel]])))
        presence_p.append(float(po[sel].float().mean()))
    print(name, "K", K, "first 10:", round(sum(base) / len(base), 2), round(sum(presence_b) / len(base), 3),
          "picked:", round(sum(picked) / len(picked), 2), round(sum(presence_p) / len(picked), 3), flush=True)
