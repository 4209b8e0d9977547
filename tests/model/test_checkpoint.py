"""model/checkpoint.py: bit-exact round trips, atomic writes, one-line errors, no pickle anywhere."""

import dataclasses
import json
import pickle
import random

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from model.checkpoint import (
    CheckpointError,
    flatten_optimizer,
    load_vcn,
    read_checkpoint,
    save_checkpoint,
    save_vcn,
    unflatten_optimizer,
)
from model.config import DIGITS, TrainConfig, VCNConfig
from model.vcn import VCN

CFG = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b", "c"), width=8, capsule_dim=4,
                context_dim=3, attribute_rates=(0.2, 0.5, 0.9), mask_input=True)
MNIST = VCNConfig(arch="mnist", kind="multiclass", capsule_names=DIGITS, image_size=28, channels=1,
                  capsule_dim=4, context_dim=0, width=4, dataset="mnist")


def _trained_model(cfg: VCNConfig = CFG, seed: int = 0) -> VCN:
    """A model whose BatchNorm statistics are not the defaults (one train-mode pass)."""
    torch.manual_seed(seed)
    model = VCN(cfg)
    with torch.no_grad():
        model(torch.rand(4, cfg.channels, cfg.image_size, cfg.image_size))
    return model.eval()


def _images(cfg: VCNConfig = CFG, n: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.rand((n, cfg.channels, cfg.image_size, cfg.image_size), generator=g)


# ----------------------------------------------------------------------------------------------------
# VCN round trips


def test_save_load_round_trip_bit_exact(tmp_path):
    model = _trained_model()
    recipe = TrainConfig(steps=123, margin=32.0, swap_weight=1.0)
    path = save_vcn(tmp_path / "sub" / "m.safetensors", model, train_config=recipe, metrics={"acc": 0.75})
    assert path.is_file()
    loaded = load_vcn(path)
    assert not loaded.training
    assert loaded.cfg == CFG
    assert loaded.cfg.capsule_names == ("a", "b", "c") and isinstance(loaded.cfg.capsule_names, tuple)
    assert loaded.cfg.attribute_rates == (0.2, 0.5, 0.9) and loaded.cfg.mask_input
    own, back = model.state_dict(), loaded.state_dict()
    assert own.keys() == back.keys()
    for k in own:
        assert back[k].dtype == own[k].dtype, k
        assert torch.equal(back[k], own[k]), k
    x = _images()
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    assert torch.equal(loaded.edit(x, set={"a": True}, seed=3), model.edit(x, set={"a": True}, seed=3))
    assert TrainConfig.from_json(json.dumps(loaded.metadata["train_config"])) == recipe
    assert loaded.metadata["metrics"] == {"acc": 0.75}
    assert loaded.metadata["role"] == "vcn" and loaded.metadata["format"] == "vcn"


def test_multiclass_config_survives(tmp_path):
    model = _trained_model(MNIST)
    loaded = load_vcn(save_vcn(tmp_path / "digits.safetensors", model))
    assert loaded.cfg == MNIST
    assert (loaded.cfg.kind, loaded.cfg.image_size, loaded.cfg.channels) == ("multiclass", 28, 1)
    assert loaded.cfg.capsule_names == DIGITS
    x = _images(MNIST)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))


def test_float16_save_loads_as_float32_close(tmp_path):
    model = _trained_model()
    full = save_vcn(tmp_path / "full.safetensors", model)
    half = save_vcn(tmp_path / "half.safetensors", model, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_vcn(half)
    own = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert v.dtype == own[k].dtype, k  # float32 again (num_batches_tracked stays int64)
        torch.testing.assert_close(v, own[k], rtol=1e-3, atol=1e-4)
    x = _images()
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=1e-2)


def test_read_checkpoint_metadata_types_and_role(tmp_path):
    path = save_checkpoint(tmp_path / "t.safetensors", {"w": torch.arange(6.0).view(2, 3)}, role="thing",
                           n=5, ratio=0.5, nested={"a": [1, 2]}, name="plain text", tag="42", flag="true")
    tensors, meta = read_checkpoint(path, role="thing")
    assert torch.equal(tensors["w"], torch.arange(6.0).view(2, 3))
    assert meta["n"] == 5 and meta["ratio"] == 0.5 and meta["nested"] == {"a": [1, 2]}
    assert meta["name"] == "plain text" and meta["role"] == "thing" and meta["format"] == "vcn"
    assert meta["tag"] == "42" and meta["flag"] == "true"  # strings stay strings, even number-like ones
    with pytest.raises(CheckpointError, match="expected 'vcn'"):
        read_checkpoint(path, role="vcn")


# ----------------------------------------------------------------------------------------------------
# Atomic writes


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fail_at", ["replace", "fsync"])
def test_failed_write_keeps_previous_file_and_no_temp(tmp_path, monkeypatch, fail_at):
    path = save_vcn(tmp_path / "m.safetensors", _trained_model(seed=0))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(f"os.{fail_at}", boom)
    with pytest.raises(OSError, match="disk full"):
        save_vcn(path, _trained_model(seed=1))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["m.safetensors"]
    load_vcn(path)  # still loads


def test_overwrite_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.safetensors"
    save_vcn(path, _trained_model(seed=0))
    other = _trained_model(seed=1)
    save_vcn(path, other)
    assert _files(tmp_path) == ["m.safetensors"]
    assert torch.equal(load_vcn(path).encoder.head.weight, other.encoder.head.weight)


# ----------------------------------------------------------------------------------------------------
# Unusable files -> CheckpointError, one line, naming the file


def _assert_checkpoint_error(path, match=None):
    with pytest.raises(CheckpointError) as info:
        load_vcn(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    if match is not None:
        assert match in message, message


def test_missing_file(tmp_path):
    _assert_checkpoint_error(tmp_path / "nope.safetensors", "no such")
    _assert_checkpoint_error(tmp_path, "no such")  # a folder is not a checkpoint either


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.01, 0.5, 0.99])
def test_truncated_file(tmp_path, fraction):
    good = save_vcn(tmp_path / "good.safetensors", _trained_model()).read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good[: int(len(good) * fraction)])
    _assert_checkpoint_error(bad, "not a valid safetensors file")


@pytest.mark.parametrize("cut", [4, 8, 9, 200])
def test_truncated_header(tmp_path, cut):
    good = save_vcn(tmp_path / "good.safetensors", _trained_model()).read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good[:cut])
    _assert_checkpoint_error(bad, "not a valid safetensors file")


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(tmp_path, seed):
    rng = random.Random(seed)
    bad = tmp_path / "noise.safetensors"
    bad.write_bytes(rng.randbytes(4096))
    _assert_checkpoint_error(bad, "not a valid safetensors file")
    # a plausible header length followed by garbage
    bad.write_bytes((64).to_bytes(8, "little") + rng.randbytes(4096))
    _assert_checkpoint_error(bad, "not a valid safetensors file")


def test_pickle_file(tmp_path):
    bad = tmp_path / "model.pt"
    torch.save(_trained_model().state_dict(), bad)
    _assert_checkpoint_error(bad, "not a valid safetensors file")


def test_safetensors_without_vcn_metadata(tmp_path):
    bad = tmp_path / "foreign.safetensors"
    save_file(_trained_model().state_dict(), str(bad))
    _assert_checkpoint_error(bad, "not a vcn checkpoint")
    save_file(_trained_model().state_dict(), str(bad), metadata={"format": "pt"})
    _assert_checkpoint_error(bad, "not a vcn checkpoint")


def test_wrong_role(tmp_path):
    bad = save_checkpoint(tmp_path / "state.safetensors", _trained_model().state_dict(), role="train_state",
                          config=json.loads(CFG.to_json()))
    _assert_checkpoint_error(bad, "'train_state'")


@pytest.mark.parametrize("config", [None, "not json", ["a", "list"], {"arch": "nope"}, {"kind": "both"},
                                    {"arch": "celeba256", "image_size": 256, "context_dim": 8}])
def test_bad_config(tmp_path, config):
    meta = {} if config is None else {"config": config}
    bad = save_checkpoint(tmp_path / "m.safetensors", _trained_model().state_dict(), role="vcn", **meta)
    _assert_checkpoint_error(bad, "config")


def test_weights_that_do_not_fit_the_config(tmp_path):
    cfg_json = json.loads(CFG.to_json())
    other = _trained_model(dataclasses.replace(CFG, capsule_names=("a", "b")))
    bad = save_checkpoint(tmp_path / "shape.safetensors", other.state_dict(), role="vcn", config=cfg_json)
    _assert_checkpoint_error(bad, "wrong shape")

    state = _trained_model().state_dict()
    dropped = {k: v for k, v in state.items() if k != "encoder.head.bias"}
    bad = save_checkpoint(tmp_path / "missing.safetensors", dropped, role="vcn", config=cfg_json)
    _assert_checkpoint_error(bad, "encoder.head.bias")

    extra = {**state, "encoder.extra": torch.zeros(2)}
    bad = save_checkpoint(tmp_path / "extra.safetensors", extra, role="vcn", config=cfg_json)
    _assert_checkpoint_error(bad, "encoder.extra")


def test_load_never_unpickles(tmp_path, monkeypatch):
    model = _trained_model()
    path = save_vcn(tmp_path / "m.safetensors", model)

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = load_vcn(path)
    x = _images()
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))


# ----------------------------------------------------------------------------------------------------
# Optimiser state without pickle


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))


def _steps(net: nn.Module, opt: torch.optim.Optimizer, start: int, n: int) -> None:
    for i in range(start, start + n):
        g = torch.Generator().manual_seed(i)
        x, y = torch.randn(16, 5, generator=g), torch.randn(16, 2, generator=g)
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()


@pytest.mark.parametrize("prefix", ["opt", "optim/generator"])
def test_optimizer_round_trip_resumes_identically(tmp_path, prefix):
    net = _net(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-4)
    _steps(net, opt, 0, 3)
    # a second optimiser (same parameter ids, a prefix that starts alike) must not leak into the first
    net_d = _net(1)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=5e-3)
    _steps(net_d, opt_d, 10, 2)
    opt_t, opt_groups = flatten_optimizer(opt, prefix)
    d_t, d_groups = flatten_optimizer(opt_d, prefix + "_d")
    assert opt_t and d_t
    path = save_checkpoint(tmp_path / "state.safetensors", {**net.state_dict(), **opt_t, **d_t},
                           role="train_state", opt=opt_groups, d_opt=d_groups)

    tensors, meta = read_checkpoint(path, role="train_state")
    resumed = _net(99)
    resumed.load_state_dict({k: v for k, v in tensors.items() if "/" not in k})
    opt2 = torch.optim.Adam(resumed.parameters(), lr=123.0)
    unflatten_optimizer(opt2, tensors, prefix, meta["opt"])

    a, b = opt.state_dict(), opt2.state_dict()
    assert json.dumps(a["param_groups"]) == json.dumps(b["param_groups"])
    assert a["state"].keys() == b["state"].keys() and len(a["state"]) == 4
    for pid, st in a["state"].items():
        assert st.keys() == b["state"][pid].keys()
        for key, value in st.items():
            assert torch.equal(b["state"][pid][key], value), (pid, key)

    _steps(net, opt, 3, 4)
    _steps(resumed, opt2, 3, 4)
    for p, q in zip(net.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)
