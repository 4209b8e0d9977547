"""The CVAE baseline: the VCN's operations with one global latent, seeded, trainable, saved."""

import math

import pytest
import torch

from model.baseline import CVAE, CVAEConfig, cvae_losses, load_baseline, save_baseline
from model.checkpoint import CheckpointError, save_vcn
from model.config import VCNConfig
from model.vcn import VCN

SIZE = 16


@pytest.fixture
def model() -> CVAE:
    return CVAE(CVAEConfig(image_size=SIZE, width=4, z_dim=6)).eval()


def test_operation_shapes(model):
    x = torch.rand(3, 3, SIZE, SIZE)
    p = model.predict(x)
    assert p.present.shape == (3, 40) and p.present.dtype == torch.bool
    assert ((0 <= p.score) & (p.score <= 1)).all()
    assert p.kl_present.isnan().all() and p.kl_absent.isnan().all()
    for out in (model.reconstruct(x), model.edit(x, {"Smiling": True}), model.edit(x, resample=["Bangs"])):
        assert out.shape == (3, 3, SIZE, SIZE) and 0 <= out.min() and out.max() <= 1
    assert model.resample(x, "Eyeglasses", 5, seed=1).shape == (5, 3, SIZE, SIZE)
    assert model.sample({"Male": True}, n=4, seed=0).shape == (4, 3, SIZE, SIZE)
    assert model.sample_states(torch.ones(2, 40), seed=0).shape == (2, 3, SIZE, SIZE)
    with pytest.raises(KeyError, match="unknown attribute"):
        model.edit(x, {"Wings": True})


def test_edit_keeps_z_resample_redraws_it(model):
    x = torch.rand(2, 3, SIZE, SIZE)
    logits, z, _ = model.encode(x)
    states = (logits > 0).float()
    states[:, model.index("Smiling")] = 1.0
    assert torch.allclose(model.edit(x, {"Smiling": True}), model.decode(states, z), atol=1e-6)
    # Setting what the classifier already reads changes nothing: the reconstruction.
    current = dict(zip(model.cfg.capsule_names, (logits[0] > 0).tolist(), strict=True))
    assert torch.allclose(model.edit(x[:1], current), model.reconstruct(x[:1]), atol=1e-6)
    # One global z: resampling "Bangs" redraws everything, the same for every name given the seed.
    a, b = model.resample(x, "Bangs", 4, seed=3), model.resample(x, "Male", 4, seed=3)
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])


def test_edit_switches_off_exclusive_partners_as_the_vcn_does():
    model = CVAE(CVAEConfig(image_size=SIZE, width=4, z_dim=6, exclusive=(("Bald", "Bangs"),))).eval()
    x = torch.rand(2, 3, SIZE, SIZE)
    logits, z, _ = model.encode(x)
    states = (logits > 0).float()
    states[:, model.index("Bald")], states[:, model.index("Bangs")] = 1.0, 0.0
    assert torch.allclose(model.edit(x, {"Bald": True}), model.decode(states, z), atol=1e-6)
    states[:, model.index("Bangs")] = 1.0  # named in the request: kept as asked
    assert torch.allclose(model.edit(x, {"Bald": True, "Bangs": True}), model.decode(states, z), atol=1e-6)


def test_edit_strength_extrapolates_the_attribute_vector(model):
    x = torch.rand(2, 3, SIZE, SIZE)
    logits, z, _ = model.encode(x)
    before = (logits > 0).float()
    after = before.clone()
    after[:, model.index("Smiling")] = 1.0
    expected = model.decode(before + 2.0 * (after - before), z)
    assert torch.allclose(model.edit(x, {"Smiling": True}, strength=2.0), expected, atol=1e-6)


def test_seeds_reproducible(model):
    x = torch.rand(2, 3, SIZE, SIZE)
    assert torch.equal(model.resample(x, "Bangs", 3, seed=7), model.resample(x, "Bangs", 3, seed=7))
    assert not torch.equal(model.resample(x, "Bangs", 3, seed=7), model.resample(x, "Bangs", 3, seed=8))
    assert torch.equal(model.sample(n=3, seed=5), model.sample(n=3, seed=5))
    states = torch.randint(0, 2, (3, 40))
    assert torch.equal(model.sample_states(states, seed=2), model.sample_states(states, seed=2))


def test_multiclass_digits():
    m = CVAE(CVAEConfig(arch="mnist", kind="multiclass", capsule_names=tuple("0123456789"), image_size=28,
                        channels=1, z_dim=4, width=2, dataset="mnist")).eval()
    x = torch.rand(4, 1, 28, 28)
    p = m.predict(x)
    assert p.present.shape == (4, 10) and (p.present.sum(1) == 1).all()
    assert torch.allclose(p.score.sum(1), torch.ones(4))
    assert m.edit(x, {"7": True}).shape == (4, 1, 28, 28)
    assert m.sample_states(torch.arange(10), seed=0).shape == (10, 1, 28, 28)
    with pytest.raises(ValueError):
        m.edit(x, {"7": False})
    losses = cvae_losses(m, x, torch.tensor([1, 2, 3, 4]))
    assert math.isfinite(float(losses["total"].detach()))


def test_losses_fall_on_a_tiny_batch():
    torch.manual_seed(0)
    m = CVAE(CVAEConfig(image_size=SIZE, width=4, z_dim=6)).train()
    x = torch.rand(8, 3, SIZE, SIZE)
    attrs = torch.randint(0, 2, (8, 40)).float()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(30):
        losses = cvae_losses(m, x, attrs, recon_weight=1.0, kl_weight=1.0, generator=g)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
    assert {"recon", "kl", "cls", "total"} <= set(losses)
    assert float(losses["total"].detach()) < first["total"]
    assert float(losses["cls"].detach()) < first["cls"]


def test_save_load_round_trip(tmp_path, model):
    path = save_baseline(tmp_path / "b.safetensors", model, metrics={"steps": 3})
    back = load_baseline(path)
    assert back.cfg == model.cfg and back.metadata["role"] == "baseline"
    x = torch.rand(2, 3, SIZE, SIZE)
    assert torch.equal(back.reconstruct(x), model.reconstruct(x))
    vcn_path = save_vcn(tmp_path / "v.safetensors", VCN(VCNConfig(image_size=SIZE, width=4)))
    with pytest.raises(CheckpointError, match="baseline"):
        load_baseline(vcn_path)


def test_a_half_file_is_half_the_size_and_loads_as_float32(tmp_path, model):
    """The shipped baseline is stored in float16, as the VCN files are: loading casts back, weights round once."""
    full = save_baseline(tmp_path / "full.safetensors", model)
    half = save_baseline(tmp_path / "half.safetensors", model, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    back = load_baseline(half)
    for k, v in back.state_dict().items():
        want = model.state_dict()[k]
        assert v.dtype == want.dtype, k
        assert torch.equal(v, want.half().to(want.dtype) if want.is_floating_point() else want), k


def test_train_baseline_smoke(tmp_path):
    from model.baseline import train_baseline

    model = train_baseline(CVAEConfig(image_size=SIZE, width=4, z_dim=4), steps=2, batch=4, n_train=16,
                           device="cpu", workers=0, out_path=tmp_path / "b.safetensors", log=None)
    back = load_baseline(tmp_path / "b.safetensors")
    assert back.metadata["metrics"]["steps"] == 2 and not model.training
    assert len(back.cfg.attribute_rates) == 40  # rates of its training faces, for `sample`
