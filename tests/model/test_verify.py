"""model/verify.py: verified edits stop at the first strength the embedded reader believes."""

import dataclasses

import pytest
import torch
from torch import nn
from vcn_inputs import MC, ML, ChosenStates, state_images, tiny_model

from model.checkpoint import load_vcn, save_vcn
from model.oracle import Oracle, OracleConfig
from model.verify import best_draw, states_agreement, target_confidence, verified_tries, with_verifier

READER = OracleConfig(image_size=16, attribute_names=("a", "b", "c"), nuisance_names=("hue",), width=2, feature_dim=8)
STATES = [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0]]


class FixedLogits(nn.Module):
    """A verifier stub: the same attribute logits for every image, or logits from a function of the images."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def attribute_logits(self, x):
        return self.logits(x) if callable(self.logits) else self.logits.expand(len(x), -1)


def test_target_confidence_is_the_least_sure_of_the_set_states():
    logits = torch.logit(torch.tensor([[0.9, 0.2, 0.6]]))
    got = target_confidence(FixedLogits(logits), torch.zeros(2, 3, 4, 4), ("a", "b", "c"), {"a": True, "b": False})
    assert torch.allclose(got, torch.tensor([0.8, 0.8]))  # min(0.9, 1 - 0.2)
    one = target_confidence(FixedLogits(logits), torch.zeros(1, 3, 4, 4), ("a", "b", "c"), {"c": False})
    assert torch.allclose(one, torch.tensor([0.4]))


def test_verified_tries_decode_later_stages_only_for_the_unconvinced_and_keep_the_first_sure():
    confidence = {1.0: [0.2, 0.99, 0.1, 0.5, 0.3], 1.5: [0.995, None, 0.3, 0.5, 0.999],
                  3.0: [0.999, None, 0.6, 0.5, 0.2]}
    calls = []

    def decode(rows, strengths):  # pixel 0 of row i's image at strength s is s, pixel 1 is i
        calls.append((list(strengths), rows.tolist()))
        return torch.stack([torch.stack([torch.full((len(rows),), s), rows.float()], 1) for s in strengths]
                           ).view(len(strengths), -1, 1, 1, 2)

    read_rows = []

    def read(rows, images):
        read_rows.append(rows.tolist())
        return torch.tensor([confidence[float(s)][int(i)] for s, i in images.view(-1, 2).tolist()])

    out, sure, chosen = verified_tries(5, [[1.0], [1.5, 3.0]], decode, read, threshold=0.99)
    assert calls == [([1.0], [0, 1, 2, 3, 4]), ([1.5, 3.0], [0, 2, 3, 4])]
    assert read_rows == [rows for _, rows in calls]  # the reader is told whose tries it reads
    # 0: sure at 1.5 (3.0 is surer, but later); 1: sure at 1; 2: never sure, its most convincing try (3.0);
    # 3: all equal, the earliest; 4: sure at 1.5
    assert out.view(-1, 2).tolist() == [[1.5, 0.0], [1.0, 1.0], [3.0, 2.0], [1.0, 3.0], [1.5, 4.0]]
    assert torch.allclose(sure, torch.tensor([0.995, 0.99, 0.6, 0.5, 0.999]))  # each chosen try's confidence
    assert chosen.tolist() == [1, 0, 2, 0, 1]  # which try, over the stages' strengths 1, 1.5, 3


def _verified(confidence: float = 0.99):
    """A tiny attribute model with chosen states, transfer-free, verified at strengths 1 and 2 over an
    edit_strength of 3."""
    model = tiny_model(dataclasses.replace(ML, edit_strength=3.0, edit_blend=0.05))
    out = with_verifier(model, Oracle(READER).eval(), (1.0, 2.0), confidence)
    out.encoder = ChosenStates(out.encoder, ML.num_names)
    return out


def test_a_verified_edit_is_the_first_ladder_strength_the_verifier_believes():
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    at = {s: model.edit(x, {"a": True}, seed=5, strength=s) for s in (1.0, 2.0, 3.0)}  # explicit: never verified
    assert not torch.equal(at[1.0], at[3.0])

    model.verifier = FixedLogits(torch.full((1, 3), 10.0))  # sure of everything: the first rung
    assert torch.equal(model.edit(x, {"a": True}, seed=5), at[1.0])
    model.verifier = FixedLogits(torch.full((1, 3), -10.0))  # sure "a" is off: the most convincing, all ties
    assert torch.equal(model.edit(x, {"a": True}, seed=5), at[1.0])

    # Believes an image unless it is one of the strength-1 edits: strength 2 wins.
    def sure_past_one(images):
        far = (images.unsqueeze(1) - at[1.0].unsqueeze(0)).abs().flatten(2).amax(2).amin(1) > 1e-6
        return torch.where(far, 10.0, -10.0).unsqueeze(1).expand(-1, 3)

    model.verifier = FixedLogits(sure_past_one)
    assert torch.equal(model.edit(x, {"a": True}, seed=5), at[2.0])


def test_an_interpolation_to_an_attribute_ends_at_the_first_rung_the_verifier_believes():
    model = _verified()
    x = state_images(ML, 1, seed=3, states=[[0, 1, 0]])
    at = {s: model.interpolate(x, 3, attribute="a", seed=5, strength=s) for s in (1.0, 2.0, 3.0)}  # never verified
    assert not torch.equal(at[1.0][-1], at[2.0][-1]) and torch.equal(at[1.0][0], at[2.0][0])
    model.verifier = FixedLogits(torch.full((1, 3), 10.0))  # sure of everything: the first rung
    assert torch.equal(model.interpolate(x, 3, attribute="a", seed=5), at[1.0])
    model.verifier = FixedLogits(torch.full((1, 3), -10.0))  # sure "a" is off: the most convincing, all ties
    assert torch.equal(model.interpolate(x, 3, attribute="a", seed=5), at[1.0])

    def sure_past_one(images):  # believes any last frame but the strength-1 one
        far = (images - at[1.0][-1:]).abs().flatten(1).amax(1) > 1e-4
        return torch.where(far, 10.0, -10.0).unsqueeze(1).expand(-1, 3)

    model.verifier = FixedLogits(sure_past_one)
    assert torch.equal(model.interpolate(x, 3, attribute="a", seed=5), at[2.0])
    assert torch.equal(model.interpolate(x, 3, attribute="a", seed=5, strength=3.0), at[3.0])  # explicit: as asked


def test_a_swap_is_verified_against_the_donors_states():
    """A swap is an edit to the donor's states: the first ladder strength the verifier believes shows them."""
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)  # a: 0 1 0 1
    x_b = state_images(ML, 4, seed=4, states=[[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])  # a: 1 1 0 0
    at = {s: model.swap(x, x_b, ["a"], strength=s) for s in (1.0, 2.0)}  # explicit: never verified
    assert not torch.equal(at[1.0][0], at[2.0][0])  # row 0 switches a on: the strength tells
    model.verifier = FixedLogits(torch.full((1, 3), 10.0))  # sure of everything: the first rung
    assert torch.equal(model.swap(x, x_b, ["a"]), at[1.0])

    # Reads "a" on in the strength-1 swaps and off in anything else: donors with a on stop at 1, the rest go to 2.
    def a_on_at_one(images):
        one = (images.unsqueeze(1) - at[1.0].unsqueeze(0)).abs().flatten(2).amax(2).amin(1) < 1e-6
        return torch.where(one, 10.0, -10.0).unsqueeze(1).expand(-1, 3)

    model.verifier = FixedLogits(a_on_at_one)
    got = model.swap(x, x_b, ["a"])
    for i, rung in enumerate([1.0, 1.0, 2.0, 2.0]):
        assert torch.equal(got[i], at[rung][i]), i


def test_target_confidence_reads_each_image_against_its_own_states():
    logits = torch.logit(torch.tensor([[0.9, 0.2, 0.6]]))
    got = target_confidence(FixedLogits(logits), torch.zeros(3, 3, 4, 4), ("a", "b", "c"),
                            [{"a": True, "b": False}, {"c": False}, {"b": True, "a": True}])
    assert torch.allclose(got, torch.tensor([0.8, 0.4, 0.2]))
    with pytest.raises(ValueError, match="2 sets of states for 3 images"):
        target_confidence(FixedLogits(logits), torch.zeros(3, 3, 4, 4), ("a", "b", "c"), [{"a": True}] * 2)


def test_a_verified_batch_asking_different_things_is_each_image_verified_alone():
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    asks = [{"a": True}, {"b": False}, {"a": True}, {"c": True, "a": False}]
    alone = [model.edit(x[i : i + 1], ask, seed=[7 + i], with_confidence=True) for i, ask in enumerate(asks)]
    images, sure = model.edit(x, asks, seed=[7, 8, 9, 10], with_confidence=True)
    torch.testing.assert_close(images, torch.cat([image for image, _ in alone]), atol=2e-5, rtol=0)
    torch.testing.assert_close(sure, torch.cat([conf for _, conf in alone]), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="one seed each"):
        model.edit(x, asks, seed=7)
    with pytest.raises(ValueError, match="all setting something or none"):
        model.edit(x, [{"a": True}, {}, {}, {}], seed=[1, 2, 3, 4])


def test_a_pasted_verified_edit_is_read_as_pasted_and_returned_pasted():
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    at = {s: model.edit(x, {"a": True}, seed=5, strength=s, paste=True) for s in (1.0, 2.0)}  # never verified
    model.verifier = FixedLogits(torch.full((1, 3), 10.0))  # sure of everything: the first rung, pasted
    assert torch.equal(model.edit(x, {"a": True}, seed=5, paste=True), at[1.0])

    # Believes an image unless it is one of the pasted strength-1 edits: only a verifier shown the pasted
    # tries moves on to strength 2 (one shown the unpasted ones would stop at the first rung).
    def sure_past_one(images):
        far = (images.unsqueeze(1) - at[1.0].unsqueeze(0)).abs().flatten(2).amax(2).amin(1) > 1e-6
        return torch.where(far, 10.0, -10.0).unsqueeze(1).expand(-1, 3)

    model.verifier = FixedLogits(sure_past_one)
    assert torch.equal(model.edit(x, {"a": True}, seed=5, paste=True), at[2.0])


def test_with_confidence_gives_the_verifiers_reading_of_each_returned_edit_and_nan_when_unverified():
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    images, sure = model.edit(x, {"a": True}, seed=5, with_confidence=True)
    assert torch.equal(images, model.edit(x, {"a": True}, seed=5))
    torch.testing.assert_close(sure, target_confidence(model.verifier, images, ML.capsule_names, {"a": True}))
    plain, none = model.edit(x, {"a": True}, seed=5, strength=2.0, with_confidence=True)
    assert torch.equal(plain, model.edit(x, {"a": True}, seed=5, strength=2.0)) and none.isnan().all()


def test_resamples_and_explicit_strengths_are_not_verified():
    model = _verified()
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    model.verifier = FixedLogits(torch.full((1, 3), 10.0))
    verified = model.edit(x, {"a": True}, seed=5)
    model.cfg = dataclasses.replace(model.cfg, verify_strengths=())
    assert torch.equal(model.edit(x, {}, resample=["b"], seed=5), _verified().edit(x, {}, resample=["b"], seed=5))
    assert not torch.equal(model.edit(x, {"a": True}, seed=5), verified)  # off: the calibrated strength 3

    def refuse(images):
        raise AssertionError("the verifier was asked")

    reading = _verified()
    reading.verifier = FixedLogits(refuse)
    reading.edit(x, {}, resample=["b"], seed=5)  # a style resample: never read
    reading.edit(x, {"a": True}, seed=5, strength=2.0)  # an explicit strength: never read
    with pytest.raises(AssertionError, match="verifier was asked"):
        reading.edit(x, {"a": True}, seed=5)  # a default edit is


def test_verifier_round_trips_through_a_checkpoint_and_can_be_taken_out(tmp_path):
    model = _verified(confidence=0.995)
    model.encoder = model.encoder.inner
    save_vcn(tmp_path / "v.safetensors", model, dtype=torch.float16)
    loaded = load_vcn(tmp_path / "v.safetensors")
    assert loaded.cfg.verify_strengths == (1.0, 2.0) and loaded.cfg.verify_confidence == 0.995
    for (k, a), b in zip(model.verifier.state_dict().items(), loaded.verifier.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-2), k
    off = with_verifier(loaded, Oracle(READER), (), 0.999)
    assert off.verifier is None and off.cfg.verifier == "" and off.cfg.verify_strengths == ()


def test_with_verifier_refuses_a_reader_of_other_faces():
    model = tiny_model(ML)
    with pytest.raises(ValueError, match="other attributes"):
        with_verifier(model, Oracle(dataclasses.replace(READER, attribute_names=("a", "b"))), (1.0,), 0.99)
    with pytest.raises(ValueError, match="32px"):
        with_verifier(model, Oracle(dataclasses.replace(READER, image_size=32)), (1.0,), 0.99)
    with pytest.raises(ValueError, match="verify_confidence"):
        with_verifier(model, Oracle(READER), (1.0,), 1.0)


def test_vcn_verify_writes_a_verified_model_and_refuses_digits(tmp_path):
    from model.cli import main
    from model.oracle import save_oracle

    save_vcn(tmp_path / "m.safetensors", tiny_model(ML))
    save_oracle(tmp_path / "r.safetensors", Oracle(READER))
    main(["verify", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "v.safetensors"),
          "--reader", str(tmp_path / "r.safetensors"), "--strengths", "1", "1.5", "--device", "cpu",
          "--sample-tries", "3"])
    v = load_vcn(tmp_path / "v.safetensors")
    assert v.cfg.verify_strengths == (1.0, 1.5) and v.metadata["verification"]["reader"] == "r.safetensors"
    assert v.cfg.sample_tries == 3 and v.metadata["verification"]["sample_tries"] == 3
    save_vcn(tmp_path / "d.safetensors", tiny_model(MC))
    with pytest.raises(SystemExit, match="attribute"):
        main(["verify", "--weights", str(tmp_path / "d.safetensors"), "--out", str(tmp_path / "x.safetensors"),
              "--reader", str(tmp_path / "r.safetensors"), "--device", "cpu"])


def test_states_agreement_counts_the_states_read_as_asked_and_breaks_ties_by_log_probability():
    logits = torch.logit(torch.tensor([[0.9, 0.2, 0.6], [0.6, 0.4, 0.3], [0.95, 0.1, 0.2]]))
    states = torch.tensor([[1, 0, 1]] * 3)
    got = states_agreement(FixedLogits(lambda x: logits), torch.zeros(3, 3, 4, 4), states)
    assert got.ceil().tolist() == [3, 2, 2]  # the count first
    assert -1 < got[1] - 2 < got[2] - 2 < 0 and -1 < got[0] - 3 < 0  # then the surer of the two with two
    hopeless = states_agreement(FixedLogits(lambda x: torch.full((1, 3), -50.0)), torch.zeros(1, 3, 4, 4),
                                torch.ones(1, 3, dtype=torch.long))
    assert hopeless.item() > -1  # a tie-break never outweighs a state read as asked


def test_best_draw_keeps_for_each_image_the_draw_the_verifier_reads_closest_to_its_states():
    # 3 draws of 2 images; the verifier reads attribute "a" on in draws whose first pixel is positive
    draws = torch.tensor([[1.0, -1.0], [-1.0, 2.0], [3.0, -2.0]]).view(3, 2, 1, 1, 1).expand(3, 2, 1, 2, 2).clone()
    reader = FixedLogits(lambda x: torch.stack([x.flatten(1)[:, 0] * 5, torch.zeros(len(x)), torch.zeros(len(x))], 1))
    states = torch.tensor([[1, 0, 0], [0, 0, 0]])
    got = best_draw(reader, draws, states)
    assert got[0].equal(draws[2, 0]) and got[1].equal(draws[2, 1])  # image 0: the surest "a"; image 1: surest off
    assert best_draw(reader, draws, torch.tensor([[1, 0, 0], [1, 0, 0]]))[1].equal(draws[1, 1])


def test_a_verified_sample_is_the_draw_the_verifier_prefers_and_one_try_is_the_plain_sample():
    plain = _verified()
    assert plain.cfg.sample_tries == 1
    unverified = plain.sample({"a": True}, n=3, seed=4)
    plain.verifier = FixedLogits(torch.full((1, 3), 10.0))
    assert torch.equal(plain.sample({"a": True}, n=3, seed=4), unverified)  # one try: the verifier is not asked

    model = tiny_model(dataclasses.replace(ML, edit_strength=3.0, edit_blend=0.05))
    model = with_verifier(model, Oracle(READER).eval(), (1.0, 2.0), 0.99, sample_tries=4)
    decoded = []
    decode = model.decode
    model.decode = lambda *args, **kw: decoded.append(decode(*args, **kw)) or decoded[-1]
    model.verifier = FixedLogits(lambda x: x.flatten(1).mean(1, keepdim=True).expand(-1, 3) * 100 - 50)
    out = model.sample({"a": True, "b": True, "c": True}, n=3, seed=4)  # the verifier likes bright draws
    draws = decoded[-1].unflatten(0, (4, 3))  # all 12 draws in one generator call
    assert len(decoded) == 1 and out.shape == (3, *draws.shape[2:])
    assert torch.equal(out, draws[draws.flatten(2).mean(2).argmax(0), torch.arange(3)])
    assert len({float(d.mean()) for d in draws[:, 0]}) == 4  # the tries differ


def test_sample_tries_need_a_verifier_and_with_verifier_keeps_one_for_samples_alone():
    with pytest.raises(ValueError, match="sample_tries"):
        dataclasses.replace(ML, sample_tries=2)
    with pytest.raises(ValueError, match="sample_tries"):
        dataclasses.replace(ML, sample_tries=0)
    samples_only = with_verifier(tiny_model(ML), Oracle(READER), (), 0.99, sample_tries=3)
    assert samples_only.verifier is not None and samples_only.cfg.verify_strengths == ()
    assert samples_only.cfg.sample_tries == 3
