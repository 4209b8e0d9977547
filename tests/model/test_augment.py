"""The judge's view of generated images (model/augment.py). random_shift and random_affine are tested with
training data in test_train.py."""

import torch

from model.augment import judge_view


def _images(n: int = 8, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_judge_view_without_changes_is_the_identity():
    x = _images()
    assert torch.equal(judge_view(x, torch.Generator().manual_seed(1), shift=0, brightness=0.0, noise=0.0), x)


def test_judge_view_shifts_each_image_by_whole_pixels_with_replicated_borders():
    x = _images(32)
    y = judge_view(x, torch.Generator().manual_seed(1), shift=2, brightness=0.0, noise=0.0)
    pad = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    offsets = set()
    for i in range(32):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(pad[i, :, dy : dy + 12, dx : dx + 12], y[i])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 5  # shifts vary between images


def test_judge_view_stays_in_range_is_seeded_and_lets_gradients_through():
    x = _images().requires_grad_(True)
    y = judge_view(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, judge_view(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(y, judge_view(x, torch.Generator().manual_seed(4)))
    flat = torch.full((4, 3, 12, 12), 0.5)  # a shift leaves it as it is: only brightness and noise remain
    assert (judge_view(flat, torch.Generator().manual_seed(3)) - flat).abs().max() < 0.05 + 5 * 0.02
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
