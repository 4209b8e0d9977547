"""model/style_clusters.py: resamples that take, in turn, clusters of the styles a reader sees each residual draw."""

import pytest
import torch
from vcn_inputs import ML, ChosenStates, state_images, tiny_model

from model.capsule_edits import STYLE_CLUSTERS, residual_clusters
from model.checkpoint import load_vcn, save_vcn
from model.config import VCNConfig
from model.oracle import Oracle, OracleConfig
from model.readings import to_input
from model.style_clusters import drawn_style_beliefs, reader_style_clusters, tightest_clusters, with_style_clusters
from model.transfer import with_transfer
from model.vcn import VCN

T = 40  # residuals per slot
STATES = [[0, 1, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 0, 0]]  # "b" shown by the first three


def _with_maps(chosen: bool = True) -> VCN:
    """A tiny model with random transfer maps; chosen: its states picked by the images' pixels (ChosenStates)."""
    model = tiny_model(ML)
    if chosen:
        model.encoder = ChosenStates(model.encoder, ML.num_names)
    g = torch.Generator().manual_seed(5)
    weight = torch.randn(ML.num_capsules, ML.num_names * ML.capsule_dim + ML.context_dim + 1, ML.capsule_dim,
                         generator=g)
    out = with_transfer(model, weight, torch.randn(ML.num_capsules, T, ML.capsule_dim, generator=g), 0.5)
    out.encoder = model.encoder
    return out


def _reader() -> Oracle:
    torch.manual_seed(1)
    return Oracle(OracleConfig(image_size=ML.image_size, attribute_names=ML.capsule_names, style_names=("b",),
                               style_counts=(3,), width=4, feature_dim=8)).eval()


def test_clusters_are_stored_only_for_a_model_with_maps():
    with pytest.raises(ValueError, match="'residuals' or 'reader'"):
        VCNConfig(transfer_maps=4, style_clusters="pixels")
    with pytest.raises(ValueError, match="no transfer maps"):
        with_style_clusters(tiny_model(ML), torch.zeros(6, 4, dtype=torch.long))


def test_stored_clusters_decide_which_residuals_resamples_take_and_survive_a_checkpoint(tmp_path):
    model = _with_maps(chosen=False)  # a plain encoder, so the file loads as a VCN
    # Stored clusters unlike the residuals' own k-means: residual i of every slot in cluster (7 * i) % 10.
    stored = ((7 * torch.arange(T)) % STYLE_CLUSTERS).repeat(ML.num_capsules, 1)
    assert not torch.equal(stored, residual_clusters(model.transfer_residual))
    clustered = with_style_clusters(model, stored)
    assert clustered.cfg.style_clusters == "reader" and torch.equal(clustered.style_cluster.long(), stored)
    slots = torch.full((STYLE_CLUSTERS,), 2)
    drawn = clustered._style_residual(slots, torch.Generator().manual_seed(0))
    taken = [int((clustered.transfer_residual[2] == row).all(1).nonzero()[0]) for row in drawn]
    assert sorted(stored[2, taken].tolist()) == list(range(STYLE_CLUSTERS))  # one residual of each stored cluster
    save_vcn(tmp_path / "c.safetensors", clustered)
    loaded = load_vcn(tmp_path / "c.safetensors")
    assert loaded.cfg.style_clusters == "reader" and torch.equal(loaded.style_cluster.long(), stored)
    assert torch.equal(loaded._style_residual(slots, torch.Generator().manual_seed(0)), drawn)


def test_beliefs_are_the_readers_reading_of_each_residual_as_a_resample_draws_it(monkeypatch):
    model, reader = _with_maps(), _reader()
    x = state_images(ML, 3, seed=2, states=STATES[:3])
    beliefs = drawn_style_beliefs(model, reader, x, "b")
    assert beliefs.shape == (T, 3 * 3)
    assert torch.allclose(beliefs.view(T, 3, 3).sum(-1), torch.ones(T, 3), atol=1e-5)  # per face, probabilities
    for t in (0, 17, T - 1):  # a resample made to take residual t is the picture the beliefs read
        monkeypatch.setattr(VCN, "_style_residual", lambda self, slots, g, t=t: self.transfer_residual[slots, t])
        with torch.inference_mode():
            resampled = model.edit(x, resample=["b"], seed=0)
            seen = torch.softmax(reader(resampled)[1][0].float(), -1)
        assert torch.allclose(beliefs[t].view(3, 3), seen, atol=1e-4), t


def test_only_the_readers_style_attributes_are_clustered_by_beliefs():
    model, reader = _with_maps(), _reader()
    images = (state_images(ML, 5, seed=2, states=STATES).permute(0, 2, 3, 1) * 255).to(torch.uint8)
    attrs = torch.tensor(STATES).bool()
    clusters = reader_style_clusters(model, reader, images, attrs, n_faces=2)
    own = residual_clusters(model.transfer_residual)
    assert clusters.shape == (ML.num_capsules, T) and int(clusters.min()) >= 0 and int(clusters.max()) < 10
    b = model.slot("b", True)
    others = [k for k in range(ML.num_capsules) if k != b]
    assert torch.equal(clusters[others], own[others])  # no style head: the residuals' own clusters
    faces = to_input(images[:2], torch.device("cpu"))  # the first two faces showing "b"
    assert torch.equal(clusters[b], tightest_clusters(drawn_style_beliefs(model, reader, faces, "b")))


def test_tightest_clusters_are_the_k_means_start_with_the_smallest_spread():
    x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
    starts = [residual_clusters(x.unsqueeze(0), seed=s)[0] for s in range(4)]

    def spread(labels):
        return sum(float(((x[labels == c] - x[labels == c].mean(0)) ** 2).sum()) for c in range(10))

    assert spread(tightest_clusters(x, restarts=4)) == pytest.approx(min(spread(lab) for lab in starts))
    assert len({tuple(lab.tolist()) for lab in starts}) > 1  # the starts do differ
