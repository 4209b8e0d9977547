"""model/style_fit.py: residuals fitted per style, and resamples that take the styles in turn."""

import pytest
import torch
import torch.nn.functional as F
from test_style_clusters import STATES, T, _reader, _with_maps
from vcn_inputs import ML, state_images, tiny_model

from model import style_fit
from model.capsule_edits import STYLE_CLUSTERS, residual_clusters
from model.readings import to_input
from model.style_fit import (
    FittedStyles,
    StyleReading,
    _distinct_starts,
    drawn,
    fit_style,
    improves,
    turn_clusters,
    with_fitted_styles,
)


def _faces() -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (8, H, W, 3), "b" shown by six of them (STATES' first three twice), and their attrs."""
    states = STATES[:3] * 2 + STATES[3:]
    images = (state_images(ML, len(states), seed=2, states=states).permute(0, 2, 3, 1) * 255).to(torch.uint8)
    return images, torch.tensor(states).bool()


def _style_ce(model, reader, x, fitted: FittedStyles) -> float:
    with torch.no_grad():
        c, ctx, mask, _ = model._posterior(x)
        slots = torch.full((len(x),), fitted.slot)
        pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)
        logits = reader(drawn(model, c, ctx, mask, pred, fitted.slot, fitted.residuals))[1][0]
    return float(F.cross_entropy(logits.float(), fitted.styles.repeat(len(x))))


def test_the_styles_take_the_clusters_in_turn_and_unfitted_residuals_none():
    fitted = FittedStyles(0, torch.tensor([5, 9, 2, 30, 31, 7, 11, 12]), torch.zeros(8, 4),
                          torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    clusters = turn_clusters(fitted, T, n_styles=4)
    for i, s in zip(fitted.indices.tolist(), fitted.styles.tolist(), strict=True):
        assert int(clusters[i]) % 4 == s  # style s lives in clusters s, s + 4, s + 8
    assert sorted(clusters[fitted.indices].tolist()) == [0, 1, 2, 3, 4, 5, 6, 7]  # two of each style's clusters
    others = torch.ones(T, dtype=torch.bool)
    others[fitted.indices] = False
    assert bool((clusters[others] == STYLE_CLUSTERS).all())


def test_starts_are_distinct_and_each_the_residual_believed_most_of_its_style():
    beliefs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    starts = _distinct_starts(beliefs, torch.tensor([0, 0, 1, 1]))
    assert starts.tolist() == [0, 1, 3, 2]


def test_fitting_moves_only_the_residuals_and_the_reader_reads_their_styles_better():
    model, reader = _with_maps(), _reader()
    images, attrs = _faces()
    x = to_input(images[:3], torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    start = fit_style(model.requires_grad_(False), reader.requires_grad_(False), x, "b", per_style=2, steps=0)
    fitted = fit_style(model, reader, x, "b", per_style=2, steps=40, batch_faces=3, lr=0.1)
    # per_style 2, but style 0 of 3 has 4 of the 10 clusters (0, 3, 6, 9): 4 of each, so none is empty
    assert fitted.residuals.shape == (12, ML.capsule_dim) and fitted.styles.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(start.indices, fitted.indices) and not torch.equal(start.residuals, fitted.residuals)
    assert _style_ce(model, reader, x, fitted) < _style_ce(model, reader, x, start)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and the file's residuals untouched
    assert all(p.grad is None for p in [*model.parameters(), *reader.parameters()])


def test_resamples_of_the_fitted_file_take_every_style_and_the_other_slots_keep_their_clusters():
    model, reader = _with_maps(), _reader()
    images, attrs = _faces()
    out = with_fitted_styles(model, reader, images, attrs, n_faces=3, guard=False, per_style=2, steps=5,
                             batch_faces=2)
    b = model.slot("b", True)
    others = [k for k in range(ML.num_capsules) if k != b]
    assert out.cfg.style_clusters == "reader"
    assert torch.equal(out.style_cluster[others].long(), residual_clusters(model.transfer_residual)[others])
    fitted = (out.style_cluster[b] < STYLE_CLUSTERS).nonzero().squeeze(1)  # the rest in none, not one of the 10
    assert len(fitted) == 12 and set(out.style_cluster[b, fitted].tolist()) == set(range(STYLE_CLUSTERS))
    assert not torch.equal(out.transfer_residual[b, fitted], model.transfer_residual[b, fitted])
    unfitted = out.style_cluster[b] == STYLE_CLUSTERS
    assert torch.equal(out.transfer_residual[b, unfitted], model.transfer_residual[b, unfitted])
    slots = torch.full((STYLE_CLUSTERS,), b)
    taken = out._style_residual(slots, torch.Generator().manual_seed(3))  # 10 resamples of one face
    index = [int((out.transfer_residual[b] == row).all(1).nonzero()[0]) for row in taken]
    assert {int(out.style_cluster[b, i]) % 3 for i in index} == {0, 1, 2}  # every style of "b"
    assert all(int(out.style_cluster[b, i]) < STYLE_CLUSTERS for i in index)  # only fitted residuals


@pytest.mark.parametrize(("after", "fitted"), [
    (StyleReading(2.5, 0.99, 0.9), True),  # more styles
    (StyleReading(1.5, 0.99, 0.9), False),  # fewer
    (StyleReading(2.5, 0.97, 0.9), False),  # more styles, but 2 points less of the rest kept
    (StyleReading(2.5, 0.987, 0.9), True),  # ... 0.3 point less: within KEPT_SLACK
    (StyleReading(2.5, 0.99, 0.85), False),  # more styles, but the attribute gone from 5 % more resamples
    (StyleReading(2.5, 0.99, 0.9 - 0.01), True),  # ... from exactly PRESENT_SLACK more: within it, float or not
    (StyleReading(2.0, 0.995, 0.9), True),  # as many, more kept
    (StyleReading(2.0, 0.99, 0.9), False),  # nothing gained
])
def test_the_guard_keeps_a_fit_only_where_the_reader_reads_it_better(monkeypatch, after, fitted):
    model, reader = _with_maps(), _reader()
    images, attrs = _faces()
    b, calls = model.slot("b", True), []
    before = StyleReading(2.0, 0.99, 0.9)

    def read(m, r, imgs, a, name):  # the reader's reading of the slot as it was, then with the fit in place
        calls.append(len(imgs))
        return after if len(calls) % 2 == 0 else before

    monkeypatch.setattr(style_fit, "reader_styles", read)
    out = with_fitted_styles(model, reader, images, attrs, n_faces=3, per_style=2, steps=2, batch_faces=2)
    assert calls == [3, 3]  # fitted on the first 3 wearers of "b", checked on the next 3
    assert improves(before, after) == fitted
    assert (not torch.equal(out.transfer_residual[b], model.transfer_residual[b])) == fitted
    kept_clusters = torch.equal(out.style_cluster[b].long(), residual_clusters(model.transfer_residual)[b])
    assert kept_clusters == (not fitted)  # fitted: the slot's clusters are the styles in turn


def test_names_choose_which_style_attributes_are_fitted():
    model, reader = _with_maps(), _reader()
    images, attrs = _faces()
    kw = dict(n_faces=3, guard=False, per_style=2, steps=2, batch_faces=2)
    b = model.slot("b", True)
    fitted = with_fitted_styles(model, reader, images, attrs, names=["b"], **kw)
    assert not torch.equal(fitted.transfer_residual[b], model.transfer_residual[b])
    untouched = with_fitted_styles(model, reader, images, attrs, names=[], **kw)  # the reader's "b" left out
    assert torch.equal(untouched.transfer_residual, model.transfer_residual)
    assert torch.equal(untouched.style_cluster.long(), residual_clusters(model.transfer_residual))
    with pytest.raises(ValueError, match=r"no style heads for \['Bangs'\]"):
        with_fitted_styles(model, reader, images, attrs, names=["b", "Bangs"], **kw)


@pytest.mark.parametrize(("slack", "fitted"), [(0.01, False), (0.02, True)])
def test_the_presence_slack_is_the_guards_to_set(slack, fitted):
    before, after = StyleReading(2.57, 0.9587, 1.0), StyleReading(3.5, 0.9627, 0.987)  # session 30's hour, Hat
    assert improves(before, after, present_slack=slack) == fitted


def test_a_model_without_maps_is_refused():
    images, attrs = _faces()
    with pytest.raises(ValueError, match="no transfer maps"):
        with_fitted_styles(tiny_model(ML), _reader(), images, attrs)
