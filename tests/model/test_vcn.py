"""model/vcn.py: the training pass and every inference operation, on tiny untrained models.

What the generator is asked to draw is checked directly: a forward pre-hook on model.generator records
the masked capsules (B, K, D) and the context (B, Dc) it receives. An untrained encoder calls every
attribute present for every image, so the multilabel model used for the operations wraps its real
encoder in ChosenStates: the test picks each image's on/off states through one pixel per attribute.
"""

import dataclasses
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from model.capsules import active_mask, targets_to_mask
from model.config import VCNConfig
from model.losses import capsule_margin_loss, reconstruction_loss
from model.vcn import VCN

ML = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b", "c"), width=8, capsule_dim=4,
               context_dim=3)
MC = VCNConfig(arch="mnist", kind="multiclass", capsule_names=("0", "1", "2", "3"), image_size=28, channels=1,
               capsule_dim=4, context_dim=0, width=8, dataset="mnist")


def _model(cfg: VCNConfig) -> VCN:
    torch.manual_seed(0)
    return VCN(cfg).eval()


def _images(cfg: VCNConfig, n: int, seed: int, states: list[list[int]] | None = None) -> torch.Tensor:
    """Random images; with `states` (n, A), pixel (0, 0, a) of channel 0 sets attribute a (ChosenStates)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, cfg.channels, cfg.image_size, cfg.image_size), generator=g)
    if states is not None:
        x[:, 0, 0, : cfg.num_names] = 0.1 + 0.8 * torch.tensor(states, dtype=torch.float32)
    return x


class ChosenStates(nn.Module):
    """The real encoder, plus: attribute a is present iff pixel (0, 0, a) of channel 0 is above 0.5 (the
    capsule of the pair that should be off is pushed 4 units from the prior, KL ~ 8 * D)."""

    def __init__(self, encoder: nn.Module, num_names: int):
        super().__init__()
        self.inner = encoder
        self.num_names = num_names

    def forward(self, x):
        mu, logvar, ctx_mu, ctx_logvar = self.inner(x)
        present = (x[:, 0, 0, : self.num_names] > 0.5).float()
        off = torch.stack([1.0 - present, present], -1).flatten(1)  # (B, K), interleaved present/absent
        return mu + 4.0 * off.unsqueeze(-1), logvar, ctx_mu, ctx_logvar


# Shared by the inference tests (they only read the models; training tests build their own).
ML_MODEL = _model(ML)
ML_MODEL.encoder = ChosenStates(ML_MODEL.encoder, ML.num_names)
MC_MODEL = _model(MC)


@contextmanager
def generator_inputs(model: VCN):
    """Collects (masked capsules, context) for every generator call inside the block."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(_module, args):
        seen.append((args[0].clone(), args[1].clone()))

    hook = model.generator.register_forward_pre_hook(record)
    try:
        yield seen
    finally:
        hook.remove()


def _active_rows(caps: torch.Tensor) -> torch.Tensor:
    """(B, K, D) masked capsules -> (B, K) bool: which capsules the generator actually sees."""
    return (caps != 0).any(-1)


def _in_unit_range(img: torch.Tensor) -> bool:
    return bool(torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1)


# ----------------------------------------------------------------------------------------------------
# Training pass


def test_forward_teacher_forcing_uses_target_mask():
    model = _model(ML).train()
    x = _images(ML, 4, 0)
    targets = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    with generator_inputs(model) as seen:
        recon, caps, mask = model(x, targets, generator=torch.Generator().manual_seed(0))
    expected = targets_to_mask(targets, "multilabel", 6)
    assert torch.equal(mask, expected)
    assert torch.equal(_active_rows(seen[0][0]), expected.bool())
    assert recon.shape == x.shape and _in_unit_range(recon.detach())
    assert caps.mu.shape == caps.logvar.shape == (4, 6, 4)
    assert caps.ctx_mu.shape == caps.ctx_logvar.shape == (4, 3)
    assert caps.kl.shape == (4, 6)


def test_forward_without_targets_uses_predicted_mask():
    model = _model(MC)
    x = _images(MC, 3, 0)
    _, caps, mask = model(x)
    assert torch.equal(mask, active_mask(caps.kl, "multiclass"))
    assert torch.equal(mask.sum(-1), torch.ones(3))
    _, _, forced = model(x, torch.tensor([3, 0, 1]))
    assert torch.equal(forced.argmax(-1), torch.tensor([3, 0, 1]))


def test_forward_reproducible_with_generator_seed():
    model = _model(ML)
    x = _images(ML, 2, 0)
    t = torch.tensor([[1, 0, 1], [0, 1, 0]])
    a = model(x, t, generator=torch.Generator().manual_seed(5))[0]
    b = model(x, t, generator=torch.Generator().manual_seed(5))[0]
    c = model(x, t, generator=torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_gradient_from_generator_output_reaches_encoder():
    model = _model(ML).train()
    recon, caps, _ = model(_images(ML, 2, 0), torch.tensor([[1, 0, 1], [0, 1, 0]]))
    recon.sum().backward()
    first_conv = model.encoder.features[0]
    for p in (model.encoder.head.weight, first_conv.weight, model.generator.fc[0].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_a_few_adam_steps_lower_the_loss():
    model = _model(ML).train()
    x = _images(ML, 8, 1)
    targets = (torch.rand((8, 3), generator=torch.Generator().manual_seed(2)) < 0.5).long()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def loss_at(step: int) -> torch.Tensor:
        recon, caps, mask = model(x, targets, generator=torch.Generator().manual_seed(step))
        margin = capsule_margin_loss(caps.kl, mask, margin=16.0, down_weight=0.5)
        return margin + reconstruction_loss(recon, x)

    with torch.no_grad():
        before = loss_at(0).item()
    for step in range(30):
        opt.zero_grad()
        loss_at(step).backward()
        opt.step()
    with torch.no_grad():
        after = loss_at(0).item()
    assert after < 0.7 * before, (before, after)


# ----------------------------------------------------------------------------------------------------
# predict


def test_predict_multilabel():
    states = [[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1]]
    x = _images(ML, 5, 0, states)
    p = ML_MODEL.predict(x)
    assert torch.equal(p.present, torch.tensor(states, dtype=torch.bool))
    for t in (p.present, p.score, p.kl_present, p.kl_absent):
        assert t.shape == (5, 3)
    assert p.present.dtype == torch.bool
    assert torch.all((p.score >= 0) & (p.score <= 1))
    assert torch.equal(p.present, p.kl_present <= p.kl_absent)
    assert torch.equal(p.score > 0.5, p.kl_present < p.kl_absent)
    kl = ML_MODEL.encode(x).kl
    assert torch.equal(p.kl_present, kl[:, 0::2]) and torch.equal(p.kl_absent, kl[:, 1::2])
    # the plain, untrained model: the same contract
    plain = _model(ML)
    p = plain.predict(x)
    assert torch.equal(p.present, p.kl_present <= p.kl_absent) and p.score.shape == (5, 3)


@pytest.mark.parametrize("model", [ML_MODEL, MC_MODEL], ids=["multilabel", "multiclass"])
def test_reconstruct_decodes_posterior_means_with_predicted_mask(model):
    x = _images(model.cfg, 3, 0)
    with generator_inputs(model) as seen:
        out = model.reconstruct(x)
    caps = model.encode(x)
    mask = active_mask(caps.kl, model.cfg.kind)
    assert torch.equal(seen[0][0], caps.mu * mask.unsqueeze(-1))
    assert torch.equal(seen[0][1], caps.ctx_mu)
    assert out.shape == x.shape


def test_predict_multiclass():
    x = _images(MC, 5, 0)
    p = MC_MODEL.predict(x)
    assert p.present.shape == p.score.shape == p.kl_present.shape == p.kl_absent.shape == (5, 4)
    assert p.present.dtype == torch.bool
    assert torch.equal(p.present.sum(-1), torch.ones(5, dtype=torch.long))
    assert torch.equal(p.present.float().argmax(-1), p.kl_present.argmin(-1))
    assert torch.isnan(p.kl_absent).all()
    torch.testing.assert_close(p.score.sum(-1), torch.ones(5))


# ----------------------------------------------------------------------------------------------------
# Every operation: shapes, range, seeds


OPS = ["reconstruct", "edit", "resample", "swap", "interpolate_attribute", "interpolate_image", "sample",
       "sample_states"]


@pytest.mark.parametrize("op", OPS)
def test_multilabel_operation_shapes_range_and_seeds(op):
    x, x_b = _images(ML, 2, 0), _images(ML, 2, 1)
    states = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    m = ML_MODEL
    ops = {  # name -> (fn(seed) -> images, expected batch, whether the seed matters)
        "reconstruct": (lambda s: m.reconstruct(x), 2, False),
        "edit": (lambda s: m.edit(x, set={"b": True}, resample=["a"], seed=s), 2, True),
        "resample": (lambda s: m.resample(x, "c", n=4, seed=s), 4, True),
        "swap": (lambda s: m.swap(x, x_b, ["a"]), 2, False),
        "interpolate_attribute": (lambda s: m.interpolate(x, 5, attribute="b", seed=s), 5, True),
        "interpolate_image": (lambda s: m.interpolate(x, 6, x_b=x_b), 6, False),
        "sample": (lambda s: m.sample({"a": True}, n=3, seed=s), 3, True),
        "sample_states": (lambda s: m.sample_states(states, seed=s), 3, True),
    }
    fn, batch, seeded = ops[op]
    first, again, other = fn(1), fn(1), fn(2)
    assert first.shape == (batch, 3, 16, 16)
    assert first.dtype == torch.float32
    assert _in_unit_range(first)
    assert torch.equal(first, again)
    assert torch.equal(first, other) != seeded


@pytest.mark.parametrize("op", OPS)
def test_multiclass_operation_shapes_range_and_seeds(op):
    x, x_b = _images(MC, 2, 0), _images(MC, 2, 1)
    current = int(MC_MODEL.predict(x[:1]).present[0].float().argmax())
    other_class = MC.capsule_names[(current + 1) % 4]
    m = MC_MODEL
    ops = {
        "reconstruct": (lambda s: m.reconstruct(x), 2, False),
        "edit": (lambda s: m.edit(x, set={other_class: True}, seed=s), 2, True),
        "resample": (lambda s: m.resample(x, "1", n=3, seed=s), 3, True),
        "swap": (lambda s: m.swap(x, x_b, ["2"]), 2, False),
        "interpolate_attribute": (lambda s: m.interpolate(x, 4, attribute=other_class, seed=s), 4, True),
        "interpolate_image": (lambda s: m.interpolate(x, 4, x_b=x_b), 4, False),
        "sample": (lambda s: m.sample({"3": True}, n=2, seed=s), 2, True),
        "sample_states": (lambda s: m.sample_states(torch.tensor([0, 3, 3]), seed=s), 3, True),
    }
    fn, batch, seeded = ops[op]
    first, again, other = fn(1), fn(1), fn(2)
    assert first.shape == (batch, 1, 28, 28)
    assert _in_unit_range(first)
    assert torch.equal(first, again)
    assert torch.equal(first, other) != seeded


# ----------------------------------------------------------------------------------------------------
# edit


@pytest.mark.parametrize("model", [ML_MODEL, MC_MODEL], ids=["multilabel", "multiclass"])
def test_edit_without_changes_equals_reconstruct(model):
    x = _images(model.cfg, 3, 0)
    rec = model.reconstruct(x)
    assert torch.equal(model.edit(x), rec)
    assert torch.equal(model.edit(x, set={}, resample=[], seed=9), rec)


def test_edit_to_current_state_equals_reconstruct_multilabel():
    x = _images(ML, 1, 0, [[1, 0, 1]])
    present = ML_MODEL.predict(x).present[0]
    same = {name: bool(on) for name, on in zip(ML.capsule_names, present, strict=True)}
    assert torch.equal(ML_MODEL.edit(x, set=same, seed=3), ML_MODEL.reconstruct(x))


def test_edit_to_current_class_equals_reconstruct_multiclass():
    x = _images(MC, 1, 0)
    current = MC.capsule_names[int(MC_MODEL.predict(x).present[0].float().argmax())]
    assert torch.equal(MC_MODEL.edit(x, set={current: True}, seed=3), MC_MODEL.reconstruct(x))


@pytest.mark.parametrize("on", [True, False])
def test_edit_flip_moves_only_that_pair(on):
    x = _images(ML, 3, 0, [[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        ML_MODEL.edit(x, set={"b": on}, seed=0)
    (rec, rec_ctx), (ed, ed_ctx) = seen
    new, old = (2, 3) if on else (3, 2)
    assert _active_rows(ed)[:, new].all()  # b in the asked state everywhere
    assert not _active_rows(ed)[:, old].any()
    keep = [0, 1, 4, 5]
    assert torch.equal(ed[:, keep], rec[:, keep])
    assert torch.equal(ed_ctx, rec_ctx)
    # images already in that state keep their capsule; the others get a prior draw
    had = torch.tensor([False, False, True]) == on
    assert torch.equal((ed[:, new] == rec[:, new]).all(-1), had)


def test_edit_multiclass_switches_class():
    x = _images(MC, 2, 0)
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.edit(x, set={"2": True}, seed=0)
    assert torch.equal(_active_rows(seen[0][0]), torch.tensor([[False, False, True, False]] * 2))
    with pytest.raises(ValueError):
        MC_MODEL.edit(x, set={"2": False})


# ----------------------------------------------------------------------------------------------------
# resample, swap, unknown names


@pytest.mark.parametrize("b_on", [True, False])
def test_resample_changes_only_that_attributes_capsule(b_on):
    x = _images(ML, 1, 0, [[1, int(b_on), 0]])
    slot = 2 if b_on else 3  # b's active capsule
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        out = ML_MODEL.resample(x, "b", n=4, seed=0)
    (rec, rec_ctx), (res, res_ctx) = seen
    assert out.shape == (4, 3, 16, 16)
    others = [k for k in range(6) if k != slot]
    torch.testing.assert_close(res[:, others], rec[:, others].expand(4, -1, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res_ctx, rec_ctx.expand(4, -1), rtol=1e-5, atol=1e-6)
    assert torch.equal(_active_rows(res), _active_rows(rec).expand(4, -1))  # same on/off states
    drawn = res[:, slot]
    assert (drawn - rec[:, slot]).abs().amax(-1).min() > 1e-3  # every draw is new
    assert torch.cdist(drawn, drawn).add(torch.eye(4)).min() > 1e-3  # and they differ from each other


def test_swap_takes_the_named_pair_from_b():
    x, x_b = _images(ML, 2, 0, [[1, 0, 1], [0, 1, 0]]), _images(ML, 2, 1, [[0, 1, 0], [1, 0, 1]])
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        ML_MODEL.reconstruct(x_b)
        ML_MODEL.swap(x, x_b, ["c"])
        ML_MODEL.swap(x, x_b[:1], ["a", "c"])
    (rec, rec_ctx), (rec_b, _), (sw, sw_ctx), (sw1, _) = seen
    assert torch.equal(sw[:, 4:], rec_b[:, 4:])
    assert torch.equal(sw[:, :4], rec[:, :4])
    assert torch.equal(sw_ctx, rec_ctx)
    assert not torch.equal(_active_rows(rec[:, 4:]), _active_rows(rec_b[:, 4:]))  # the states did move
    # a single b image is broadcast over the batch
    assert torch.equal(sw1[:, 0:2], rec_b[:1, 0:2].expand(2, -1, -1))
    assert torch.equal(sw1[:, 4:6], rec_b[:1, 4:6].expand(2, -1, -1))
    assert torch.equal(sw1[:, 2:4], rec[:, 2:4])


def test_swap_multiclass_takes_the_digit():
    x, x_b = _images(MC, 2, 0), _images(MC, 2, 1)
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.reconstruct(x_b)
        MC_MODEL.swap(x, x_b, ["1"])
    assert torch.equal(seen[1][0], seen[0][0])


@pytest.mark.parametrize("model", [ML_MODEL, MC_MODEL], ids=["multilabel", "multiclass"])
def test_unknown_names_raise_key_error(model):
    x = _images(model.cfg, 1, 0)
    calls = [
        lambda: model.index("nope"),
        lambda: model.edit(x, set={"nope": True}),
        lambda: model.edit(x, resample=["nope"]),
        lambda: model.resample(x, "nope", n=2),
        lambda: model.swap(x, x, ["nope"]),
        lambda: model.interpolate(x, 3, attribute="nope"),
        lambda: model.sample({"nope": True}),
    ]
    for call in calls:
        with pytest.raises(KeyError, match="nope"):
            call()


# ----------------------------------------------------------------------------------------------------
# interpolate, sample


@pytest.mark.parametrize("on", [True, False])
def test_interpolate_attribute_endpoints(on):
    x = _images(ML, 2, 0, [[int(on), 1, 0], [1, 1, 1]])
    frames = ML_MODEL.interpolate(x, 5, attribute="a", seed=4)
    assert frames.shape == (5, 3, 16, 16)
    torch.testing.assert_close(frames[:1], ML_MODEL.reconstruct(x[:1]), rtol=1e-5, atol=1e-6)
    flipped = ML_MODEL.edit(x[:1], set={"a": not on}, seed=4)
    torch.testing.assert_close(frames[-1:], flipped, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(frames[0], frames[-1])


def test_interpolate_images_endpoints():
    x, x_b = _images(ML, 1, 0), _images(ML, 1, 1)
    frames = ML_MODEL.interpolate(x, 4, x_b=x_b)
    torch.testing.assert_close(frames[:1], ML_MODEL.reconstruct(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(frames[-1:], ML_MODEL.reconstruct(x_b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        ML_MODEL.interpolate(x, 4)
    with pytest.raises(ValueError):
        ML_MODEL.interpolate(x, 4, attribute="a", x_b=x_b)


def test_mask_input_model_passes_the_mask():
    model = _model(dataclasses.replace(ML, mask_input=True))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = _images(ML, 2, 0, [[1, 0, 1], [0, 1, 1]])
    masks = []
    hook = model.generator.register_forward_pre_hook(lambda _m, args: masks.append(args[2].clone()))
    try:
        rec = model.reconstruct(x)
        assert torch.equal(model.edit(x, set={"c": True}), rec)
        model.edit(x, set={"a": False}, seed=0)
        frames = model.interpolate(x, 3, attribute="b", seed=0)
        model.sample_states(torch.tensor([[0, 0, 1]]), seed=0)
    finally:
        hook.remove()
    expected = targets_to_mask(torch.tensor([[1, 0, 1], [0, 1, 1]]), "multilabel", 6)
    assert torch.equal(masks[0], expected) and torch.equal(masks[1], expected)
    assert torch.equal(masks[2], targets_to_mask(torch.tensor([[0, 0, 1], [0, 1, 1]]), "multilabel", 6))
    assert torch.equal(masks[3][1], torch.tensor([1.0, 0, 0.5, 0.5, 1, 0]))  # soft mask half-way
    assert torch.equal(masks[4], torch.tensor([[0.0, 1, 0, 1, 1, 0]]))
    assert frames.shape == (3, 3, 16, 16) and _in_unit_range(frames)


def test_sample_fixes_the_given_attributes():
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.sample({"a": True, "b": False}, n=8, seed=0)
        ML_MODEL.sample_states(torch.tensor([[0, 1, 1], [1, 0, 0]]), seed=0)
    rows = _active_rows(seen[0][0])
    assert rows[:, 0].all() and not rows[:, 1].any()
    assert not rows[:, 2].any() and rows[:, 3].all()
    assert torch.equal(rows[:, 4] ^ rows[:, 5], torch.ones(8, dtype=torch.bool))  # c drawn, one of the pair
    assert seen[0][1].shape == (8, 3)
    assert torch.equal(_active_rows(seen[1][0]), targets_to_mask(torch.tensor([[0, 1, 1], [1, 0, 0]]),
                                                                  "multilabel", 6).bool())


def test_sample_uses_attribute_rates():
    model = VCN(dataclasses.replace(ML, attribute_rates=(1.0, 0.0, 1.0))).eval()
    with generator_inputs(model) as seen:
        model.sample(n=6, seed=0)
    assert torch.equal(_active_rows(seen[0][0]), torch.tensor([[True, False, False, True, True, False]] * 6))


def test_sample_multiclass():
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.sample({"3": True}, n=2, seed=0)
        MC_MODEL.sample(n=64, seed=0)
    assert torch.equal(_active_rows(seen[0][0]), torch.tensor([[False, False, False, True]] * 2))
    counts = _active_rows(seen[1][0]).sum(0)
    assert torch.equal(_active_rows(seen[1][0]).sum(-1), torch.ones(64, dtype=torch.long))
    assert (counts > 0).all()  # uniform over classes: all four show up in 64 draws
    with pytest.raises(ValueError):
        MC_MODEL.sample({"1": True, "2": True})


# ----------------------------------------------------------------------------------------------------
# Exclusive attributes (cfg.exclusive): "a" and "b" never together


def _exclusive_model() -> VCN:
    model = _model(dataclasses.replace(ML, exclusive=(("a", "b"),)))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    return model


def test_edit_switching_on_clears_the_exclusive_partner_unless_asked():
    model = _exclusive_model()
    x = _images(ML, 2, 0, [[0, 1, 1], [0, 0, 1]])  # b on in row 0
    with generator_inputs(model) as seen:
        model.edit(x, set={"a": True}, seed=0)
        model.edit(x, set={"a": True}, seed=0, resolve_conflicts=False)
        model.edit(x, set={"a": True, "b": True}, seed=0)  # asking for both keeps both
        model.edit(x, set={"a": False}, seed=0)  # switching off forces nothing
    on = [_active_rows(caps) for caps, _ in seen]
    assert on[0][:, 0].all() and not on[0][:, 2].any() and on[0][:, 3].all()  # a on, b off everywhere
    assert on[0][0].tolist() == [True, False, False, True, True, False]  # a on, b off, c kept
    assert on[1][0].tolist() == [True, False, True, False, True, False]  # the old behaviour: both on
    assert on[2][:, 0].all() and on[2][:, 2].all()
    assert on[3][0].tolist() == [False, True, True, False, True, False]


def test_interpolate_to_an_attribute_clears_its_partner_at_the_far_end():
    model = _exclusive_model()
    x = _images(ML, 1, 0, [[0, 1, 0]])
    with generator_inputs(model) as seen:
        model.interpolate(x, steps=2, attribute="a", seed=0)
    far = _active_rows(seen[0][0])[-1]
    assert far.tolist() == [True, False, False, True, False, True]


def test_sample_never_draws_an_exclusive_pair():
    model = VCN(dataclasses.replace(ML, attribute_rates=(0.9, 0.9, 0.5), exclusive=(("a", "b"),))).eval()
    with generator_inputs(model) as seen:
        model.sample(n=200, seed=0)
        model.sample({"b": True}, n=20, seed=0)
    drawn = _active_rows(seen[0][0])
    assert not (drawn[:, 0] & drawn[:, 2]).any()
    assert drawn[:, 0].any() and drawn[:, 2].any()  # both still occur, just never together
    asked = _active_rows(seen[1][0])
    assert asked[:, 2].all() and not asked[:, 0].any()  # the asked-for b wins over a drawn a


def test_config_rejects_exclusive_pairs_of_unknown_attributes():
    with pytest.raises(ValueError, match="unknown attributes: zz"):
        dataclasses.replace(ML, exclusive=(("a", "zz"),))
    cfg = dataclasses.replace(ML, exclusive=(["a", "b"],))  # JSON gives lists back
    assert cfg.exclusive == (("a", "b"),) and VCNConfig.from_json(cfg.to_json()) == cfg


# ----------------------------------------------------------------------------------------------------
# Edit strength: the mask change extrapolated, old + s * (new - old)


def test_edit_strength_extrapolates_what_a_mask_input_generator_reads():
    model = _model(dataclasses.replace(ML, mask_input=True))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = _images(ML, 2, 0, [[1, 0, 1], [0, 1, 1]])
    seen = []
    hook = model.generator.register_forward_pre_hook(lambda _m, args: seen.append((args[0].clone(), args[2].clone())))
    try:
        model.edit(x, set={"a": False}, seed=0)
        model.edit(x, set={"a": False}, seed=0, strength=1.5)
    finally:
        hook.remove()
    (caps1, read1), (caps15, read15) = seen
    assert torch.equal(caps15, caps1)  # the capsules are masked as at strength 1
    # row 0 switches a off: present slot 1 -> -0.5, absent slot 0 -> 1.5; row 1 was already off: unchanged
    assert torch.equal(read15[0], torch.tensor([-0.5, 1.5, 0, 1, 1, 0]))
    assert torch.equal(read15[1], read1[1])


def test_edit_strength_scales_the_capsule_mask_of_a_pure_paper_model_and_defaults_from_the_config():
    model = _model(dataclasses.replace(ML, edit_strength=2.0))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = _images(ML, 1, 0, [[0, 0, 1]])
    with generator_inputs(model) as seen:
        model.edit(x, set={"b": True}, seed=4)  # the config's 2.0
        model.edit(x, set={"b": True}, seed=4, strength=1.0)
    (caps2, _), (caps1, _) = seen
    assert torch.allclose(caps2[0, 2], 2 * caps1[0, 2])  # b present: new capsule at weight 2
    assert torch.allclose(caps2[0, 3], -model.encode(x).mu[0, 3])  # the old b-absent capsule at weight 1 - 2
    with pytest.raises(ValueError, match="edit_strength"):
        dataclasses.replace(ML, edit_strength=0.0)


def test_calibrated_strengths_push_each_attribute_by_its_own_and_a_number_overrides_them():
    cfg = dataclasses.replace(ML, mask_input=True, attribute_strength=(1.0, 2.0, 1.0))
    model = _model(cfg)
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = _images(ML, 1, 0, [[1, 0, 1]])
    seen = []
    hook = model.generator.register_forward_pre_hook(lambda _m, args: seen.append(args[2].clone()))
    try:
        model.edit(x, set={"a": False, "b": True}, seed=0)  # a at 1, b at 2
        model.edit(x, set={"a": False, "b": True}, seed=0, strength=1.0)  # a number: every capsule alike
    finally:
        hook.remove()
    calibrated, plain = seen
    # slots (present, absent) per name: a 1 -> 0 at strength 1; b 0 -> 1 at strength 2: 2 and -1; c untouched
    assert torch.equal(calibrated[0], torch.tensor([0.0, 1.0, 2.0, -1.0, 1.0, 0.0]))
    assert torch.equal(plain[0], torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0]))
    assert VCNConfig.from_json(cfg.to_json()) == cfg
    for bad in [(1.0, 2.0), (1.0, 0.0, 1.0), (1.0, 5.0, 1.0)]:
        with pytest.raises(ValueError, match="attribute_strength"):
            dataclasses.replace(ML, attribute_strength=bad)
