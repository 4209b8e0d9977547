"""Encoders, generators and the multi-scale discriminator, built from a VCNConfig.

Three families:
- "mnist": the paper's digit net. Encoder C5s1-256, C5s2-256, C5s2-256, F(2*K*D); generator F512,
  F1024, F784 (as CapsNet's decoder). Channel width = 256 * width / 32.
- "compact": a small conv net for 64x64 / 128x128 faces that trains on two CPU cores.
- "celeba256": the paper's Sec. 4.1 net: C5s1-16, R32d ... R512d, C1s1-10240, C4s1g40-5120 (one group per
  attribute) / F8192, R512u ... C5s1-3, at 256x256.

Every encoder maps (B, C, H, W) -> mu, logvar (B, K, D) and ctx_mu, ctx_logvar (B, Dc); every generator
maps masked capsules (B, K, D), a context vector (B, Dc) and, when cfg.mask_input, the mask (B, K) -> an
image (B, C, H, W) in [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.config import VCNConfig

# Clamp log-variances: exp() of a large value overflows in bf16 and destabilises the first steps.
LOGVAR_RANGE = (-12.0, 6.0)


def _split_head(h: Tensor, cfg: VCNConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Flat head output (B, 2*K*D + 2*Dc) -> mu, logvar (B, K, D), ctx_mu, ctx_logvar (B, Dc)."""
    kd = cfg.num_capsules * cfg.capsule_dim
    caps, ctx = h[:, : 2 * kd], h[:, 2 * kd :]
    mu, logvar = caps.unflatten(1, (cfg.num_capsules, 2, cfg.capsule_dim)).unbind(dim=2)
    ctx_mu, ctx_logvar = ctx[:, : cfg.context_dim], ctx[:, cfg.context_dim :]
    return mu, logvar.clamp(*LOGVAR_RANGE), ctx_mu, ctx_logvar.clamp(*LOGVAR_RANGE)


def head_size(cfg: VCNConfig) -> int:
    """Outputs of the encoder head: mean and log-variance of every capsule and the context."""
    return 2 * (cfg.num_capsules * cfg.capsule_dim + cfg.context_dim)


def latent_size(cfg: VCNConfig) -> int:
    """Inputs of the generator: all (masked) capsules flattened, the context, and the mask if mask_input."""
    return cfg.num_capsules * (cfg.capsule_dim + int(cfg.mask_input)) + cfg.context_dim


def generator_input(capsules: Tensor, ctx: Tensor, mask: Tensor | None) -> Tensor:
    """(B, K, D) masked capsules, (B, Dc) context, optional (B, K) mask -> (B, latent_size)."""
    parts = [capsules.flatten(1), ctx] + ([mask.to(capsules.dtype)] if mask is not None else [])
    return torch.cat(parts, dim=1)


def _conv_bn(cin: int, cout: int, k: int, s: int, p: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


class ResBlock(nn.Module):
    """Pre-activation residual block that halves ("down"), doubles ("up") or keeps the resolution."""

    def __init__(self, cin: int, cout: int, resample: str = "none"):
        super().__init__()
        self.resample = resample
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.LeakyReLU(0.2), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout), nn.LeakyReLU(0.2), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        )
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.resample == "up":
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        y = self.body(x) + self.skip(x)
        if self.resample == "down":
            y = nn.functional.avg_pool2d(y, 2)
        return y


# ----------------------------------------------------------------------------------------------------
# Encoders


class MnistEncoder(nn.Module):
    """The paper's digit encoder: C5s1, C5s2, C5s2 (no padding: 28 -> 24 -> 10 -> 3), then F(2*K*D)."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        w = 256 * cfg.width // 32
        self.features = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 5, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 5, 2), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 5, 2), nn.ReLU(inplace=True),
        )
        side = ((cfg.image_size - 4) - 5) // 2 + 1
        side = (side - 5) // 2 + 1
        self.head = nn.Linear(w * side * side, head_size(cfg))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return _split_head(self.head(self.features(x).flatten(1)), self.cfg)


class CompactEncoder(nn.Module):
    """Strided 4x4 convs down to 4x4 (widths 2w, 4w, 8w, capped at 8w), a 3x3 conv at the two smallest
    resolutions, a 1x1 squeeze and a linear head. Lean on purpose: it trains at CPU speed."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        n_down = int(math.log2(cfg.image_size // 4))
        layers: list[nn.Module] = []
        cin = cfg.channels
        for i in range(n_down):
            cout = cfg.width * min(2**i, 8)
            layers += _conv_bn(cin, cout, 4, 2, 1)
            if i >= n_down - 2:
                layers += _conv_bn(cout, cout, 3, 1, 1)
            cin = cout
        squeeze = cin // 4  # keep the 4x4 layout (where things are) but shrink the head's inputs
        layers += _conv_bn(cin, squeeze, 1, 1, 0)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(squeeze * 16, head_size(cfg))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return _split_head(self.head(self.features(x).flatten(1)), self.cfg)


class Celeba256Encoder(nn.Module):
    """Sec. 4.1: C5s1-16, R32d, R64d, R128d, R256d, R512d, R512d (256 -> 4), C1s1-10240, then a grouped
    C4s1 with one group per attribute so each attribute's capsule pair reads its own features."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        s = cfg.width / 32
        ch = [int(c * s) for c in (16, 32, 64, 128, 256, 512, 512)]
        n_down = int(math.log2(cfg.image_size // 4))
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, ch[0], 5, 1, 2)]
        for i in range(n_down):
            layers.append(ResBlock(ch[min(i, 6)], ch[min(i + 1, 6)], "down"))
        groups = cfg.num_names
        per_group = head_size(cfg) // groups if cfg.context_dim == 0 else None
        if per_group is None or per_group * groups != head_size(cfg):
            raise ValueError("celeba256 needs context_dim=0 and a head that splits evenly per attribute")
        wide = 256 * groups * int(max(s, 1))  # 10240 for 40 attributes at width 32
        layers += [nn.BatchNorm2d(ch[min(n_down, 6)]), nn.LeakyReLU(0.2),
                   nn.Conv2d(ch[min(n_down, 6)], wide, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(wide, head_size(cfg), 4, 1, 0, groups=groups)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        # Channels come out group-major: (attribute, capsule present|absent, mu|logvar, D), which is
        # exactly the flat (K, 2, D) layout _split_head expects.
        return _split_head(self.head(self.features(x)).flatten(1), self.cfg)


# ----------------------------------------------------------------------------------------------------
# Generators


class MnistGenerator(nn.Module):
    """F512, F1024, F784 with a sigmoid: CapsNet's decoder."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        pixels = cfg.channels * cfg.image_size**2
        self.net = nn.Sequential(
            nn.Linear(latent_size(cfg), 512), nn.ReLU(inplace=True),
            nn.Linear(512, 1024), nn.ReLU(inplace=True),
            nn.Linear(1024, pixels),
        )

    def forward(self, capsules: Tensor, ctx: Tensor, mask: Tensor | None = None) -> Tensor:
        z = generator_input(capsules, ctx, mask)
        img = self.net(z).unflatten(1, (self.cfg.channels, self.cfg.image_size, self.cfg.image_size))
        return torch.sigmoid(img)


class CompactGenerator(nn.Module):
    """Linear to 4x4 (4w channels), then a 4x4 stride-2 transposed conv per doubling (2.25x cheaper than
    upsample + 3x3), a 3x3 conv at 8x8 where the layout is decided, a 3x3 conv to C and a sigmoid."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        n_up = int(math.log2(cfg.image_size // 4))
        cin = cfg.width * 4  # a narrower 4x4 seed keeps the largest layer (this linear) small
        self.fc = nn.Sequential(nn.Linear(latent_size(cfg), cin * 16), nn.LeakyReLU(0.2, inplace=True))
        layers: list[nn.Module] = []
        for i in range(n_up):
            cout = max(cfg.width * min(2 ** (n_up - i - 1), 8), cfg.generator_min_width)
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, inplace=True)]
            if i == 0:
                layers += _conv_bn(cout, cout, 3, 1, 1)
            cin = cout
        layers += [nn.Conv2d(cin, cfg.channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, capsules: Tensor, ctx: Tensor, mask: Tensor | None = None) -> Tensor:
        z = generator_input(capsules, ctx, mask)
        return torch.sigmoid(self.net(self.fc(z).unflatten(1, (-1, 4, 4))))


class Celeba256Generator(nn.Module):
    """Sec. 4.1: F8192 (512x4x4), R512u, R256u, R128u, R64u, R32u, R16u, C5s1-3."""

    def __init__(self, cfg: VCNConfig):
        super().__init__()
        self.cfg = cfg
        s = cfg.width / 32
        ch = [int(c * s) for c in (512, 512, 256, 128, 64, 32, 16)]
        n_up = int(math.log2(cfg.image_size // 4))
        self.fc = nn.Linear(latent_size(cfg), ch[0] * 16)
        self.blocks = nn.Sequential(*[ResBlock(ch[min(i, 6)], ch[min(i + 1, 6)], "up") for i in range(n_up)])
        self.out = nn.Sequential(nn.BatchNorm2d(ch[min(n_up, 6)]), nn.LeakyReLU(0.2),
                                 nn.Conv2d(ch[min(n_up, 6)], cfg.channels, 5, 1, 2))

    def forward(self, capsules: Tensor, ctx: Tensor, mask: Tensor | None = None) -> Tensor:
        z = generator_input(capsules, ctx, mask)
        return torch.sigmoid(self.out(self.blocks(self.fc(z).unflatten(1, (-1, 4, 4)))))


ENCODERS = {"mnist": MnistEncoder, "compact": CompactEncoder, "celeba256": Celeba256Encoder}
GENERATORS = {"mnist": MnistGenerator, "compact": CompactGenerator, "celeba256": Celeba256Generator}


def build_encoder(cfg: VCNConfig) -> nn.Module:
    return ENCODERS[cfg.arch](cfg)


def build_generator(cfg: VCNConfig) -> nn.Module:
    return GENERATORS[cfg.arch](cfg)


# ----------------------------------------------------------------------------------------------------
# Discriminator


class PatchDiscriminator(nn.Module):
    """A PatchGAN: strided 4x4 convs, a real/fake score per patch (LSGAN targets 1 / 0)."""

    def __init__(self, channels: int, width: int, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        cin = width
        for i in range(1, n_layers):
            cout = width * min(2**i, 8)
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        layers += [nn.Conv2d(cin, 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MultiScaleDiscriminator(nn.Module):
    """The paper's multi-scale discriminator (as pix2pixHD): the same PatchGAN design at full, 1/2 and
    1/4 resolution, so both global layout and fine texture are judged. Returns one score map per scale."""

    def __init__(self, cfg: VCNConfig, scales: int = 3):
        super().__init__()
        scales = max(1, min(scales, int(math.log2(cfg.image_size // 8))))
        n_layers = 2 if cfg.image_size <= 32 else 3
        self.scales = nn.ModuleList(PatchDiscriminator(cfg.channels, cfg.width, n_layers) for _ in range(scales))

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for i, d in enumerate(self.scales):
            outs.append(d(x))
            if i + 1 < len(self.scales):
                x = nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return outs
