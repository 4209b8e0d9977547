"""model/capsules.py: the KL that decides presence, sampling, and the interleaved mask layout."""

import math

import torch
from torch.distributions import Independent, Normal, kl_divergence

from model.capsules import (
    active_mask,
    attribute_scores,
    capsule_kl,
    draw_states,
    exclusive_pairs,
    mask_capsules,
    mask_to_states,
    partner_matrix,
    reparameterize,
    resolve_exclusive,
    targets_to_mask,
)

# ----------------------------------------------------------------------------------------------------
# capsule_kl


def _some_posterior(shape=(2, 3, 4)):
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(shape, generator=g, dtype=torch.float64)
    logvar = torch.randn(shape, generator=g, dtype=torch.float64) * 0.7
    return mu, logvar


def test_capsule_kl_matches_torch_distributions():
    mu, logvar = _some_posterior()
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    expected = kl_divergence(q, p)
    got = capsule_kl(mu, logvar)
    assert got.shape == (2, 3)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_capsule_kl_of_bf16_capsules_is_summed_in_float32():
    """Under CPU bf16 autocast the encoder hands over bf16 capsules; the KL (the classifier and the margin
    loss) must not be rounded to bf16's 8-bit mantissa."""
    mu, logvar = (t.mul(8).to(torch.bfloat16) for t in _some_posterior((2, 3, 64)))
    got = capsule_kl(mu, logvar)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, capsule_kl(mu.double(), logvar.double()).float(), rtol=1e-6, atol=1e-4)


def test_capsule_kl_matches_monte_carlo():
    mu, logvar = _some_posterior((3, 4))
    sigma = (0.5 * logvar).exp()
    g = torch.Generator().manual_seed(2)
    n = 200_000
    eps = torch.randn((n, 3, 4), generator=g, dtype=torch.float64)
    c = mu + sigma * eps
    # log q(c) - log p(c), summed over the capsule dimension (the 2*pi terms cancel).
    log_ratio = (-0.5 * logvar - 0.5 * eps.pow(2) + 0.5 * c.pow(2)).sum(-1)  # (n, K)
    mc = log_ratio.mean(0)
    stderr = log_ratio.std(0) / math.sqrt(n)
    closed = capsule_kl(mu, logvar)
    assert torch.all((mc - closed).abs() < 5 * stderr + 1e-3), (mc, closed, stderr)


def test_capsule_kl_hand_value_nonnegative_and_zero_on_prior():
    # One dimension: KL = 0.5 * (mu^2 + var - logvar - 1).
    mu = torch.tensor([[[2.0]]])
    logvar = torch.tensor([[[math.log(3.0)]]])
    assert math.isclose(capsule_kl(mu, logvar).item(), 0.5 * (4 + 3 - math.log(3.0) - 1), rel_tol=1e-6)

    mu, logvar = _some_posterior((5, 7, 6))
    assert torch.all(capsule_kl(mu * 10, logvar * 5) >= 0)

    zero = capsule_kl(torch.zeros(4, 5, 8), torch.zeros(4, 5, 8))
    assert zero.shape == (4, 5)
    assert torch.equal(zero, torch.zeros(4, 5))


def test_capsule_kl_shape_keeps_leading_dims():
    assert capsule_kl(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5)).shape == (2, 3, 4)
    assert capsule_kl(torch.zeros(7, 5), torch.zeros(7, 5)).shape == (7,)


# ----------------------------------------------------------------------------------------------------
# reparameterize


def test_reparameterize_gradient_reaches_mu_and_logvar():
    mu = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    logvar = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    g = torch.Generator().manual_seed(3)
    c = reparameterize(mu, logvar, g)
    c.sum().backward()
    eps = torch.randn(3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mu.grad, torch.ones(3))
    torch.testing.assert_close(logvar.grad, 0.5 * eps * (0.5 * logvar.detach()).exp())
    assert torch.all(logvar.grad != 0)


def test_reparameterize_reproducible_with_generator_seed():
    mu, logvar = torch.zeros(4, 6), torch.zeros(4, 6)
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(11))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(11))
    c = reparameterize(mu, logvar, torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_reparameterize_empirical_moments():
    n = 200_000
    mu = torch.tensor([1.0, -2.0, 0.0]).expand(n, 3)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)]).expand(n, 3)
    c = reparameterize(mu, logvar, torch.Generator().manual_seed(4))
    assert c.shape == (n, 3)
    torch.testing.assert_close(c.mean(0), torch.tensor([1.0, -2.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(c.var(0), torch.tensor([1.0, 4.0, 0.25]), rtol=0.03, atol=0)


# ----------------------------------------------------------------------------------------------------
# masks


def test_targets_to_mask_multilabel_interleaved():
    targets = torch.tensor([[1, 0, 1], [0, 0, 1]])
    mask = targets_to_mask(targets, "multilabel", 6)
    assert mask.dtype == torch.float32
    assert torch.equal(mask, torch.tensor([[1.0, 0, 0, 1, 1, 0], [0, 1, 0, 1, 1, 0]]))


def test_targets_to_mask_multiclass_one_hot():
    mask = targets_to_mask(torch.tensor([2, 0]), "multiclass", 4)
    assert torch.equal(mask, torch.tensor([[0.0, 0, 1, 0], [1, 0, 0, 0]]))


def test_active_mask_multilabel_picks_smaller_kl_per_pair():
    kl = torch.tensor([[1.0, 5.0, 7.0, 2.0, 3.0, 3.0]])  # present wins, absent wins, tie
    mask = active_mask(kl, "multilabel")
    assert torch.equal(mask, torch.tensor([[1.0, 0, 0, 1, 1, 0]]))
    # exactly one capsule of every pair is active
    kl = torch.rand(16, 10) * 100
    pairs = active_mask(kl, "multilabel").unflatten(-1, (-1, 2))
    assert torch.equal(pairs.sum(-1), torch.ones(16, 5))
    smaller_is_present = kl.unflatten(-1, (-1, 2))[..., 0] < kl.unflatten(-1, (-1, 2))[..., 1]
    assert torch.equal(pairs[..., 0].bool(), smaller_is_present)


def test_active_mask_multiclass_argmin_one_hot():
    kl = torch.tensor([[9.0, 1.0, 4.0], [0.5, 2.0, 0.7]])
    assert torch.equal(active_mask(kl, "multiclass"), torch.tensor([[0.0, 1, 0], [1, 0, 0]]))


def test_mask_states_round_trip_multilabel():
    targets = (torch.rand(32, 7) < 0.5).float()
    mask = targets_to_mask(targets, "multilabel", 14)
    assert torch.equal(mask_to_states(mask, "multilabel"), targets)
    kl = torch.rand(32, 14) * 50
    predicted = active_mask(kl, "multilabel")
    assert torch.equal(targets_to_mask(mask_to_states(predicted, "multilabel"), "multilabel", 14), predicted)


def test_mask_states_round_trip_multiclass():
    classes = torch.randint(10, (32,))
    mask = targets_to_mask(classes, "multiclass", 10)
    assert torch.equal(mask_to_states(mask, "multiclass"), classes)
    kl = torch.rand(32, 10)
    predicted = active_mask(kl, "multiclass")
    assert torch.equal(mask_to_states(predicted, "multiclass"), kl.argmin(-1))


def test_mask_capsules_zeroes_inactive_rows():
    c = torch.randn(2, 4, 3)
    mask = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])
    out = mask_capsules(c, mask)
    assert torch.equal(out[0, 0], c[0, 0]) and torch.equal(out[1, 3], c[1, 3])
    assert torch.equal(out[0, 1], torch.zeros(3)) and torch.equal(out[1, :3], torch.zeros(3, 3))


# ----------------------------------------------------------------------------------------------------
# attribute_scores


def test_attribute_scores_multilabel_range_ties_and_monotone():
    kl = torch.tensor([[0.0, 1000.0, 1000.0, 0.0, 4.0, 4.0]])
    s = attribute_scores(kl, "multilabel")
    assert s.shape == (1, 3)
    assert torch.all((s >= 0) & (s <= 1))
    assert s[0, 0] > 0.99 and s[0, 1] < 0.01
    assert s[0, 2] == 0.5

    absent = torch.linspace(0, 20, 50)
    kl = torch.stack([torch.full_like(absent, 10.0), absent], -1)  # (50, 2): one attribute, varying KL_absent
    scores = attribute_scores(kl, "multilabel")[:, 0]
    assert torch.all(scores[1:] > scores[:-1])  # larger KL on the absent capsule -> more "present"
    kl = torch.stack([absent, torch.full_like(absent, 10.0)], -1)  # varying KL_present
    scores = attribute_scores(kl, "multilabel")[:, 0]
    assert torch.all(scores[1:] < scores[:-1])
    # temperature sharpens without changing the side of 0.5
    soft = attribute_scores(torch.tensor([[1.0, 2.0]]), "multilabel", temperature=10.0)
    sharp = attribute_scores(torch.tensor([[1.0, 2.0]]), "multilabel", temperature=0.1)
    assert 0.5 < soft.item() < sharp.item()


def test_attribute_scores_multiclass_softmax_over_negative_kl():
    kl = torch.tensor([[3.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    s = attribute_scores(kl, "multiclass")
    torch.testing.assert_close(s.sum(-1), torch.ones(2))
    assert torch.all((s >= 0) & (s <= 1))
    assert s[0].argmax() == 1 and s[0, 1] > s[0, 2] > s[0, 0]
    torch.testing.assert_close(s[1], torch.full((3,), 1 / 3))


# ----------------------------------------------------------------------------------------------------
# Exclusive attributes


def test_exclusive_pairs_finds_pairs_never_seen_together_and_tolerates_label_noise():
    g = torch.Generator().manual_seed(0)
    n = 4000
    hair = torch.randint(0, 3, (n,), generator=g)  # one of three hair colours, never two
    t = torch.stack([hair == 0, hair == 1, hair == 2, torch.rand(n, generator=g) < 0.5], 1).float()
    assert exclusive_pairs(("x", "y", "z", "w"), t) == (("x", "y"), ("x", "z"), ("y", "z"))
    t[:1, :2] = 1  # one mislabelled face with x and y: still a rule (0.2 % of the ~444 expected)
    assert ("x", "y") in exclusive_pairs(("x", "y", "z", "w"), t)
    t[:100, :2] = 1  # 100 faces (a quarter of the expected count): no longer a rule
    assert ("x", "y") not in exclusive_pairs(("x", "y", "z", "w"), t)
    assert exclusive_pairs(("x", "y", "z", "w"), t[:10]) == ()  # too few faces to tell


def test_the_rules_learned_from_rendered_faces_are_the_renderers_rules():
    from model.data.faces import sample_faces
    from model.data.faces_attributes import ATTRIBUTES, EXCLUSIVE

    learned = exclusive_pairs(ATTRIBUTES, torch.as_tensor(sample_faces(0, 0, 8000).attrs))
    canon = {tuple(sorted(p, key=ATTRIBUTES.index)) for p in EXCLUSIVE}
    assert set(learned) == canon


def test_resolve_exclusive_keeps_what_was_asked_and_clears_later_clashes():
    partners = partner_matrix(("a", "b", "c", "d"), [("a", "b"), ("b", "c")])
    assert torch.equal(partners, partners.T) and partners.sum() == 4
    states = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]]).bool()
    none = torch.zeros(4, dtype=torch.bool)
    assert resolve_exclusive(states, partners, none).int().tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]
    keep_c = torch.tensor([False, False, True, False])
    assert resolve_exclusive(states, partners, keep_c).int().tolist() == [[1, 0, 1, 0], [0, 0, 1, 1]]
    assert torch.equal(states, torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]]).bool())  # input untouched


def test_draw_states_with_partners_never_draws_a_clash():
    partners = partner_matrix(("a", "b", "c"), [("a", "b")])
    g = torch.Generator().manual_seed(0)
    s = draw_states(("a", "b", "c"), "multilabel", (0.8, 0.8, 0.5), {"b": True}, 100, g, partners)
    assert s[:, 1].all() and not s[:, 0].any()
    s = draw_states(("a", "b", "c"), "multilabel", (0.8, 0.8, 0.5), {}, 100, g, partners)
    assert not (s[:, 0].bool() & s[:, 1].bool()).any() and s[:, 0].any() and s[:, 1].any()
