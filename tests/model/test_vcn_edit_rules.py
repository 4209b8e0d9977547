"""model/vcn.py's edit rules on tiny untrained models: exclusive attribute partners (cfg.exclusive) and edit
strength (cfg.edit_strength, cfg.attribute_strength, the `strength` argument). Helpers: vcn_inputs.py."""

import dataclasses

import pytest
import torch
from vcn_inputs import MC, ML, ChosenStates, active_rows, generator_inputs, in_row_order, state_images, tiny_model

from model.config import VCNConfig
from model.vcn import VCN, blend_edit

# ----------------------------------------------------------------------------------------------------
# Exclusive attributes (cfg.exclusive): "a" and "b" never together


def _exclusive_model() -> VCN:
    model = tiny_model(dataclasses.replace(ML, exclusive=(("a", "b"),)))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    return model


def test_edit_switching_on_clears_the_exclusive_partner_unless_asked():
    model = _exclusive_model()
    x = state_images(ML, 2, 0, [[0, 1, 1], [0, 0, 1]])  # b on in row 0
    with generator_inputs(model) as seen:
        model.edit(x, set={"a": True}, seed=0)
        model.edit(x, set={"a": True}, seed=0, resolve_conflicts=False)
        model.edit(x, set={"a": True, "b": True}, seed=0)  # asking for both keeps both
        model.edit(x, set={"a": False}, seed=0)  # switching off forces nothing
    on = [active_rows(caps) for caps, _ in seen]
    assert on[0][:, 0].all() and not on[0][:, 2].any() and on[0][:, 3].all()  # a on, b off everywhere
    assert on[0][0].tolist() == [True, False, False, True, True, False]  # a on, b off, c kept
    assert on[1][0].tolist() == [True, False, True, False, True, False]  # the old behaviour: both on
    assert on[2][:, 0].all() and on[2][:, 2].all()
    assert on[3][0].tolist() == [False, True, True, False, True, False]


def test_swap_taking_an_attribute_on_clears_its_exclusive_partner_unless_taken_too():
    model = _exclusive_model()
    x = state_images(ML, 2, 0, [[0, 1, 1], [0, 1, 0]])  # b on in both
    x_b = state_images(ML, 2, 1, [[1, 0, 0], [0, 1, 1]])  # a donor with a on, one with a off
    on = []
    for names, resolve in ((["a"], True), (["a"], False), (["a", "b"], True)):
        with generator_inputs(model) as seen:
            model.swap(x, x_b, names, resolve_conflicts=resolve)
        on.append(active_rows(in_row_order(seen, [True, False])[0]))  # row 1 keeps its states: decoded apart
    assert on[0].tolist() == [[True, False, False, True, True, False],  # a taken on, b switched off, c kept
                              [False, True, True, False, False, True]]  # a taken off: nothing forced
    assert on[1][0].tolist() == [True, False, True, False, True, False]  # unresolved: both on
    assert on[2][0].tolist() == [True, False, False, True, True, False]  # both taken: the donor's own b


def test_interpolate_to_an_attribute_clears_its_partner_at_the_far_end():
    model = _exclusive_model()
    x = state_images(ML, 1, 0, [[0, 1, 0]])
    with generator_inputs(model) as seen:
        model.interpolate(x, steps=2, attribute="a", seed=0)
    far = active_rows(seen[0][0])[-1]
    assert far.tolist() == [True, False, False, True, False, True]


def test_sample_never_draws_an_exclusive_pair():
    model = VCN(dataclasses.replace(ML, attribute_rates=(0.9, 0.9, 0.5), exclusive=(("a", "b"),))).eval()
    with generator_inputs(model) as seen:
        model.sample(n=200, seed=0)
        model.sample({"b": True}, n=20, seed=0)
    drawn = active_rows(seen[0][0])
    assert not (drawn[:, 0] & drawn[:, 2]).any()
    assert drawn[:, 0].any() and drawn[:, 2].any()  # both still occur, just never together
    asked = active_rows(seen[1][0])
    assert asked[:, 2].all() and not asked[:, 0].any()  # the asked-for b wins over a drawn a


def test_config_rejects_exclusive_pairs_of_unknown_attributes():
    with pytest.raises(ValueError, match="unknown attributes: zz"):
        dataclasses.replace(ML, exclusive=(("a", "zz"),))
    cfg = dataclasses.replace(ML, exclusive=(["a", "b"],))  # JSON gives lists back
    assert cfg.exclusive == (("a", "b"),) and VCNConfig.from_json(cfg.to_json()) == cfg


# ----------------------------------------------------------------------------------------------------
# Edit strength: the mask change extrapolated, old + s * (new - old)


def test_edit_strength_extrapolates_what_a_mask_input_generator_reads():
    model = tiny_model(dataclasses.replace(ML, mask_input=True))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = state_images(ML, 2, 0, [[1, 0, 1], [0, 1, 1]])
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


def test_interpolating_an_attribute_ends_at_the_edits_strength():
    """The frames slide what the generator reads as the mask from the face's own to the edit's strength (the
    calibrated one by default), the capsules masked as at strength 1: the last frame is the edit."""
    cfg = dataclasses.replace(ML, mask_input=True, attribute_strength=(2.0, 1.0, 1.0))
    model = tiny_model(cfg)
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = state_images(ML, 1, 0, [[1, 0, 1]])
    seen = []
    hook = model.generator.register_forward_pre_hook(lambda _m, args: seen.append((args[0].clone(), args[2].clone())))
    try:
        model.interpolate(x, 3, attribute="a", seed=0)
        model.interpolate(x, 3, attribute="a", seed=0, strength=1.0)
        model.edit(x, set={"a": False}, seed=0, strength=2.0)
    finally:
        hook.remove()
    (caps, reads), (caps1, reads1), (_, edit_reads) = seen
    assert torch.equal(caps, caps1)  # the capsules are masked as at strength 1
    assert torch.equal(reads[0], torch.tensor([1.0, 0, 0, 1, 1, 0]))  # the face as it is
    assert torch.equal(reads[1], torch.tensor([0.0, 1, 0, 1, 1, 0]))  # halfway: a's calibrated 2 x 0.5
    assert torch.equal(reads[2], torch.tensor([-1.0, 2, 0, 1, 1, 0])) and torch.equal(reads[2], edit_reads[0])
    assert torch.equal(reads1[2], torch.tensor([0.0, 1, 0, 1, 1, 0]))  # an explicit strength wins


def test_edit_strength_scales_the_capsule_mask_of_a_pure_paper_model_and_defaults_from_the_config():
    model = tiny_model(dataclasses.replace(ML, edit_strength=2.0))
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = state_images(ML, 1, 0, [[0, 0, 1]])
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
    model = tiny_model(cfg)
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    x = state_images(ML, 1, 0, [[1, 0, 1]])
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


# ----------------------------------------------------------------------------------------------------
# Blending an edit into the reconstruction (cfg.edit_blend, vcn.blend_edit)


def test_blend_keeps_large_local_changes_and_fades_faint_drift():
    recon = torch.full((1, 3, 16, 16), 0.5)
    edited = recon + 0.01  # a faint drift everywhere ...
    edited[:, :, 4:10, 4:10] = 1.0  # ... and a strong local change
    out = blend_edit(edited, recon, threshold=0.05)
    assert torch.allclose(out[:, :, 5:9, 5:9], edited[:, :, 5:9, 5:9])  # inside: the edit as it is
    far = out[:, :, 14:, 14:] - recon[:, :, 14:, 14:]
    assert torch.allclose(far, torch.full_like(far, 0.01 * 0.01 / 0.05))  # outside: 1/5 of the drift
    assert torch.equal(blend_edit(recon, recon, 0.05), recon)
    # Pasted (base = the input): the same weights, the input instead of the reconstruction where the edit is faint.
    base = torch.full_like(recon, 0.7)
    pasted = blend_edit(edited, recon, threshold=0.05, base=base)
    assert torch.allclose(pasted[:, :, 5:9, 5:9], edited[:, :, 5:9, 5:9])
    assert torch.allclose(pasted[:, :, 14:, 14:], torch.full((1, 3, 2, 2), 0.7 + 0.2 * (0.51 - 0.7)))


@pytest.mark.parametrize("paste", [False, True])
def test_an_edit_with_blend_is_the_plain_edit_blended_into_the_reconstruction_or_pasted_onto_the_input(paste):
    plain = _exclusive_model()
    blended = tiny_model(dataclasses.replace(ML, exclusive=(("a", "b"),), edit_blend=0.05))
    blended.encoder = plain.encoder
    x = state_images(ML, 3, 0, [[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    for strength in (1.0, 2.0):
        expected = blend_edit(plain.edit(x, {"a": True}, seed=4, strength=strength), plain.reconstruct(x), 0.05,
                              base=x if paste else None)
        got = blended.edit(x, {"a": True}, seed=4, strength=strength, paste=paste)
        assert torch.allclose(got, expected, atol=1e-5)
        other = blended.edit(x, {"a": True}, seed=4, strength=strength, paste=not paste)
        assert not torch.allclose(got, other, atol=1e-3)
    # A style resample is meant to change the picture: not blended into the reconstruction, but pasted when asked.
    resampled = plain.edit(x, resample=["c"], seed=4)
    expected = blend_edit(resampled, plain.reconstruct(x), 0.05, base=x) if paste else resampled
    assert torch.allclose(blended.edit(x, resample=["c"], seed=4, paste=paste), expected, atol=1e-6)
    assert torch.equal(blended.resample(x[:1], "c", 3, seed=4, paste=paste),
                       blended.edit(x[:1].expand(3, -1, -1, -1), resample=["c"], seed=4, paste=paste))


def test_only_a_model_that_blends_its_edits_pastes_them():
    x = state_images(ML, 3, 0, [[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="edit_blend"):
        _exclusive_model().edit(x, {"a": True}, seed=4, paste=True)


# ----------------------------------------------------------------------------------------------------
# One `set` per image (the server batches edits that differ only in what they set)


@pytest.mark.parametrize("kind", ["multilabel", "multiclass"])
def test_each_image_of_a_batch_is_edited_with_its_own_set_as_if_alone(kind):
    if kind == "multilabel":  # exclusive partners switched off and a blend (the shipped file, with its maps and
        # bank, is checked through the server in tests/app/test_batching.py)
        model = _exclusive_model()
        model.cfg = dataclasses.replace(model.cfg, edit_blend=0.05)
        x = state_images(ML, 4, 0, [[0, 1, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
        asks = [{"a": True}, {"c": False}, {"a": True}, {"b": False, "c": True}]
    else:
        model = tiny_model(MC)
        x = state_images(MC, 4, 0)
        asks = [{"3": True}, {"1": True}, {"3": True}, {"0": True}]
    seeds = [11, 12, 13, 14]
    alone = torch.cat([model.edit(x[i : i + 1], ask, seed=[seeds[i]]) for i, ask in enumerate(asks)])
    torch.testing.assert_close(model.edit(x, asks, seed=seeds), alone, atol=2e-5, rtol=0)
    # one ask for all, given per image, is the same edit as given once
    same = [asks[0]] * 4
    torch.testing.assert_close(model.edit(x, same, seed=seeds), model.edit(x, asks[0], seed=seeds), atol=0, rtol=0)


def test_swaps_and_interpolations_are_pasted_onto_the_input_when_asked():
    plain = _exclusive_model()
    blended = tiny_model(dataclasses.replace(ML, exclusive=(("a", "b"),), edit_blend=0.05))
    blended.encoder = plain.encoder
    x = state_images(ML, 3, 0, [[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    x_b = state_images(ML, 3, 1, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    swapped = plain.swap(x, x_b, ["a", "c"])
    recon = plain.reconstruct(x)  # a swap is blended into the reconstruction, as an edit is, unless pasted
    torch.testing.assert_close(blended.swap(x, x_b, ["a", "c"]), blend_edit(swapped, recon, 0.05), atol=1e-5, rtol=0)
    torch.testing.assert_close(blended.swap(x, x_b, ["a", "c"], paste=True),
                               blend_edit(swapped, plain.reconstruct(x), 0.05, base=x), atol=1e-5, rtol=0)
    frames = plain.interpolate(x[:1], 5, attribute="a", seed=2)
    pasted = blended.interpolate(x[:1], 5, attribute="a", seed=2, paste=True)
    torch.testing.assert_close(pasted, blend_edit(frames, plain.reconstruct(x[:1]).expand_as(frames), 0.05,
                                                  base=x[:1].expand_as(frames)), atol=1e-5, rtol=0)
    torch.testing.assert_close(pasted[0], x[0], atol=1e-4, rtol=0)  # the first frame is the image itself
    for refused in (lambda: plain.swap(x, x_b, ["a"], paste=True),
                    lambda: plain.interpolate(x[:1], 3, attribute="a", paste=True)):
        with pytest.raises(ValueError, match="edit_blend"):
            refused()
