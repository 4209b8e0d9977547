"""Probe (session 26): new faces picked from several prior draws by the embedded reader.

A prior sample is one draw of every capsule and the context (VCN.sample_states); vcn eval reads 2,000 of them,
one per test-set attribute vector, with the oracle. Here each vector gets K draws; the model's embedded verifier
(the calibration reader, never the oracle) reads them all and the draw it reads with the most attributes as
asked (ties: the larger mean log-probability of the asked states; model/verify.py's states_agreement, which
`vcn verify --sample-tries K` puts in the file) is the sample. Try 0 is vcn eval's own draw. The oracle then judges the
chosen ones as vcn eval does (share of attributes as asked, share with all 40, Fréchet distance of oracle
features to the rendered test faces).

    PYTHONPATH=. python experiments/verified_samples.py WEIGHTS [--tries 1 2 4 8] [--n 2000]
"""

from __future__ import annotations

import argparse
import time

import torch

from model.data import faces
from model.evaluate import SAMPLE_SEEDS, TEST_SEED, load_model
from model.metrics import frechet_distance
from model.oracle import load_oracle
from model.readings import read_map
from model.verify import states_agreement


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("--tries", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--batch", type=int, default=100)
    a = p.parse_args()
    torch.manual_seed(0)
    model = load_model(a.weights)
    oracle = load_oracle("weights/oracle.safetensors", "cpu")
    assert model.verifier is not None, "the model has no embedded verifier (vcn verify)"
    batch = faces.sample_faces(TEST_SEED, 0, a.n)
    states = torch.as_tensor(batch.attrs).float()
    images = torch.as_tensor(faces.render(batch, size=model.cfg.image_size))
    _, real_feats = read_map(oracle, lambda x, i: x, images, a.batch, torch.device("cpu"), features=True)
    kmax = max(a.tries)
    t0 = time.time()
    best = {k: [] for k in a.tries}
    for i in range(0, a.n, a.batch):
        s = states[i:i + a.batch]
        draws, scores = [], []
        for t in range(kmax):
            # try 0 is exactly vcn eval's sample; the others are further seeds
            out = model.sample_states(s, seed=TEST_SEED + SAMPLE_SEEDS + i // a.batch + 1_000_003 * t)
            draws.append(out)
            scores.append(states_agreement(model.verifier, out, s))
        draws_t, scores_t = torch.stack(draws), torch.stack(scores)  # (K, B, ...), (K, B)
        for k in a.tries:
            pick = scores_t[:k].argmax(0)
            best[k].append(draws_t[pick, torch.arange(len(s))])
    print(f"{kmax} draws of {a.n} in {time.time() - t0:.0f}s ({(time.time() - t0) / a.n / kmax * 1000:.1f} ms a draw)")
    for k in a.tries:
        reads, feats = read_map(oracle, lambda x, i: x, torch.cat(best[k]), a.batch, torch.device("cpu"), features=True)
        asked = reads.attrs == states.bool()
        fd = frechet_distance(feats, real_feats)
        print(f"tries {k}: as asked {asked.float().mean():.4f}, all 40 {asked.all(1).float().mean():.4f}, FD {fd:.1f}")


if __name__ == "__main__":
    main()
