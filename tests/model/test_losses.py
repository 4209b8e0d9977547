"""model/losses.py: each loss against a hand computation or its known optimum."""

import math

import pytest
import torch
from torch import nn

from model.capsules import capsule_kl
from model.losses import (
    attribute_judge_loss,
    capsule_choice_loss,
    capsule_margin_loss,
    edge_loss,
    gaussian_kl,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    mmd_to_prior,
    perceptual_loss,
    reconstruction_loss,
    style_judge_loss,
)

# ----------------------------------------------------------------------------------------------------
# Eq. 3: margin loss


def test_capsule_margin_loss_hand_computed():
    kl = torch.tensor([[1.0, 70.0, 10.0, 3.0], [2.0, 0.5, 64.0, 100.0]])
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    m, lam = 64.0, 0.5
    # image 0: active 1 + 3; inactive 70 beyond margin -> 0; inactive 10 -> lam * 54
    first = 1.0 + 0.0 + lam * 54.0 + 3.0
    # image 1: inactive 2 -> lam * 62; active 0.5 and 64; inactive 100 beyond margin -> 0
    second = lam * 62.0 + 0.5 + 64.0 + 0.0
    got = capsule_margin_loss(kl, t, margin=m, down_weight=lam)
    assert got.shape == ()
    assert math.isclose(got.item(), (first + second) / 2, rel_tol=1e-6)


def test_capsule_margin_loss_gradients():
    kl = torch.tensor([[1.0, 70.0, 10.0, 3.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    capsule_margin_loss(kl, t, margin=64.0, down_weight=0.25).backward()
    # active: +1, inactive beyond the margin: exactly 0, inactive inside the margin: -lambda
    assert torch.equal(kl.grad, torch.tensor([[1.0, 0.0, -0.25, 1.0]]))


def test_capsule_margin_loss_accepts_bool_targets_and_is_zero_when_satisfied():
    kl = torch.tensor([[0.0, 80.0], [90.0, 0.0]])
    t = torch.tensor([[True, False], [False, True]])
    assert capsule_margin_loss(kl, t, margin=64.0, down_weight=0.5).item() == 0.0


def test_gaussian_kl_mean_of_capsule_kl_and_zero_dim():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(gaussian_kl(mu, logvar), capsule_kl(mu, logvar).mean())
    empty = gaussian_kl(torch.zeros(5, 0), torch.zeros(5, 0))
    assert empty.shape == () and empty.item() == 0.0


# ----------------------------------------------------------------------------------------------------
# Eq. 4: reconstruction


def test_reconstruction_mse_sum_and_mean():
    x_hat = torch.zeros(2, 1, 2, 2)
    x = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    # squared errors per image: 1 + 0.25 = 1.25 and 4
    assert math.isclose(reconstruction_loss(x_hat, x, "mse", "sum").item(), (1.25 + 4.0) / 2, rel_tol=1e-6)
    mean = reconstruction_loss(x_hat, x, "mse", "mean").item()
    assert math.isclose(mean, (1.25 / 4 + 4.0 / 4) / 2, rel_tol=1e-6)
    assert reconstruction_loss(x, x, "mse", "sum").item() == 0.0


def test_reconstruction_bce_sum_and_mean():
    x_hat = torch.tensor([[[[0.9, 0.2]]], [[[0.5, 0.7]]]])
    x = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 0.5]]]])

    def bce(p, y):
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    img0 = [bce(0.9, 1.0), bce(0.2, 0.0)]
    img1 = [bce(0.5, 1.0), bce(0.7, 0.5)]
    assert math.isclose(reconstruction_loss(x_hat, x, "bce", "sum").item(), (sum(img0) + sum(img1)) / 2,
                        rel_tol=1e-5)
    assert math.isclose(reconstruction_loss(x_hat, x, "bce", "mean").item(),
                        (sum(img0) / 2 + sum(img1) / 2) / 2, rel_tol=1e-5)
    # saturated predictions stay finite (clamped), as do bf16 inputs
    sat = reconstruction_loss(torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[[[1.0, 0.0]]]]), "bce")
    assert torch.isfinite(sat)
    assert reconstruction_loss(x_hat.bfloat16(), x, "bce").dtype == torch.float32


def test_reconstruction_unknown_kind_raises():
    with pytest.raises(ValueError, match="l1"):
        reconstruction_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), "l1")


# ----------------------------------------------------------------------------------------------------
# Eq. 5: LSGAN


def test_lsgan_losses_zero_at_optimum_and_hand_value_elsewhere():
    real = [torch.ones(2, 1, 4, 4), torch.ones(2, 1, 2, 2)]
    fake = [torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 2, 2)]
    assert lsgan_discriminator_loss(real, fake).item() == 0.0
    assert lsgan_generator_loss([torch.ones(2, 1, 4, 4), torch.ones(2, 1, 2, 2)]).item() == 0.0
    # fully fooled discriminator: 0.5 * (1 + 1) per scale, two scales
    assert lsgan_discriminator_loss(fake, real).item() == 2.0
    # generator: 0.5 * (0 - 1)^2 per scale
    assert lsgan_generator_loss(fake).item() == 1.0
    half = [torch.full((2, 1, 4, 4), 0.5)]
    assert math.isclose(lsgan_discriminator_loss(half, half).item(), 0.5 * (0.25 + 0.25))


# ----------------------------------------------------------------------------------------------------
# Levers


def test_mmd_to_prior_small_for_prior_samples_large_for_shifted():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 4, generator=g)
    near = mmd_to_prior(x, torch.Generator().manual_seed(1))
    shifted = mmd_to_prior(x + 1.0, torch.Generator().manual_seed(1))
    widened = mmd_to_prior(3.0 * x, torch.Generator().manual_seed(1))
    assert abs(near.item()) < 0.01
    assert shifted.item() > 0.1 and widened.item() > 0.1
    assert mmd_to_prior(x[:1]).item() == 0.0  # too few samples: defined as 0


def test_mmd_to_prior_gradient_pulls_towards_prior():
    x = (torch.randn(200, 3) + 2.0).requires_grad_()
    mmd_to_prior(x, torch.Generator().manual_seed(0)).backward()
    # a gradient step moves the samples' mean back towards 0
    assert (x.grad.mean(0) > 0).all()


def test_attribute_judge_loss_value_and_frozen_judge():
    gen = nn.Linear(4, 12)
    judge = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    judge.requires_grad_(False)
    states = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    fake = torch.sigmoid(gen(torch.randn(2, 4)))
    logits = judge(fake)
    loss = attribute_judge_loss(logits, states)
    expected = nn.functional.binary_cross_entropy_with_logits(logits, states, reduction="sum") / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(p.grad is None for p in judge.parameters())
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------------
# Edges


def test_edge_loss_hand_value_ignores_a_brightness_shift_and_charges_a_blur():
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, 0, 1] = 1.0  # one bright pixel: 2 horizontal differences of 1, 1 vertical
    assert edge_loss(torch.zeros_like(x), x).item() == pytest.approx(3.0)
    assert edge_loss(x + 0.3, x).item() == pytest.approx(0.0, abs=1e-6)  # no edge moved
    img = torch.rand(4, 3, 16, 16)
    blurred = nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False)
    dim = img + (blurred - img).pow(2).mean().sqrt()  # a brightness error of the blur's pixel RMS
    # Per unit of pixel MSE the blur costs far more on edges than the brightness error does.
    assert edge_loss(blurred, img) / reconstruction_loss(blurred, img) > 2.0
    assert edge_loss(dim, img) / reconstruction_loss(dim, img) < 1e-6
    # Averaged over the batch, summed over pixels: doubling the batch by repetition changes nothing.
    assert edge_loss(torch.cat([blurred, blurred]), torch.cat([img, img])).item() == pytest.approx(
        edge_loss(blurred, img).item(), rel=1e-5)


def test_edge_loss_gradient_reaches_the_generated_side():
    gen = nn.Conv2d(2, 3, 3, padding=1)
    real = torch.rand(2, 3, 8, 8, requires_grad=True)
    edge_loss(gen(torch.randn(2, 2, 8, 8)), real).backward()
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------------
# Perceptual


def test_perceptual_loss_hand_value_and_channel_scale_invariance():
    # One stage, one image, two positions: unit vectors along channels, then squared distance.
    real = [torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]])]  # (1, 2, 1, 2): positions (3, 4) and (0, 2)
    fake = [torch.tensor([[[[0.0, 5.0]], [[1.0, 0.0]]]])]  # positions (0, 1) and (5, 0)
    # position 1: (0.6, 0.8) vs (0, 1): 0.36 + 0.04; position 2: (0, 1) vs (1, 0): 2
    assert perceptual_loss(fake, real).item() == pytest.approx((0.4 + 2.0) / 2)
    assert perceptual_loss(real, real).item() == 0.0
    # Scaling activations (a brighter image read by a ReLU net) changes nothing; stages add up.
    assert perceptual_loss([fake[0] * 7], real).item() == pytest.approx(1.2)
    assert perceptual_loss(fake * 2, real * 2).item() == pytest.approx(2.4)


def test_perceptual_loss_gradient_reaches_the_fake_side_only():
    net = nn.Conv2d(3, 4, 3, padding=1)
    net.requires_grad_(False)
    gen = nn.Conv2d(2, 3, 1)
    real_img = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = perceptual_loss([net(gen(torch.randn(2, 2, 8, 8)))], [net(real_img)])
    loss.backward()
    assert real_img.grad is None  # the real side is detached inside the loss
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_capsule_choice_loss_hand_value_groups_and_gradient():
    kl = torch.tensor([[1.0, 3.0, 40.0, 0.5]], requires_grad=True)
    truth = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    # Two pairs: -log softmax(-1, -3)[0] + -log softmax(-40, -0.5)[1].
    want = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-39.5))
    assert capsule_choice_loss(kl, truth, 2).item() == pytest.approx(want, rel=1e-5)
    # One group of four: the true capsule is the first.
    one = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert capsule_choice_loss(kl, one, 4).item() == pytest.approx(
        1.0 + math.log(sum(math.exp(-v) for v in (1.0, 3.0, 40.0, 0.5))), rel=1e-5)
    capsule_choice_loss(kl, truth, 2).backward()
    # The true capsule's KL is pushed down, its rival's up; a pair already decided far apart barely moves.
    assert kl.grad[0, 0] > 0 and kl.grad[0, 1] < 0 and abs(kl.grad[0, 2]) < 1e-12 < kl.grad[0, 0]
    # Averaged over the batch.
    two = capsule_choice_loss(torch.cat([kl, kl]).detach(), torch.cat([truth, truth]), 2)
    assert two.item() == pytest.approx(want, rel=1e-5)
    # A temperature divides the logits: at 10 the decided pair (40 vs 0.5) still has a say.
    hot = math.log(1 + math.exp(-0.2)) + math.log(1 + math.exp(-3.95))
    assert capsule_choice_loss(kl.detach(), truth, 2, temperature=10.0).item() == pytest.approx(hot, rel=1e-5)


# ----------------------------------------------------------------------------------------------------
# Style


def test_style_judge_loss_hand_value_counts_present_styles_only():
    """Cross-entropy of the fake's style logits against the style read on the real image (its argmax),
    summed over the style attributes each real image shows, averaged over the batch."""
    real = [torch.tensor([[0.0, 5.0], [3.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])]
    fake = [torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0], [9.0, 0.0, 0.0]])]
    present = torch.tensor([[True, True], [False, True]])
    # image 0: ln 2 (two equal logits) + ln 3; image 1: only the second attribute, target 2 against logits (9, 0, 0)
    ce_1 = -torch.log_softmax(torch.tensor([9.0, 0.0, 0.0]), 0)[2].item()
    assert style_judge_loss(fake, real, present).item() == pytest.approx((math.log(2) + math.log(3) + ce_1) / 2)
    assert style_judge_loss(fake, real, torch.zeros_like(present)).item() == 0.0
    # A fake read confidently as the real image's style costs almost nothing.
    assert style_judge_loss([r * 50 for r in real], real, present).item() < 1e-6


def test_style_judge_loss_gradient_reaches_the_fake_side_only():
    reader = nn.Linear(6, 3)
    reader.requires_grad_(False)
    gen = nn.Linear(4, 6)
    real_in = torch.randn(5, 6, requires_grad=True)
    loss = style_judge_loss([reader(gen(torch.randn(5, 4)))], [reader(real_in)], torch.ones(5, 1, dtype=torch.bool))
    loss.backward()
    assert real_in.grad is None
    assert reader.weight.grad is None
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0
