"""model/networks.py: the paper's architectures have the shapes the paper implies."""

import pytest
import torch
from torch import nn

from model.config import DIGITS, VCNConfig
from model.networks import (
    LOGVAR_RANGE,
    MultiScaleDiscriminator,
    _split_head,
    build_encoder,
    build_generator,
    generator_input,
    head_size,
    latent_size,
)


def _shapes_of(modules, x_fn):
    """Run x_fn() and return the output shape of each module in order."""
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape))) for m in modules]
    try:
        result = x_fn()
    finally:
        for h in hooks:
            h.remove()
    return shapes, result


# ----------------------------------------------------------------------------------------------------
# mnist (Sec. 4.2, CapsNet-style)


MNIST = VCNConfig(arch="mnist", kind="multiclass", capsule_names=DIGITS, image_size=28, channels=1,
                  capsule_dim=16, context_dim=0, width=32, dataset="mnist")


def test_mnist_encoder_conv_stack_and_f320_head():
    enc = build_encoder(MNIST).eval()
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 3
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (2, 2)]
    with torch.no_grad():
        shapes, (mu, logvar, ctx_mu, ctx_logvar) = _shapes_of(convs, lambda: enc(torch.rand(2, 1, 28, 28)))
    assert shapes == [(2, 256, 24, 24), (2, 256, 10, 10), (2, 256, 3, 3)]
    assert isinstance(enc.head, nn.Linear)
    # F320: 10 capsules x 16 dims x (mean, log-variance)
    assert (enc.head.in_features, enc.head.out_features) == (256 * 3 * 3, 320)
    assert mu.shape == logvar.shape == (2, 10, 16)
    assert ctx_mu.shape == ctx_logvar.shape == (2, 0)


def test_mnist_generator_f512_f1024_f784():
    gen = build_generator(MNIST).eval()
    linears = [m for m in gen.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(160, 512), (512, 1024), (1024, 784)]
    with torch.no_grad():
        img = gen(torch.randn(3, 10, 16), torch.zeros(3, 0))
    assert img.shape == (3, 1, 28, 28)
    assert img.min() >= 0 and img.max() <= 1


def test_mnist_width_scales_channels():
    enc = build_encoder(VCNConfig(arch="mnist", kind="multiclass", capsule_names=DIGITS, image_size=28,
                                  channels=1, capsule_dim=16, context_dim=0, width=8))
    assert [m.out_channels for m in enc.modules() if isinstance(m, nn.Conv2d)] == [64, 64, 64]


# ----------------------------------------------------------------------------------------------------
# celeba256 (Sec. 4.1)


CELEBA = VCNConfig(arch="celeba256", image_size=256, capsule_dim=32, context_dim=0)


@pytest.fixture(scope="module")
def celeba_nets():
    torch.manual_seed(0)
    return build_encoder(CELEBA).eval(), build_generator(CELEBA).eval()


def test_celeba256_encoder_and_generator_shapes(celeba_nets):
    enc, gen = celeba_nets
    assert CELEBA.num_names == 40 and CELEBA.num_capsules == 80
    wide = [m for m in enc.features if isinstance(m, nn.Conv2d) and m.out_channels == 10240]
    assert len(wide) == 1 and wide[0].kernel_size == (1, 1)  # C1s1-10240
    head = enc.head
    assert isinstance(head, nn.Conv2d)
    assert (head.in_channels, head.out_channels, head.kernel_size, head.groups) == (10240, 5120, (4, 4), 40)
    assert 5120 == 40 * 2 * 2 * 32  # attributes x (present, absent) x (mu, logvar) x D
    assert isinstance(gen.fc, nn.Linear) and gen.fc.out_features == 8192  # F8192 = 512 x 4 x 4

    seen = {}

    def input_shape(key):
        return lambda _m, args: seen.__setitem__(key, tuple(args[0].shape))

    hooks = [
        wide[0].register_forward_pre_hook(input_shape("wide_in")),
        head.register_forward_hook(lambda _m, _i, out: seen.__setitem__("head_out", tuple(out.shape))),
        gen.blocks.register_forward_pre_hook(input_shape("gen_in")),
    ]
    try:
        with torch.no_grad():
            mu, logvar, ctx_mu, ctx_logvar = enc(torch.rand(1, 3, 256, 256))
            img = gen(mu, ctx_mu)
    finally:
        for h in hooks:
            h.remove()
    assert seen["wide_in"] == (1, 512, 4, 4)  # 256 -> 4 through the residual stack
    assert seen["head_out"] == (1, 5120, 1, 1)
    assert seen["gen_in"] == (1, 512, 4, 4)
    assert mu.shape == logvar.shape == (1, 80, 32)
    assert ctx_mu.shape == ctx_logvar.shape == (1, 0)
    assert img.shape == (1, 3, 256, 256)
    assert img.min() >= 0 and img.max() <= 1


def test_celeba256_each_attribute_reads_only_its_group(celeba_nets):
    enc, _ = celeba_nets
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 10240, 4, 4, generator=g)
    a = 7
    poked = feats.clone()
    poked[:, a * 256 : (a + 1) * 256] += torch.randn(1, 256, 4, 4, generator=g)
    with torch.no_grad():
        mu0, lv0, _, _ = _split_head(enc.head(feats).flatten(1), CELEBA)
        mu1, lv1, _, _ = _split_head(enc.head(poked).flatten(1), CELEBA)
    changed = ((mu0 != mu1).any(-1) | (lv0 != lv1).any(-1))[0]
    expected = torch.zeros(80, dtype=torch.bool)
    expected[2 * a : 2 * a + 2] = True  # exactly attribute a's present and absent capsules
    assert torch.equal(changed, expected)


def test_celeba256_rejects_a_context_capsule():
    with pytest.raises(ValueError, match="context_dim=0"):
        build_encoder(VCNConfig(arch="celeba256", image_size=256, capsule_dim=32, context_dim=8))


# ----------------------------------------------------------------------------------------------------
# compact


@pytest.mark.parametrize("size", [64, 128])
def test_compact_encoder_generator_shapes(size):
    cfg = VCNConfig(arch="compact", image_size=size, capsule_names=("a", "b", "c"), width=8, capsule_dim=4,
                    context_dim=5)
    enc, gen = build_encoder(cfg).eval(), build_generator(cfg).eval()
    assert enc.head.out_features == head_size(cfg) == 2 * (6 * 4 + 5)
    assert gen.fc[0].in_features == latent_size(cfg) == 6 * 4 + 5
    with torch.no_grad():
        feats = enc.features(torch.rand(2, 3, size, size))
        mu, logvar, ctx_mu, ctx_logvar = enc(torch.rand(2, 3, size, size))
        img = gen(mu, ctx_mu)
    assert feats.shape[-2:] == (4, 4)
    assert mu.shape == logvar.shape == (2, 6, 4)
    assert ctx_mu.shape == ctx_logvar.shape == (2, 5)
    assert img.shape == (2, 3, size, size)
    assert img.min() >= 0 and img.max() <= 1


def test_split_head_layout_and_logvar_clamp():
    cfg = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b"), width=8, capsule_dim=3,
                    context_dim=2)
    k, d = 4, 3
    h = torch.arange(head_size(cfg), dtype=torch.float32).unsqueeze(0)
    mu, logvar, ctx_mu, ctx_logvar = _split_head(h, cfg)
    # capsule k occupies [k*2d, k*2d + d) for mu and the next d for logvar
    assert torch.equal(mu[0, 1], torch.tensor([6.0, 7.0, 8.0]))
    assert torch.equal(ctx_mu[0], torch.tensor([2.0 * k * d, 2.0 * k * d + 1]))
    assert logvar.max().item() == LOGVAR_RANGE[1] and ctx_logvar.max().item() == LOGVAR_RANGE[1]
    low = _split_head(-1e6 * torch.ones(1, head_size(cfg)), cfg)
    assert low[1].min().item() == LOGVAR_RANGE[0] and low[3].min().item() == LOGVAR_RANGE[0]


@pytest.mark.parametrize("arch", ["compact", "mnist"])
def test_mask_input_feeds_the_mask_to_the_generator(arch):
    size, channels = (16, 3) if arch == "compact" else (28, 1)
    cfg = VCNConfig(arch=arch, image_size=size, channels=channels, capsule_names=("a", "b"), width=8,
                    capsule_dim=3, context_dim=2, mask_input=True)
    assert latent_size(cfg) == 4 * 3 + 2 + 4
    gen = build_generator(cfg).eval()
    first = gen.fc[0] if arch == "compact" else gen.net[0]
    assert first.in_features == latent_size(cfg)
    caps, ctx = torch.zeros(2, 4, 3), torch.zeros(2, 2)
    with torch.no_grad():
        a = gen(caps, ctx, torch.tensor([[1.0, 0, 1, 0]] * 2))
        b = gen(caps, ctx, torch.tensor([[0.0, 1, 0, 1]] * 2))
    assert a.shape == (2, channels, size, size)
    assert not torch.equal(a, b)  # presence is read from the mask even when the capsules carry nothing
    assert torch.equal(generator_input(caps, ctx, torch.ones(2, 4))[:, -4:], torch.ones(2, 4))
    assert generator_input(caps, ctx, None).shape == (2, 14)


# ----------------------------------------------------------------------------------------------------
# discriminator


def test_multiscale_discriminator_one_map_per_scale():
    cfg = VCNConfig(arch="compact", image_size=64, capsule_names=("a",), width=8)
    disc = MultiScaleDiscriminator(cfg, scales=3)
    maps = disc(torch.rand(2, 3, 64, 64))
    assert len(maps) == 3
    assert [tuple(m.shape) for m in maps] == [(2, 1, 8, 8), (2, 1, 4, 4), (2, 1, 2, 2)]

    small = MultiScaleDiscriminator(VCNConfig(arch="compact", image_size=32, capsule_names=("a",), width=8))
    maps = small(torch.rand(2, 3, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 8, 8), (2, 1, 4, 4)]  # capped at log2(32/8) scales
