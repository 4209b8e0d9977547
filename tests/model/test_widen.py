"""model/widen.py: a widened generator draws what the old one drew, and its new channels can learn."""

import pytest
import torch
from torch import nn
from vcn_inputs import MC, ML, tiny_model

from model.checkpoint import load_vcn, save_vcn
from model.widen import widen_generator


def _inputs(cfg, n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    caps = torch.randn(n, cfg.num_capsules, cfg.capsule_dim, generator=g)
    mask = (torch.rand(n, cfg.num_capsules, generator=g) > 0.5).float()
    return caps, mask, torch.randn(n, cfg.context_dim, generator=g)


def _trained_like(model):
    """Non-trivial BN statistics, so the test would see them lost or misplaced."""
    with torch.no_grad():
        for m in model.generator.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("training", [False, True])
def test_widened_generator_draws_the_same_images(training):
    old = _trained_like(tiny_model(ML)).train(training)
    wide = widen_generator(old, 24)
    widths = [m.out_channels for m in wide.generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [24, 24] and wide.cfg.generator_min_width == 24
    assert [m.out_channels for m in old.generator.modules() if isinstance(m, nn.ConvTranspose2d)] == [16, 8]
    with torch.no_grad():
        torch.testing.assert_close(wide.decode(*_inputs(ML)), old.decode(*_inputs(ML)), rtol=0, atol=1e-6)
    x = torch.rand(3, ML.channels, ML.image_size, ML.image_size)
    torch.testing.assert_close(wide.encode(x).mu, old.encode(x).mu)  # everything but the generator copied


def test_new_channels_feed_nothing_yet_but_get_gradients():
    wide = widen_generator(tiny_model(ML).train(), 24)
    last = [m for m in wide.generator.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    into_new = last.weight[16:]  # ConvTranspose2d weight is (in, out, k, k): inputs 16.. are the new channels
    assert into_new.abs().sum() == 0
    wide.decode(*_inputs(ML)).square().sum().backward()
    assert last.weight.grad[16:].abs().sum() > 0  # so training can give the new channels a say


def test_widened_file_loads_with_its_width(tmp_path):
    wide = widen_generator(tiny_model(ML), 24).eval()
    path = save_vcn(tmp_path / "wide.safetensors", wide)
    back = load_vcn(path)
    assert back.cfg.generator_min_width == 24
    with torch.no_grad():
        torch.testing.assert_close(back.decode(*_inputs(ML)), wide.decode(*_inputs(ML)))


def test_only_widens_a_compact_generator():
    with pytest.raises(ValueError, match="compact"):
        widen_generator(tiny_model(MC), 64)
    with pytest.raises(ValueError, match="narrow"):
        widen_generator(widen_generator(tiny_model(ML), 24), 16)
