"""model/calibrate.py: per-attribute edit strengths chosen from a reader's edit success."""

import dataclasses

import pytest
import torch

from model.calibrate import calibrate_strengths, choose_strengths, with_strength
from model.config import VCNConfig
from model.oracle import Oracle, OracleConfig
from model.vcn import VCN

SIZE = 16


def test_choose_takes_the_smallest_strength_that_reaches_the_target_else_the_best():
    success = {1.0: {"a": 0.99, "b": 0.50, "c": 0.80, "d": 0.9},
               2.0: {"a": 1.00, "b": 0.97, "c": 0.90, "d": 0.9},
               3.0: {"a": 0.40, "b": 1.00, "c": 0.85, "d": 0.9}}
    assert choose_strengths(success, ["a", "b", "c", "d"], target=0.97) == (1.0, 2.0, 2.0, 1.0)


def test_with_strength_shares_the_weights_and_changes_only_the_copy():
    model = VCN(VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2, mask_input=True,
                          attribute_strength=(1.5,) * 40)).eval()
    pushed = with_strength(model, 2.5)
    assert pushed.cfg.edit_strength == 2.5 and pushed.cfg.attribute_strength == () and pushed.strengths() == 2.5
    assert model.cfg.attribute_strength == (1.5,) * 40
    assert pushed.encoder is model.encoder and pushed.generator is model.generator


@pytest.mark.slow
def test_calibration_reads_every_attribute_at_every_strength_and_the_choice_follows_the_table():
    torch.manual_seed(0)
    model = VCN(VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2, mask_input=True)).eval()
    reader = Oracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16)).eval()
    chosen, success = calibrate_strengths(model, reader, n=4, strengths=(1.0, 2.0), target=0.9)
    names = model.cfg.capsule_names
    assert set(success) == {1.0, 2.0} and all(set(v) == set(names) for v in success.values())
    assert all(0.0 <= v <= 1.0 for table in success.values() for v in table.values())
    assert chosen == choose_strengths(success, names, 0.9) and len(chosen) == len(names)
    assert dataclasses.replace(model.cfg, attribute_strength=chosen).attribute_strength == chosen


@pytest.mark.slow
def test_vcn_calibrate_writes_the_strengths_and_how_they_were_chosen(tmp_path):
    from model.checkpoint import load_vcn, save_vcn
    from model.cli import main
    from model.oracle import save_oracle

    torch.manual_seed(1)
    save_vcn(tmp_path / "m.safetensors", VCN(VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2,
                                                       mask_input=True)))
    save_oracle(tmp_path / "r.safetensors", Oracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16)))
    main(["calibrate", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "c.safetensors"),
          "--reader", str(tmp_path / "r.safetensors"), "--n", "3", "--strengths", "1", "2", "--target", "0.5",
          "--blend", "0.05"])
    out = load_vcn(tmp_path / "c.safetensors")
    assert len(out.cfg.attribute_strength) == 40 and set(out.cfg.attribute_strength) <= {1.0, 2.0}
    assert out.cfg.edit_blend == 0.05  # calibrated with the blend the edits will use, and stored
    assert out.metadata["calibration"] == {"reader": "r.safetensors", "faces": 3, "target": 0.5,
                                           "strengths": [1.0, 2.0], "edit_blend": 0.05}


@pytest.mark.slow
def test_vcn_calibrate_styles_stores_the_strength_with_the_most_distinct_styles(tmp_path):
    from model.checkpoint import load_vcn, save_vcn
    from model.cli import main
    from model.oracle import save_oracle

    torch.manual_seed(2)
    save_vcn(tmp_path / "m.safetensors", VCN(VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2,
                                                       mask_input=True, attribute_strength=(1.5,) * 40)))
    save_oracle(tmp_path / "r.safetensors", Oracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16)))
    main(["calibrate-styles", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "s.safetensors"),
          "--reader", str(tmp_path / "r.safetensors"), "--n", "60", "--strengths", "1", "3"])
    out = load_vcn(tmp_path / "s.safetensors")
    meta = out.metadata["style_calibration"]
    table = meta["by_strength"]
    assert set(table) == {"1.0", "3.0"} and meta["reader"] == "r.safetensors" and meta["faces"] == 60
    best = max((1.0, 3.0), key=lambda s: (table[str(s)]["diversity"], -s))
    assert out.cfg.style_strength == meta["chosen"] == best
    assert all(0.0 <= row["kept"] <= 1.0 and 0.0 <= row["presence"] <= 1.0 for row in table.values())
    assert out.cfg.attribute_strength == (1.5,) * 40  # the edit strengths are left as they were


def test_style_strength_moves_a_resampled_capsule_that_many_times_as_far():
    from vcn_inputs import generator_inputs

    torch.manual_seed(3)
    cfg = VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2, mask_input=True)
    model = VCN(cfg).eval()
    x = torch.rand(4, 3, SIZE, SIZE)
    pushed = VCN(dataclasses.replace(cfg, style_strength=2.5)).eval()
    pushed.load_state_dict(model.state_dict())
    with generator_inputs(model) as seen, generator_inputs(pushed) as seen_pushed:
        model.edit(x, resample=["Eyeglasses"], seed=7)
        pushed.edit(x, resample=["Eyeglasses"], seed=7)
    with torch.inference_mode():
        caps = model.encode(x)
    slot = torch.where(caps.kl[:, 30] <= caps.kl[:, 31], 30, 31)  # the active one of Eyeglasses' pair
    rows = torch.arange(4)
    old = caps.mu[rows, slot]
    drawn = seen[0][0][rows, slot]  # strength 1: the draw itself
    assert torch.allclose(seen_pushed[0][0][rows, slot], old + 2.5 * (drawn - old), atol=1e-5)
    with pytest.raises(ValueError, match="style_strength"):
        dataclasses.replace(cfg, style_strength=0.0)


def _files_for_residual_stages(tmp_path, command: str, residuals: int):
    """A tiny faces VCN with random transfer maps of `residuals` residuals a slot (m.safetensors) and a random reader
    (r.safetensors) in tmp_path, after checking that `vcn COMMAND` refuses a model without maps; -> (maps, reader)."""
    from model.checkpoint import save_vcn
    from model.cli import main
    from model.oracle import save_oracle
    from model.transfer import with_transfer

    torch.manual_seed(2)
    cfg = VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2, mask_input=True)
    save_vcn(tmp_path / "plain.safetensors", VCN(cfg))
    reader = Oracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16))
    save_oracle(tmp_path / "r.safetensors", reader)
    with pytest.raises(SystemExit, match="no transfer maps"):
        main([command, "--weights", str(tmp_path / "plain.safetensors"), "--out", str(tmp_path / "x"),
              "--reader", str(tmp_path / "r.safetensors")])
    g = torch.Generator().manual_seed(0)
    maps = with_transfer(VCN(cfg), torch.randn(80, 40 * 2 + 2 + 1, 2, generator=g),
                         torch.randn(80, residuals, 2, generator=g))
    save_vcn(tmp_path / "m.safetensors", maps)
    return maps, reader


@pytest.mark.slow
def test_vcn_style_clusters_stores_clusters_that_resamples_then_take(tmp_path):
    from model.checkpoint import load_vcn
    from model.cli import main

    maps, _ = _files_for_residual_stages(tmp_path, "style-clusters", 12)
    main(["style-clusters", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "s.safetensors"),
          "--reader", str(tmp_path / "r.safetensors"), "--n", "60", "--half"])
    out = load_vcn(tmp_path / "s.safetensors")
    assert out.cfg.style_clusters == "reader" and out.style_cluster.shape == (80, 12)
    assert out.metadata["style_clusters"] == {"reader": "r.safetensors", "faces": 60, "drawn_onto": 4}
    assert torch.equal(out.transfer_weight, maps.transfer_weight.half().float())  # nothing else changed
    with torch.inference_mode():
        assert out.resample(torch.rand(1, 3, SIZE, SIZE), "Eyeglasses", 3).shape == (3, 3, SIZE, SIZE)


@pytest.mark.slow
def test_vcn_style_fit_stores_fitted_residuals_and_the_styles_in_turn(tmp_path, monkeypatch):
    from model import style_fit
    from model.capsule_edits import STYLE_CLUSTERS
    from model.checkpoint import load_vcn
    from model.cli import main

    maps, reader = _files_for_residual_stages(tmp_path, "style-fit", 48)
    monkeypatch.setattr(style_fit, "improves", lambda before, after, slack: True)  # random nets: every fit through
    files = ["--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "f.safetensors"),
             "--reader", str(tmp_path / "r.safetensors"), "--n", "120", "--steps", "2"]
    with pytest.raises(SystemExit, match=r"vcn style-fit: the reader has no style heads for \['Smiling_Wide'\]"):
        main(["style-fit", *files, "--names", "Bangs", "Smiling_Wide"])
    main(["style-fit", *files, "--half"])
    out = load_vcn(tmp_path / "f.safetensors")
    assert out.cfg.style_clusters == "reader" and out.style_cluster.shape == (80, 48)
    assert out.metadata["style_fit"] == {"reader": "r.safetensors", "faces": 120, "fitted_on": 64, "per_style": 4,
                                         "steps": 2, "names": "all", "present_slack": style_fit.PRESENT_SLACK}
    assert torch.equal(out.transfer_weight, maps.transfer_weight.half().float())  # the maps unchanged
    fitted = [k for k in range(80) if bool((out.style_cluster[k] == STYLE_CLUSTERS).any())]
    style_slots = {out.slot(name, True) for name in reader.cfg.style_names}
    assert fitted and set(fitted) <= style_slots  # style attributes' present capsules (those 4 of 120 faces wear)
    assert all(set(out.style_cluster[k].tolist()) == set(range(STYLE_CLUSTERS + 1)) for k in fitted)
    others = [k for k in range(80) if k not in style_slots]
    assert torch.equal(out.transfer_residual[others], maps.transfer_residual[others].half().float())


@pytest.mark.slow
def test_vcn_paste_regions_stores_the_regions_the_guard_lets_through(tmp_path, monkeypatch):
    from model import style_fit
    from model.checkpoint import load_vcn, save_vcn
    from model.cli import main
    from model.verify import with_verifier

    maps, reader = _files_for_residual_stages(tmp_path, "style-fit", 12)
    with pytest.raises(SystemExit, match="vcn paste-regions: .* needs edit_blend and a verifier"):
        main(["paste-regions", "--weights", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "x"),
              "--reader", str(tmp_path / "r.safetensors")])
    verified = with_verifier(maps, reader, (1.0,), 0.99)
    verified.cfg = dataclasses.replace(verified.cfg, edit_blend=0.05)
    save_vcn(tmp_path / "v.safetensors", verified)
    monkeypatch.setattr(style_fit, "improves", lambda before, after: after.styles >= before.styles)
    main(["paste-regions", "--weights", str(tmp_path / "v.safetensors"), "--out", str(tmp_path / "p.safetensors"),
          "--reader", str(tmp_path / "r.safetensors"), "--n", "120", "--half"])
    out = load_vcn(tmp_path / "p.safetensors")
    names = list(out.cfg.capsule_names)
    regions = [n for i, n in enumerate(names) if bool(out.paste_region[i].any())]
    assert out.cfg.paste_regions and out.paste_region.shape == (40, SIZE, SIZE)
    assert out.metadata["paste_regions"] == {"reader": "r.safetensors", "faces": 120, "mapped_on": 60,
                                             "regions": regions}
    assert regions and set(regions) <= set(reader.cfg.style_names)
    assert float(out.paste_region.max()) <= 1.0 and float(out.paste_region.min()) >= 0.0
    assert torch.equal(out.transfer_residual, maps.transfer_residual.half().float())  # nothing else changed
