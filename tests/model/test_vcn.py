"""model/vcn.py: the training pass and every inference operation, on tiny untrained models.

What the generator is asked to draw is checked directly: a forward pre-hook on model.generator records
the masked capsules (B, K, D) and the context (B, Dc) it receives. An untrained encoder calls every
attribute present for every image, so the multilabel model used for the operations wraps its real
encoder in ChosenStates: the test picks each image's on/off states through one pixel per attribute.
Those helpers live in vcn_inputs.py; the edit rules (exclusive partners, strength) in test_vcn_edit_rules.py.
"""

import dataclasses

import pytest
import torch
from vcn_inputs import MC, ML, ChosenStates, active_rows, generator_inputs, in_row_order, state_images, tiny_model

from model.capsules import active_mask, targets_to_mask
from model.losses import capsule_margin_loss, reconstruction_loss
from model.vcn import VCN

# Shared by the inference tests (they only read the models; training tests build their own).
ML_MODEL = tiny_model(ML)
ML_MODEL.encoder = ChosenStates(ML_MODEL.encoder, ML.num_names)
MC_MODEL = tiny_model(MC)


def _in_unit_range(img: torch.Tensor) -> bool:
    return bool(torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1)


# ----------------------------------------------------------------------------------------------------
# Training pass


def test_forward_teacher_forcing_uses_target_mask():
    model = tiny_model(ML).train()
    x = state_images(ML, 4, 0)
    targets = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    with generator_inputs(model) as seen:
        recon, caps, mask = model(x, targets, generator=torch.Generator().manual_seed(0))
    expected = targets_to_mask(targets, "multilabel", 6)
    assert torch.equal(mask, expected)
    assert torch.equal(active_rows(seen[0][0]), expected.bool())
    assert recon.shape == x.shape and _in_unit_range(recon.detach())
    assert caps.mu.shape == caps.logvar.shape == (4, 6, 4)
    assert caps.ctx_mu.shape == caps.ctx_logvar.shape == (4, 3)
    assert caps.kl.shape == (4, 6)


def test_forward_without_targets_uses_predicted_mask():
    model = tiny_model(MC)
    x = state_images(MC, 3, 0)
    _, caps, mask = model(x)
    assert torch.equal(mask, active_mask(caps.kl, "multiclass"))
    assert torch.equal(mask.sum(-1), torch.ones(3))
    _, _, forced = model(x, torch.tensor([3, 0, 1]))
    assert torch.equal(forced.argmax(-1), torch.tensor([3, 0, 1]))


def test_forward_reproducible_with_generator_seed():
    model = tiny_model(ML)
    x = state_images(ML, 2, 0)
    t = torch.tensor([[1, 0, 1], [0, 1, 0]])
    a = model(x, t, generator=torch.Generator().manual_seed(5))[0]
    b = model(x, t, generator=torch.Generator().manual_seed(5))[0]
    c = model(x, t, generator=torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_gradient_from_generator_output_reaches_encoder():
    model = tiny_model(ML).train()
    recon, caps, _ = model(state_images(ML, 2, 0), torch.tensor([[1, 0, 1], [0, 1, 0]]))
    recon.sum().backward()
    first_conv = model.encoder.features[0]
    for p in (model.encoder.head.weight, first_conv.weight, model.generator.fc[0].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_a_few_adam_steps_lower_the_loss():
    model = tiny_model(ML).train()
    x = state_images(ML, 8, 1)
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
    x = state_images(ML, 5, 0, states)
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
    plain = tiny_model(ML)
    p = plain.predict(x)
    assert torch.equal(p.present, p.kl_present <= p.kl_absent) and p.score.shape == (5, 3)


@pytest.mark.parametrize("model", [ML_MODEL, MC_MODEL], ids=["multilabel", "multiclass"])
def test_reconstruct_decodes_posterior_means_with_predicted_mask(model):
    x = state_images(model.cfg, 3, 0)
    with generator_inputs(model) as seen:
        out = model.reconstruct(x)
    caps = model.encode(x)
    mask = active_mask(caps.kl, model.cfg.kind)
    assert torch.equal(seen[0][0], caps.mu * mask.unsqueeze(-1))
    assert torch.equal(seen[0][1], caps.ctx_mu)
    assert out.shape == x.shape


def test_predict_multiclass():
    x = state_images(MC, 5, 0)
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
    x, x_b = state_images(ML, 2, 0), state_images(ML, 2, 1)
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
    x, x_b = state_images(MC, 2, 0), state_images(MC, 2, 1)
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
    x = state_images(model.cfg, 3, 0)
    rec = model.reconstruct(x)
    assert torch.equal(model.edit(x), rec)
    assert torch.equal(model.edit(x, set={}, resample=[], seed=9), rec)


def test_edit_to_current_state_equals_reconstruct_multilabel():
    x = state_images(ML, 1, 0, [[1, 0, 1]])
    present = ML_MODEL.predict(x).present[0]
    same = {name: bool(on) for name, on in zip(ML.capsule_names, present, strict=True)}
    assert torch.equal(ML_MODEL.edit(x, set=same, seed=3), ML_MODEL.reconstruct(x))


def test_edit_to_current_class_equals_reconstruct_multiclass():
    x = state_images(MC, 1, 0)
    current = MC.capsule_names[int(MC_MODEL.predict(x).present[0].float().argmax())]
    assert torch.equal(MC_MODEL.edit(x, set={current: True}, seed=3), MC_MODEL.reconstruct(x))


@pytest.mark.parametrize("on", [True, False])
def test_edit_flip_moves_only_that_pair(on):
    x = state_images(ML, 3, 0, [[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        ML_MODEL.edit(x, set={"b": on}, seed=0)
    (rec, rec_ctx), (ed, ed_ctx) = seen
    new, old = (2, 3) if on else (3, 2)
    assert active_rows(ed)[:, new].all()  # b in the asked state everywhere
    assert not active_rows(ed)[:, old].any()
    keep = [0, 1, 4, 5]
    assert torch.equal(ed[:, keep], rec[:, keep])
    assert torch.equal(ed_ctx, rec_ctx)
    # images already in that state keep their capsule; the others get a prior draw
    had = torch.tensor([False, False, True]) == on
    assert torch.equal((ed[:, new] == rec[:, new]).all(-1), had)


def test_edit_multiclass_switches_class():
    x = state_images(MC, 2, 0)
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.edit(x, set={"2": True}, seed=0)
    assert torch.equal(active_rows(seen[0][0]), torch.tensor([[False, False, True, False]] * 2))
    with pytest.raises(ValueError):
        MC_MODEL.edit(x, set={"2": False})


# ----------------------------------------------------------------------------------------------------
# resample, swap, unknown names


@pytest.mark.parametrize("b_on", [True, False])
def test_resample_changes_only_that_attributes_capsule(b_on):
    x = state_images(ML, 1, 0, [[1, int(b_on), 0]])
    slot = 2 if b_on else 3  # b's active capsule
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        out = ML_MODEL.resample(x, "b", n=4, seed=0)
    (rec, rec_ctx), (res, res_ctx) = seen
    assert out.shape == (4, 3, 16, 16)
    others = [k for k in range(6) if k != slot]
    torch.testing.assert_close(res[:, others], rec[:, others].expand(4, -1, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res_ctx, rec_ctx.expand(4, -1), rtol=1e-5, atol=1e-6)
    assert torch.equal(active_rows(res), active_rows(rec).expand(4, -1))  # same on/off states
    drawn = res[:, slot]
    assert (drawn - rec[:, slot]).abs().amax(-1).min() > 1e-3  # every draw is new
    assert torch.cdist(drawn, drawn).add(torch.eye(4)).min() > 1e-3  # and they differ from each other


def test_swap_takes_the_named_pair_from_b():
    x, x_b = state_images(ML, 2, 0, [[1, 0, 1], [0, 1, 0]]), state_images(ML, 2, 1, [[0, 1, 0], [1, 0, 1]])
    with generator_inputs(ML_MODEL) as seen:
        ML_MODEL.reconstruct(x)
        ML_MODEL.reconstruct(x_b)
        ML_MODEL.swap(x, x_b, ["c"])
        ML_MODEL.swap(x, x_b[:1], ["a", "c"])
    (rec, rec_ctx), (rec_b, _), (sw, sw_ctx), *restyled = seen
    sw1 = in_row_order(restyled, [True, False])[0]  # row 1 already has b's a and c: only restyled, decoded apart
    assert torch.equal(sw[:, 4:], rec_b[:, 4:])
    assert torch.equal(sw[:, :4], rec[:, :4])
    assert torch.equal(sw_ctx, rec_ctx)
    assert not torch.equal(active_rows(rec[:, 4:]), active_rows(rec_b[:, 4:]))  # the states did move
    # a single b image is broadcast over the batch
    assert torch.equal(sw1[:, 0:2], rec_b[:1, 0:2].expand(2, -1, -1))
    assert torch.equal(sw1[:, 4:6], rec_b[:1, 4:6].expand(2, -1, -1))
    assert torch.equal(sw1[:, 2:4], rec[:, 2:4])


def test_swap_multiclass_takes_the_digit():
    x, x_b = state_images(MC, 2, 0), state_images(MC, 2, 1)
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.reconstruct(x)
        MC_MODEL.reconstruct(x_b)
        MC_MODEL.swap(x, x_b, ["1"])
    (rec, _), (rec_b, _), *swapped = seen
    moved = (active_rows(rec) != active_rows(rec_b)).any(1).tolist()
    assert torch.equal(in_row_order(swapped, moved)[0], rec_b)


@pytest.mark.parametrize("model", [ML_MODEL, MC_MODEL], ids=["multilabel", "multiclass"])
def test_unknown_names_raise_key_error(model):
    x = state_images(model.cfg, 1, 0)
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
    x = state_images(ML, 2, 0, [[int(on), 1, 0], [1, 1, 1]])
    frames = ML_MODEL.interpolate(x, 5, attribute="a", seed=4)
    assert frames.shape == (5, 3, 16, 16)
    torch.testing.assert_close(frames[:1], ML_MODEL.reconstruct(x[:1]), rtol=1e-5, atol=1e-6)
    flipped = ML_MODEL.edit(x[:1], set={"a": not on}, seed=4)
    torch.testing.assert_close(frames[-1:], flipped, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(frames[0], frames[-1])


def test_interpolate_images_endpoints():
    x, x_b = state_images(ML, 1, 0), state_images(ML, 1, 1)
    frames = ML_MODEL.interpolate(x, 4, x_b=x_b)
    torch.testing.assert_close(frames[:1], ML_MODEL.reconstruct(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(frames[-1:], ML_MODEL.reconstruct(x_b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        ML_MODEL.interpolate(x, 4)
    with pytest.raises(ValueError):
        ML_MODEL.interpolate(x, 4, attribute="a", x_b=x_b)


def test_mask_input_model_passes_the_mask():
    model = tiny_model(dataclasses.replace(ML, mask_input=True))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = state_images(ML, 2, 0, [[1, 0, 1], [0, 1, 1]])
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
    rows = active_rows(seen[0][0])
    assert rows[:, 0].all() and not rows[:, 1].any()
    assert not rows[:, 2].any() and rows[:, 3].all()
    assert torch.equal(rows[:, 4] ^ rows[:, 5], torch.ones(8, dtype=torch.bool))  # c drawn, one of the pair
    assert seen[0][1].shape == (8, 3)
    assert torch.equal(active_rows(seen[1][0]), targets_to_mask(torch.tensor([[0, 1, 1], [1, 0, 0]]),
                                                                  "multilabel", 6).bool())


def test_sample_uses_attribute_rates():
    model = VCN(dataclasses.replace(ML, attribute_rates=(1.0, 0.0, 1.0))).eval()
    with generator_inputs(model) as seen:
        model.sample(n=6, seed=0)
    assert torch.equal(active_rows(seen[0][0]), torch.tensor([[True, False, False, True, True, False]] * 6))


def test_sample_multiclass():
    with generator_inputs(MC_MODEL) as seen:
        MC_MODEL.sample({"3": True}, n=2, seed=0)
        MC_MODEL.sample(n=64, seed=0)
    assert torch.equal(active_rows(seen[0][0]), torch.tensor([[False, False, False, True]] * 2))
    counts = active_rows(seen[1][0]).sum(0)
    assert torch.equal(active_rows(seen[1][0]).sum(-1), torch.ones(64, dtype=torch.long))
    assert (counts > 0).all()  # uniform over classes: all four show up in 64 draws
    with pytest.raises(ValueError):
        MC_MODEL.sample({"1": True, "2": True})
