"""model/bank.py and VCN.draw: the capsule bank (capsules seen in training) replaces the prior when present."""

import torch

from model.bank import build_capsule_bank
from model.capsules import active_mask
from model.checkpoint import load_vcn, save_vcn
from model.config import VCNConfig
from model.vcn import VCN

CFG = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b", "c"), width=8, capsule_dim=4,
                context_dim=3)


def _banked(size: int = 5, n: int = 40) -> tuple[VCN, VCN, torch.Tensor]:
    torch.manual_seed(0)
    model = VCN(CFG).eval()
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8)
    return model, build_capsule_bank(model, images, size=size, batch_size=7), images


def test_bank_holds_the_encoders_active_means():
    model, banked, images = _banked()
    assert banked.cfg.bank_size == 5 and banked.capsule_source == "bank"
    with torch.inference_mode():
        caps = model.encode(images.float() / 255)
    mask = active_mask(caps.kl, CFG.kind).bool()
    for slot in range(CFG.num_capsules):
        expected = caps.mu[mask[:, slot], slot][:5]
        assert int(banked.bank_count[slot]) == expected.shape[0]
        assert torch.allclose(banked.bank[slot, : expected.shape[0]], expected, atol=1e-6)
    assert torch.allclose(banked.ctx_bank, caps.ctx_mu[:5], atol=1e-6)
    # Same network weights: reconstructions do not depend on the bank.
    x = images[:4].float() / 255
    assert torch.equal(model.reconstruct(x), banked.reconstruct(x))


def test_draw_picks_bank_rows_or_prior():
    _, banked, _ = _banked()
    full = [s for s in range(CFG.num_capsules) if int(banked.bank_count[s]) > 0]
    slots = torch.tensor(full * 3)
    drawn = banked.draw(slots, torch.Generator().manual_seed(1))
    for s, row in zip(slots.tolist(), drawn, strict=True):
        rows = banked.bank[s, : int(banked.bank_count[s])]
        assert (rows - row).abs().sum(-1).min() < 1e-6
    banked.capsule_source = "prior"
    prior = banked.draw(slots, torch.Generator().manual_seed(1))
    assert not torch.allclose(prior, drawn)
    assert torch.equal(prior, banked.draw(slots, torch.Generator().manual_seed(1)))


def test_empty_slots_fall_back_to_the_prior():
    _, banked, _ = _banked()
    banked.bank_count[0] = 0
    drawn = banked.draw(torch.zeros(50, dtype=torch.long), torch.Generator().manual_seed(0))
    assert drawn.std() > 0.5  # prior draws, not the zero rows of an empty bank


def test_banked_checkpoint_round_trips_and_old_files_load(tmp_path):
    model, banked, images = _banked()
    save_vcn(tmp_path / "b.safetensors", banked)
    back = load_vcn(tmp_path / "b.safetensors")
    assert torch.equal(back.bank, banked.bank) and back.capsule_source == "bank"
    x = images[:2].float() / 255
    assert torch.equal(back.edit(x, {"a": False}, resample=["b"], seed=3),
                       banked.edit(x, {"a": False}, resample=["b"], seed=3))
    # A file without the (empty) bank buffers, as written before banks existed, still loads.
    save_vcn(tmp_path / "old.safetensors", model)
    from safetensors.torch import load_file, save_file

    tensors = {k: v for k, v in load_file(tmp_path / "old.safetensors").items() if "bank" not in k}
    from safetensors import safe_open

    with safe_open(tmp_path / "old.safetensors", "pt") as f:
        meta = f.metadata()
    save_file(tensors, tmp_path / "old2.safetensors", metadata=meta)
    assert load_vcn(tmp_path / "old2.safetensors").capsule_source == "prior"


def test_bank_command_learns_the_rules_of_older_checkpoints_and_keeps_their_metadata(tmp_path):
    from model.capsules import exclusive_pairs
    from model.cli import main
    from model.config import TrainConfig
    from model.data.faces import sample_faces

    cfg = VCNConfig(arch="compact", image_size=16, width=8, capsule_dim=4, context_dim=3)  # the 40 attributes
    torch.manual_seed(0)
    save_vcn(tmp_path / "old.safetensors", VCN(cfg), TrainConfig(steps=7, train_size=20_000), metrics={"step": 7})
    main(["bank", "--weights", str(tmp_path / "old.safetensors"), "--out", str(tmp_path / "new.safetensors"),
          "--n", "600", "--size", "4", "--workers", "0", "--edit-strength", "1.25"])
    new = load_vcn(tmp_path / "new.safetensors")
    assert new.cfg.exclusive == exclusive_pairs(cfg.capsule_names, torch.as_tensor(sample_faces(0, 0, 20_000).attrs))
    assert ("Bald", "Bangs") in new.cfg.exclusive and new.cfg.bank_size == 4 and new.cfg.edit_strength == 1.25
    assert new.metadata["train_config"]["steps"] == 7 and new.metadata["metrics"] == {"step": 7}
    assert new.metadata["bank"]["images"] == 600


def test_resamples_without_maps_take_the_banks_clusters_in_turn():
    """A model without transfer maps restyles from its bank: n <= STYLE_CLUSTERS rows sharing one generator take
    capsules of n different k-means clusters of the slot's banked capsules; a slot with fewer banked capsules than
    clusters, or rows with a generator each, still draw only banked capsules; no bank: the prior."""
    from model.capsule_edits import STYLE_CLUSTERS, residual_clusters
    from model.seeds import generators

    _, banked, _ = _banked(size=40, n=80)
    full = next(s for s in range(CFG.num_capsules) if int(banked.bank_count[s]) >= 30)
    count = int(banked.bank_count[full])
    clusters = residual_clusters(banked.bank[full : full + 1, :count])[0]
    slots = torch.full((STYLE_CLUSTERS,), full)
    for seed in (0, 1):
        drawn = banked._style_draw(slots, torch.Generator().manual_seed(seed))
        taken = [int((banked.bank[full, :count] == row).all(1).nonzero()[0]) for row in drawn]
        assert sorted(clusters[taken].tolist()) == list(range(STYLE_CLUSTERS)), seed
    per_row = banked._style_draw(slots, generators(list(range(STYLE_CLUSTERS))))
    for i in range(STYLE_CLUSTERS):
        assert torch.equal(per_row[i : i + 1], banked._style_draw(slots[:1], torch.Generator().manual_seed(i)))
    banked.bank_count[full] = 3  # fewer than the clusters: any of the 3, never an unfilled place
    banked._bank_runs_of = None
    few = banked._style_draw(torch.full((30,), full), torch.Generator().manual_seed(2))
    assert all(bool((banked.bank[full, :3] == row).all(1).any()) for row in few)
    banked.capsule_source = "prior"
    assert few.shape == banked._style_draw(torch.full((30,), full), torch.Generator().manual_seed(2)).shape
    assert not bool((banked.bank[full] == banked._style_draw(slots, torch.Generator().manual_seed(0))[0]).all(1).any())



def test_resample_without_maps_draws_through_the_bank_clusters(monkeypatch):
    _, banked, images = _banked(size=40, n=80)
    calls = []
    drawn = VCN._style_draw

    def spy(self, slots, g):
        calls.append(slots.tolist())
        return drawn(self, slots, g)

    monkeypatch.setattr(VCN, "_style_draw", spy)
    out = banked.resample(images[:1].float() / 255, "b", 4, seed=0)
    assert out.shape == (4, 3, 16, 16) and len(calls) == 1 and len(set(calls[0])) == 1 and len(calls[0]) == 4
