"""model/phases.py: a recipe's budget splits into its phases, each phase trains what it should (the finish leaves
the encoder as the phase before left it), the file it ends with carries the whole recipe, and --resume skips the
phases done. Also the faces64-hour preset, which trains this way."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from train_inputs import ML, QUIET, faces_data, log_rows

from model.checkpoint import load_vcn, read_checkpoint
from model.config import PRESETS, TrainConfig, from_dict
from model.phases import phase_budget, plan_phases, train_in_phases
from model.train import train

PHASED = TrainConfig(steps=10, batch_size=4, lr=3e-3, lr_schedule="cosine", swap_weight=1.0, donor_weight=1.0,
                     encoder_share=0.2, encoder_lr=1e-3, finish_share=0.3, finish_lr=2e-3)


def test_plan_gives_each_phase_its_rate_terms_and_frozen_part():
    whole, encoder, finish = plan_phases(PHASED)
    assert [p.name for p in (whole, encoder, finish)] == ["whole", "encoder", "finish"]
    assert [p.share for p in (whole, encoder, finish)] == pytest.approx([0.5, 0.2, 0.3])
    assert (whole.tcfg.lr, encoder.tcfg.lr, finish.tcfg.lr) == (3e-3, 1e-3, 2e-3)
    assert (whole.tcfg.swap_weight, whole.tcfg.donor_weight) == (1.0, 1.0)  # phase 1: every term
    for later in (encoder, finish):  # no pair or judge terms after it
        assert later.tcfg.swap_weight == later.tcfg.donor_weight == later.tcfg.judge_weight == 0.0
    assert whole.tcfg.freeze == encoder.tcfg.freeze == () and finish.tcfg.freeze == ("encoder",)
    assert not any(p.tcfg.phased for p in (whole, encoder, finish))  # each is one train run
    assert [p.name for p in plan_phases(dataclasses.replace(PHASED, encoder_share=0.0))] == ["whole", "finish"]


def test_budget_splits_steps_and_time_by_share():
    whole, encoder, finish = plan_phases(PHASED)
    assert phase_budget(whole, 10, None) == (5, None)
    assert phase_budget(encoder, 10, 3000.0) == (2, pytest.approx(600.0))
    assert phase_budget(finish, 10, 3000.0) == (3, pytest.approx(900.0))
    assert phase_budget(encoder, 2, None) == (1, None)  # never a phase of no steps


@pytest.mark.parametrize("shares", [(-0.1, 0.2), (0.5, 0.5), (0.7, 0.4)])
def test_shares_must_leave_the_first_phase_some_of_the_run(shares):
    with pytest.raises(ValueError, match="shares of the run"):
        TrainConfig(encoder_share=shares[0], finish_share=shares[1])


def test_train_refuses_a_phased_recipe(tmp_path):
    with pytest.raises(ValueError, match="train_in_phases"):
        train(ML, PHASED, tmp_path, data=faces_data(ML, 8, pairs=True), **QUIET)


def _phased_run(out: Path, resume: bool = False) -> Path:
    return train_in_phases(ML, PHASED, out, data=faces_data(ML, 12, pairs=True), log_every=1, resume=resume,
                           **QUIET)


def test_phases_train_in_turn_and_the_final_file_carries_the_recipe(tmp_path):
    path = _phased_run(tmp_path)
    assert path == tmp_path / "model.safetensors"
    record = json.loads((tmp_path / "phases.json").read_text())
    assert list(record) == ["whole", "encoder", "finish"]
    assert [record[p]["steps"] for p in record] == [5, 2, 3]
    assert [record[p]["lr"] for p in record] == [3e-3, 1e-3, 2e-3]
    rows = {p: log_rows(tmp_path / p) for p in record}
    assert [len(r) for r in rows.values()] == [5, 2, 3]
    assert "swap" in rows["whole"][0] and "swap" not in rows["encoder"][0] and "swap" not in rows["finish"][0]
    enc, fin = (load_vcn(tmp_path / p / "model.safetensors") for p in ("encoder", "finish"))
    enc_w, fin_w = enc.encoder.state_dict(), fin.encoder.state_dict()
    assert all(torch.equal(enc_w[k], fin_w[k]) for k in enc_w)  # the finish froze the encoder (and its BN stats)
    assert not all(torch.equal(a, b) for a, b in zip(enc.generator.parameters(), fin.generator.parameters(),
                                                     strict=True))  # and trained the generator
    final_tensors, meta = read_checkpoint(path, role="vcn")
    assert all(torch.equal(final_tensors[k], v) for k, v in fin.state_dict().items())  # the last phase's weights
    assert from_dict(TrainConfig, meta["train_config"]) == PHASED  # saved with the whole recipe
    assert meta["metrics"]["phases"] == record


def test_resume_skips_the_phases_done_and_ends_where_an_uninterrupted_run_does(tmp_path):
    whole_run = _phased_run(tmp_path / "whole_run")
    cut = tmp_path / "cut"
    _phased_run(cut)
    # Cut short during the finish: phases.json does not list it yet (its last.safetensors may be anywhere).
    record = json.loads((cut / "phases.json").read_text())
    del record["finish"]
    (cut / "phases.json").write_text(json.dumps(record))
    for f in (cut / "finish").glob("*.safetensors"):
        f.unlink()
    (cut / "model.safetensors").unlink()
    first_log = (cut / "whole" / "log.csv").read_text()
    (cut / "whole" / "model.safetensors").write_bytes(b"")  # a skipped phase is never read again...
    (cut / "encoder" / "last.safetensors").unlink()  # ...only the finish's start, the encoder's model file
    _phased_run(cut, resume=True)
    assert (cut / "whole" / "log.csv").read_text() == first_log
    a, b = read_checkpoint(whole_run)[0], read_checkpoint(cut / "model.safetensors")[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert list(json.loads((cut / "phases.json").read_text())) == ["whole", "encoder", "finish"]


def test_faces64_hour_preset_trains_its_three_phases_at_batch_2(tmp_path):
    vcfg, tcfg = PRESETS["faces64-hour"]
    base_v, base_t = PRESETS["faces64"]
    assert vcfg == base_v and tcfg.phased
    changed = {f.name for f in dataclasses.fields(TrainConfig) if getattr(tcfg, f.name) != getattr(base_t, f.name)}
    assert changed == {"lr", "lr_schedule", "perceptual_weight", "choice_weight", "choice_temperature",
                       "context_kl_weight", "train_size", "encoder_share", "finish_share", "finish_lr"}
    path = train_in_phases(vcfg, dataclasses.replace(tcfg, steps=5, batch_size=2), tmp_path,
                           data=faces_data(vcfg, 4, pairs=True), **QUIET)
    record = json.loads((tmp_path / "phases.json").read_text())
    assert [(p, record[p]["steps"]) for p in record] == [("whole", 3), ("encoder", 1), ("finish", 1)]
    assert {"swap", "judge", "perceptual", "choice"} <= set(log_rows(tmp_path / "whole")[0])
    assert load_vcn(path).cfg.image_size == 64
