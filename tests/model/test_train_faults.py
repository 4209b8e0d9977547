"""Training under faults: a write that fails half-way, a SIGKILLed run, and loading that never unpickles.

The kill test runs training in a subprocess (a helper script written into tmp_path: `vcn train` cannot
take tiny custom data) and kills it with SIGKILL once it has checkpointed and gone past the checkpoint."""

import csv
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import model.checkpoint as ckpt
from model.checkpoint import load_vcn, read_checkpoint
from model.config import TrainConfig, VCNConfig
from model.train import TensorData, load_train_state, train
from model.vcn import VCN

REPO = Path(__file__).resolve().parents[2]
ML = VCNConfig(arch="compact", capsule_names=("a", "b", "c"), image_size=16, width=8, capsule_dim=4, context_dim=2)
QUIET = dict(device="cpu", progress=False)


def tiny_data(n: int = 8) -> TensorData:
    g = torch.Generator().manual_seed(0)
    return TensorData(torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g),
                      torch.randint(0, 2, (n, 3), dtype=torch.uint8, generator=g))


def run(out: Path, steps: int, resume: bool = False) -> None:
    train(ML, TrainConfig(steps=steps, batch_size=4), out, data=tiny_data(), ckpt_every=5, log_every=1,
          resume=resume, **QUIET)


def log_steps(out: Path) -> list[int]:
    with open(out / "log.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


# ----------------------------------------------------------------------------------------------------
# A write that fails half-way


class _HalfWriter:
    """Wraps the checkpoint's temporary file: writes half of what it is given, then fails like a full disk."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        return False

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("fault", ["write", "replace"])
def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, fault):
    run(tmp_path, 5)
    before = {name: (tmp_path / name).read_bytes() for name in ("last.safetensors", "model.safetensors")}

    if fault == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(ckpt.os, "fdopen", lambda fd, *a, **k: _HalfWriter(real_fdopen(fd, *a, **k)))
    else:
        def failing_replace(src, dst):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(ckpt.os, "replace", failing_replace)
    with pytest.raises(OSError):
        run(tmp_path, 10, resume=True)  # steps 6..10 run, then the step-10 checkpoint fails
    monkeypatch.undo()

    after = {name: (tmp_path / name).read_bytes() for name in before}
    assert after == before
    assert read_checkpoint(tmp_path / "last.safetensors", role="train_state")[1]["step"] == 5
    assert load_vcn(tmp_path / "model.safetensors").metadata["metrics"]["step"] == 5
    assert not list(tmp_path.glob(".*.tmp")), "the half-written temporary file must be removed"
    assert log_steps(tmp_path) == list(range(1, 11))
    # And training picks up from the intact checkpoint.
    run(tmp_path, 7, resume=True)
    assert log_steps(tmp_path) == [1, 2, 3, 4, 5, 6, 7]  # the rows of the lost steps 6..10 are gone


# ----------------------------------------------------------------------------------------------------
# SIGKILL


HELPER = """
import sys

import torch

from model.config import TrainConfig, VCNConfig
from model.train import TensorData, train

torch.set_num_threads(1)
out, steps = sys.argv[1], int(sys.argv[2])
cfg = VCNConfig(arch="compact", capsule_names=("a", "b", "c"), image_size=16, width=8, capsule_dim=4,
                context_dim=2)
g = torch.Generator().manual_seed(0)
data = TensorData(torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=g),
                  torch.randint(0, 2, (8, 3), dtype=torch.uint8, generator=g))
train(cfg, TrainConfig(steps=steps, batch_size=4), out, device="cpu", data=data, ckpt_every=5, log_every=1,
      progress=False, resume=True)
print("done")
"""


def _helper(tmp_path: Path, out: Path, steps: int) -> subprocess.Popen:
    script = tmp_path / "train_helper.py"
    script.write_text(textwrap.dedent(HELPER))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(script), str(out), str(steps)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_loses_only_the_steps_since_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = _helper(tmp_path, out, 1_000_000)
    try:
        deadline = time.monotonic() + 60
        # Kill once a checkpoint exists and training has gone past it (steps that will be lost).
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            if (out / "last.safetensors").exists() and (out / "log.csv").exists():
                steps = log_steps(out)
                if steps and steps[-1] % 5 >= 2:
                    break
            time.sleep(0.005)
        else:
            pytest.fail("the helper never checkpointed")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # Whatever the kill interrupted, the files under the real names are whole.
    reached = log_steps(out)[-1]
    saved = read_checkpoint(out / "last.safetensors", role="train_state")[1]["step"]
    assert saved % 5 == 0 and 5 <= saved <= reached
    if (out / "model.safetensors").exists():  # written right after last.safetensors
        assert load_vcn(out / "model.safetensors").metadata["metrics"]["step"] in (saved, saved - 5)
    model = VCN(ML)
    opt = torch.optim.Adam(model.parameters())
    gens = {"data": torch.Generator(), "noise": torch.Generator()}
    assert load_train_state(out / "last.safetensors", model, opt, gens) == saved

    # Resumed, it starts at the checkpoint's step: at most the steps since the checkpoint are redone.
    run(out, saved + 3, resume=True)  # the helper's very run, in this process
    assert log_steps(out) == list(range(1, saved + 4))  # each step logged once: redone steps replace theirs
    assert reached - saved <= 5  # what was lost: at most ckpt_every steps
    assert read_checkpoint(out / "last.safetensors")[1]["step"] == saved + 3
    assert load_vcn(out / "model.safetensors").metadata["metrics"]["step"] == saved + 3


# ----------------------------------------------------------------------------------------------------
# No pickle anywhere on the load path


def test_loading_never_unpickles(tmp_path, monkeypatch):
    run(tmp_path, 5)

    def refuse(*_a, **_k):
        raise AssertionError("a checkpoint load went through pickle")

    for mod, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load"),
                      (torch.serialization, "load")]:
        monkeypatch.setattr(mod, name, refuse)

    model = load_vcn(tmp_path / "model.safetensors")
    assert model.metadata["metrics"]["step"] == 5
    run(tmp_path, 7, resume=True)  # the resumable state (optimiser, RNG) loads without pickle too
    assert log_steps(tmp_path) == list(range(1, 8))
