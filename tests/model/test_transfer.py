"""model/transfer.py: transfer maps fitted on counterfactual pairs, and VCN.edit switching capsules on with them."""

import dataclasses

import pytest
import torch
from vcn_inputs import ML, ChosenStates, generator_inputs, in_row_order, state_images, tiny_model

from model.capsules import active_mask, transfer_features
from model.checkpoint import load_vcn, save_vcn
from model.config import VCNConfig
from model.transfer import fit_transfer, ridge_solve, with_transfer
from model.vcn import VCN

STATES = [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]] * 4  # 24 faces


def _chosen() -> VCN:
    model = tiny_model(ML)
    model.encoder = ChosenStates(model.encoder, ML.num_names)
    return model


def _pairs(flip: int = 0):
    """Faces with STATES and the same pixels with attribute `flip` toggled (a counterfactual pair)."""
    x = state_images(ML, len(STATES), seed=3, states=STATES)
    flipped = [[1 - v if a == flip else v for a, v in enumerate(s)] for s in STATES]
    x_b = x.clone()
    x_b[:, 0, 0, : ML.num_names] = state_images(ML, len(STATES), seed=3, states=flipped)[:, 0, 0, : ML.num_names]
    return x, x_b


def test_ridge_solve_recovers_a_linear_map_and_leaves_the_bias_unpenalised():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, 6, generator=g), torch.ones(500, 1)], 1).double()
    w = torch.randn(7, 3, generator=g).double()
    y = x @ w
    assert torch.allclose(ridge_solve(x.T @ x, x.T @ y, 1e-6), w, atol=1e-5)
    # A huge penalty shrinks the slopes to ~0, but the constant column still fits the mean.
    shrunk = ridge_solve(x.T @ x, x.T @ y, 1e9)
    assert shrunk[:-1].abs().max() < 1e-3
    assert torch.allclose(shrunk[-1], y.mean(0), atol=1e-2)


def test_fit_is_the_closed_form_ridge_on_the_switched_slots():
    model = _chosen()
    x, x_b = _pairs(flip=0)
    weight, residual, r2 = fit_transfer(model, [(x[:10], x_b[:10]), (x[10:], x_b[10:])], ridge=0.5, keep=7)
    assert weight.shape == (ML.num_capsules, ML.num_names * ML.capsule_dim + ML.context_dim + 1, ML.capsule_dim)
    assert residual.shape == (ML.num_capsules, 7, ML.capsule_dim)
    with torch.inference_mode():
        a, b = model.encode(x), model.encode(x_b)
    mask_a, mask_b = active_mask(a.kl, "multilabel"), active_mask(b.kl, "multilabel")
    feats = transfer_features(a.mu, mask_a, a.ctx_mu).double()
    switched = (mask_b > 0.5) & (mask_a < 0.5)
    assert switched[:, :2].any(0).all() and not switched[:, 2:].any()  # only attribute 0's pair flips
    for slot in (0, 1):
        rows = switched[:, slot]
        f, y = feats[rows], b.mu[rows, slot].double()
        expected = ridge_solve(f.T @ f, f.T @ y, 0.5)
        assert torch.allclose(weight[slot].double(), expected, atol=1e-4)
        e = (y - f @ expected).float()
        assert torch.allclose(residual[slot], e[torch.arange(7) % len(e)], atol=1e-4)
        assert 0.0 < float(r2[slot]) <= 1.0
    # Slots never switched on have no map: zero weights and NaN fit quality.
    assert torch.isnan(r2[2:]).all() and (weight[2:] == 0).all()


def _with_maps(variety: float) -> tuple[VCN, torch.Tensor]:
    model = _chosen()
    g = torch.Generator().manual_seed(5)
    weight = torch.randn(ML.num_capsules, ML.num_names * ML.capsule_dim + ML.context_dim + 1, ML.capsule_dim,
                         generator=g)
    residual = torch.randn(ML.num_capsules, 4, ML.capsule_dim, generator=g)
    out = with_transfer(model, weight, residual, variety)
    out.encoder = model.encoder
    return out, state_images(ML, 6, seed=1, states=STATES[:6])


def test_switched_on_capsule_is_the_maps_prediction_from_the_face():
    model, x = _with_maps(variety=0.0)
    assert model.cfg.transfer_maps == 4
    with torch.inference_mode():
        caps = model.encode(x)
    mask = active_mask(caps.kl, "multilabel")
    predicted = transfer_features(caps.mu, mask, caps.ctx_mu) @ model.transfer_weight
    with generator_inputs(model) as seen:
        one = model.edit(x, {"a": True}, seed=1, strength=1.0)
        two = model.edit(x, {"a": True}, seed=2, strength=1.0)
    off = mask[:, 0] < 0.5  # faces without "a": their present capsule (slot 0) is the prediction
    assert off.any() and (~off).any()
    assert torch.allclose(seen[0][0][off, 0], predicted[0][off], atol=1e-5)
    assert torch.allclose(seen[0][0][~off, 0], caps.mu[~off, 0], atol=1e-5)  # already on: kept as it was
    assert torch.equal(one, two)  # variety 0: the seed does not matter


def test_variety_adds_a_residual_of_the_fit_and_follows_the_seed():
    model, x = _with_maps(variety=1.0)
    with torch.inference_mode():
        caps = model.encode(x)
    mask = active_mask(caps.kl, "multilabel")
    predicted = (transfer_features(caps.mu, mask, caps.ctx_mu) @ model.transfer_weight[0])
    with generator_inputs(model) as seen:
        one = model.edit(x, {"a": True}, seed=1, strength=1.0)
        again = model.edit(x, {"a": True}, seed=1, strength=1.0)
        other = model.edit(x, {"a": True}, seed=2, strength=1.0)
    assert torch.equal(one, again) and not torch.equal(one, other)
    off = mask[:, 0] < 0.5
    added = seen[0][0][off, 0] - predicted[off]
    dist = (added.unsqueeze(1) - model.transfer_residual[0].unsqueeze(0)).abs().sum(-1)  # (rows, 4)
    assert (dist.min(1).values < 1e-4).all()


def test_resample_goes_there_and_back_through_the_maps_plus_a_residual():
    model, x = _with_maps(variety=0.0)
    with torch.inference_mode():
        caps = model.encode(x)
    mask = active_mask(caps.kl, "multilabel")
    feats = transfer_features(caps.mu, mask, caps.ctx_mu)
    slot = torch.where(mask[:, 2] > 0.5, 2, 3)  # attribute "b" (index 1): capsules 2 / 3
    other = torch.stack([feats[i] @ model.transfer_weight[s ^ 1] for i, s in enumerate(slot.tolist())])
    there = feats.clone()
    there[:, 4:8] = other  # b's block: capsule_dim 4, attribute 1
    back = torch.stack([there[i] @ model.transfer_weight[s] for i, s in enumerate(slot.tolist())])
    with generator_inputs(model) as seen:
        one = model.edit(x, resample=["b"], seed=1)
        other_seed = model.edit(x, resample=["b"], seed=2)
    got = seen[0][0][torch.arange(len(x)), slot]
    added = got - back  # a whole residual of the fit, whatever transfer_variety says
    rows = model.transfer_residual[slot]  # (B, 4 residuals, D)
    assert ((added.unsqueeze(1) - rows).abs().sum(-1).min(1).values < 1e-4).all()
    assert not torch.equal(one, other_seed)
    assert torch.equal(seen[0][1], caps.ctx_mu)  # the rest of the face as it was


def test_swap_takes_the_donors_style_on_the_faces_own_capsule():
    model, x = _with_maps(variety=0.0)
    x_b = x[[0, 2, 1, 3, 5, 4]]  # donors: the same faces in another order ("a" differs in four rows)
    # Swapping with itself changes nothing: the style is exactly what the maps leave of the face's capsule.
    assert torch.allclose(model.swap(x, x, ["a"]), model.reconstruct(x), atol=1e-5)
    with torch.inference_mode():
        a, b = model.encode(x), model.encode(x_b)
    mask_a, mask_b = active_mask(a.kl, "multilabel"), active_mask(b.kl, "multilabel")
    feats, feats_b = transfer_features(a.mu, mask_a, a.ctx_mu), transfer_features(b.mu, mask_b, b.ctx_mu)
    s_b = torch.where(mask_b[:, 0] > 0.5, 0, 1)
    s_x = torch.where(mask_a[:, 0] > 0.5, 0, 1)
    assert (s_b != s_x).any() and (s_b == s_x).any()
    rows = torch.arange(len(x))
    expected = (model.predicted(s_b, feats, s_x) + b.mu[rows, s_b] - model.predicted(s_b, feats_b, s_b))
    # One hop where the state changes: the map of slot s_b read on x's own features.
    hop = torch.stack([feats[i] @ model.transfer_weight[s] for i, s in enumerate(s_b.tolist())])
    changes = s_b != s_x
    assert torch.allclose(model.predicted(s_b, feats, s_x)[changes], hop[changes], atol=1e-5)
    with generator_inputs(model) as seen:
        model.swap(x, x_b, ["a"])
    caps, ctx = in_row_order(seen, changes.tolist())
    assert torch.allclose(caps[rows, s_b], expected, atol=1e-5)
    assert not caps[rows, 1 - s_b].any()  # the other capsule of the pair is masked, as x_b has it
    assert torch.equal(ctx, a.ctx_mu)  # x's context
    # The style strength pushes the donor's style as a resample's drawn one: explicit, or the model's own.
    pushed = model.predicted(s_b, feats, s_x) + 2.0 * (b.mu[rows, s_b] - model.predicted(s_b, feats_b, s_b))
    for how in ({"style_strength": 2.0}, {}):
        model.cfg = dataclasses.replace(model.cfg, style_strength=1.0 if how else 2.0)
        with generator_inputs(model) as seen:
            model.swap(x, x_b, ["a"], **how)
        assert torch.allclose(in_row_order(seen, changes.tolist())[0][rows, s_b], pushed, atol=1e-5), how


def test_an_attribute_the_fit_never_saw_switch_is_drawn_as_without_maps():
    """A fit on faces that never flip "a" leaves its maps zero: its capsules come from the bank / prior
    exactly as in a model without maps, while "b" still goes through its maps."""
    model, x = _with_maps(variety=0.0)
    model.transfer_weight[0:2] = 0.0  # "a"'s two slots unfitted
    plain = _chosen()
    assert model.mapped(torch.tensor([0, 1, 2, 3])).tolist() == [False, False, True, True]
    with generator_inputs(model) as seen, generator_inputs(plain) as seen_plain:
        for m in (model, plain):
            m.edit(x, {"a": True}, seed=1, strength=1.0)
            m.edit(x, resample=["a"], seed=1)
            m.swap(x, x[[1, 0, 3, 2, 5, 4]], ["a"])
    assert len(seen) == len(seen_plain)
    for (caps, _), (caps_plain, _) in zip(seen, seen_plain, strict=True):
        assert torch.allclose(caps[:, :2], caps_plain[:, :2], atol=1e-6)
        assert caps[:, :2].abs().sum() > 0  # drawn or taken, not the zero map's capsule
    # "b" keeps its maps: the capsule switched on differs from the plain model's draw.
    with generator_inputs(model) as seen, generator_inputs(plain) as seen_plain:
        model.edit(x, {"b": True}, seed=1, strength=1.0)
        plain.edit(x, {"b": True}, seed=1, strength=1.0)
    assert not torch.allclose(seen[0][0][:, 2:4], seen_plain[0][0][:, 2:4])


def test_maps_round_trip_through_a_checkpoint(tmp_path):
    model, x = _with_maps(variety=0.5)
    model.encoder = model.encoder.inner  # save the plain network
    save_vcn(tmp_path / "t.safetensors", model)
    loaded = load_vcn(tmp_path / "t.safetensors")
    assert loaded.cfg.transfer_maps == 4 and loaded.cfg.transfer_variety == 0.5
    assert torch.equal(loaded.transfer_weight, model.transfer_weight)
    assert torch.equal(loaded.edit(x, {"b": True}, seed=3), model.edit(x, {"b": True}, seed=3))


def test_config_rejects_maps_where_they_mean_nothing():
    with pytest.raises(ValueError, match="multilabel"):
        VCNConfig(arch="mnist", kind="multiclass", capsule_names=("0", "1"), transfer_maps=4)
    with pytest.raises(ValueError, match="transfer_variety"):
        dataclasses.replace(ML, transfer_maps=4, transfer_variety=1.5)


def test_vcn_transfer_refuses_models_it_cannot_fit(tmp_path):
    """The fit itself is tested above; the shipped file's maps in test_bundled_weights.py."""
    from model.cli import main

    torch.manual_seed(0)  # untrained: reads every attribute present on every face, so nothing ever switches
    save_vcn(tmp_path / "m.safetensors", VCN(VCNConfig(image_size=16, width=4, capsule_dim=2, context_dim=2)))
    with pytest.raises(SystemExit, match="no attribute as switched in 2 faces"):
        main(["transfer", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "t.safetensors"),
              "--n", "2", "--workers", "0", "--device", "cpu"])
    assert not (tmp_path / "t.safetensors").exists()
    save_vcn(tmp_path / "d.safetensors", tiny_model(dataclasses.replace(
        ML, capsule_names=tuple("0123"), kind="multiclass", dataset="mnist")))
    with pytest.raises(SystemExit, match="procedural faces"):
        main(["transfer", "--weights", str(tmp_path / "d.safetensors"), "--out", str(tmp_path / "x.safetensors")])


def test_cached_flip_pairs_are_the_rendered_ones_and_are_rendered_once(tmp_path, monkeypatch):
    from model import transfer
    from model.data import faces

    cache = tmp_path / "pairs.safetensors"
    plain = list(transfer.rendered_flip_pairs(3, 16, batch_size=2))
    first = list(transfer.rendered_flip_pairs(3, 16, batch_size=2, cache=cache))
    assert cache.is_file() and len(first) == len(plain) == 2 * len(faces.ATTRIBUTES)
    for (x, y), (cx, cy) in zip(plain, first, strict=True):
        assert torch.equal(x, cx) and torch.equal(y, cy)
    assert first[0][0] is first[1][0]  # one base batch per 40 flips: fit_transfer encodes it once

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again despite a matching cache")

    monkeypatch.setattr(transfer, "_render_pairs", no_render)
    again = list(transfer.rendered_flip_pairs(3, 16, batch_size=2, cache=cache))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    with pytest.raises(AssertionError, match="rendered again"):  # other faces than the cache holds
        next(iter(transfer.rendered_flip_pairs(2, 16, cache=cache)))


def test_residual_clusters_are_k_means_and_the_same_every_time():
    """Each residual ends nearer its own cluster's mean than any other's (k-means at rest), with all ten used."""
    from model.capsule_edits import residual_clusters

    residuals = torch.randn(3, 200, 4, generator=torch.Generator().manual_seed(0))
    clusters = residual_clusters(residuals)
    assert clusters.shape == (3, 200) and torch.equal(clusters, residual_clusters(residuals))
    for x, labels in zip(residuals, clusters, strict=True):
        assert set(labels.tolist()) == set(range(10))
        means = torch.stack([x[labels == c].mean(0) for c in range(10)])
        dist = torch.cdist(x, means)
        assert (dist.gather(1, labels[:, None]).squeeze(1) <= dist.min(1).values + 1e-5).all()


def test_resamples_of_one_face_take_their_styles_from_different_clusters():
    """n <= STYLE_CLUSTERS rows drawing from one generator take residuals of n different clusters; rows with a
    generator each draw as each would alone."""
    from model.capsule_edits import STYLE_CLUSTERS, residual_clusters
    from model.seeds import generators

    model = _chosen()
    g = torch.Generator().manual_seed(5)
    weight = torch.randn(ML.num_capsules, ML.num_names * ML.capsule_dim + ML.context_dim + 1, ML.capsule_dim,
                         generator=g)
    model = with_transfer(model, weight, torch.randn(ML.num_capsules, 40, ML.capsule_dim, generator=g), 0.5)
    clusters = residual_clusters(model.transfer_residual)
    slots = torch.full((STYLE_CLUSTERS,), 2)

    def cluster_of(drawn: torch.Tensor) -> list[int]:
        idx = [int((model.transfer_residual[2] == row).all(1).nonzero()[0]) for row in drawn]
        return clusters[2, idx].tolist()

    for seed in (0, 1):
        drawn = model._style_residual(slots, torch.Generator().manual_seed(seed))
        assert sorted(cluster_of(drawn)) == list(range(STYLE_CLUSTERS)), seed
        assert torch.equal(drawn, model._style_residual(slots, torch.Generator().manual_seed(seed)))
    # a generator each (the server's batches): every row drawn as it would be alone
    per_row = model._style_residual(slots, generators(list(range(STYLE_CLUSTERS))))
    for i in range(STYLE_CLUSTERS):
        assert torch.equal(per_row[i : i + 1], model._style_residual(slots[:1], torch.Generator().manual_seed(i)))
