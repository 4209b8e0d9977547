"""model/seeds.py: one seed per row draws for each row what that row would draw alone, so an edit of a
batch with one seed per face equals each face edited alone (what lets the server batch edits)."""

import dataclasses

import pytest
import torch
from vcn_inputs import MC, ML, ChosenStates, state_images, tiny_model

from model.seeds import generators, normal, uniform


def test_per_row_generators_draw_what_each_row_draws_alone():
    seeds = [3, 7, 3]
    g = generators(seeds, 3)
    both = normal((3, 5), g), uniform(3, g), normal((3, 2), g)
    for i, s in enumerate(seeds):
        alone = generators(s)
        assert torch.equal(both[0][i], normal((1, 5), alone)[0])
        assert torch.equal(both[1][i], uniform(1, alone)[0])
        assert torch.equal(both[2][i], normal((1, 2), alone)[0])
    assert not torch.equal(both[0][0], both[0][1])  # different seeds, different draws


def test_a_single_seed_is_one_stream_for_the_batch_and_a_wrong_count_is_refused():
    assert torch.equal(normal((2, 4), generators(5)), torch.randn((2, 4), generator=torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError, match="2 seeds for 3 images"):
        generators([1, 2], 3)
    with pytest.raises(ValueError, match="per-row"):
        normal((4, 2), generators([1, 2]))


def _multilabel_with_bank():
    model = tiny_model(dataclasses.replace(ML, bank_size=4))
    model.bank.normal_()
    model.bank_count.fill_(4)
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    return model


@pytest.mark.parametrize("kind", ["multilabel", "multiclass"])
def test_an_edit_with_one_seed_per_face_is_each_face_edited_alone(kind):
    if kind == "multilabel":
        model, x = _multilabel_with_bank(), state_images(ML, 3, 0, [[0, 1, 1], [1, 0, 1], [0, 0, 0]])
        args = dict(set={"a": True}, resample=["c"])
    else:
        model, x = tiny_model(MC), state_images(MC, 3, 0)
        args = dict(set={"2": True})
    seeds = [11, 4, 11]
    batched = model.edit(x, seed=seeds, **args)
    for i, s in enumerate(seeds):
        torch.testing.assert_close(batched[i : i + 1], model.edit(x[i : i + 1], seed=s, **args), atol=1e-5, rtol=0)
    # one seed for the batch is one stream: rows differ from the same faces edited alone with that seed
    shared = model.edit(x, seed=11, **args)
    assert not torch.allclose(shared[1:2], model.edit(x[1:2], seed=11, **args), atol=1e-4)
