"""model/stage_chain.py (`vcn stages`): the stages after training run in the hour's order with its flags, each
reading the file the one before wrote, the last writing OUT; --resume skips the stages already written; a model
not of the rendered faces is refused. The stages themselves are tested in their own files (test_bank.py,
test_calibrate.py...)."""

import dataclasses
from pathlib import Path

import pytest
from train_inputs import ML

import model.cli_stages
from model.checkpoint import save_vcn
from model.cli import REPO, main
from model.stage_chain import HOUR_STAGES, stage_commands, stage_files
from model.vcn import VCN

COMMANDS = {"bank": "cmd_bank", "calibrate": "cmd_calibrate", "transfer": "cmd_transfer",
            "calibrate-styles": "cmd_calibrate_styles", "verify": "cmd_verify", "style-clusters": "cmd_style_clusters"}


def test_each_stage_reads_what_the_one_before_wrote():
    lines = stage_commands(Path("t/model.safetensors"), Path("t/final.safetensors"), reader="r.st", device="cpu")
    assert [line[0] for line in lines] == ["bank", "calibrate", "transfer", "calibrate-styles", "verify",
                                          "style-clusters"]
    files = [str(p) for p in stage_files(Path("t/final.safetensors"))]
    assert files[0] == "t/final_bank.safetensors" and files[-1] == "t/final.safetensors"
    assert [line[2] for line in lines] == ["t/model.safetensors", *files[:-1]]  # --weights: the last one's --out
    assert [line[4] for line in lines] == files
    for line, (_, flags) in zip(lines, HOUR_STAGES, strict=True):
        assert line[5 : 5 + len(flags)] == list(flags)
        assert ("--reader" in line) == (line[0] not in ("bank", "transfer"))
        assert ("--device" in line) == (line[0] != "bank")


@pytest.fixture
def ran(monkeypatch):
    """Every stage command replaced by one that records its parsed flags and writes its --out."""
    calls = []

    def fake(name):
        def run(a):
            calls.append((name, a))
            Path(a.out).write_bytes(b"stage")
        return run

    for name, function in COMMANDS.items():
        monkeypatch.setattr(model.cli_stages, function, fake(name))
    return calls


def test_vcn_stages_runs_every_stage_with_the_hours_flags(tmp_path, ran, capsys):
    weights = tmp_path / "model.safetensors"
    save_vcn(weights, VCN(ML))
    main(["stages", "--weights", str(weights), "--out", str(tmp_path / "final.safetensors"), "--device", "cpu"])
    assert [name for name, _ in ran] == list(COMMANDS)
    a = dict(ran)
    assert (a["bank"].n, a["bank"].size, a["bank"].edit_strength) == (8000, 256, 1.5)
    assert (a["transfer"].n, a["transfer"].variety, a["transfer"].blend) == (4000, 0.5, 0.05)
    assert (a["verify"].strengths, a["verify"].confidence, a["verify"].sample_tries) == ([1.0, 1.5, 2.0], 0.995, 4)
    assert a["style-clusters"].half and not a["verify"].half
    assert a["calibrate"].reader == str(REPO / "weights" / "reader.safetensors")  # the stage's own default
    assert a["transfer"].device == "cpu"
    assert (tmp_path / "final.safetensors").read_bytes() == b"stage"
    assert "TIME style-clusters" in capsys.readouterr().out


def test_resume_skips_the_stages_already_written(tmp_path, ran):
    weights = tmp_path / "model.safetensors"
    save_vcn(weights, VCN(ML))
    out = tmp_path / "final.safetensors"
    for done in stage_files(out)[:3]:
        done.write_bytes(b"earlier")
    main(["stages", "--weights", str(weights), "--out", str(out), "--resume"])
    assert [name for name, _ in ran] == ["calibrate-styles", "verify", "style-clusters"]
    assert ran[0][1].weights == str(stage_files(out)[2])


def test_a_digit_model_and_a_celeba_model_are_refused(tmp_path, ran):
    """Every stage reads rendered faces (the transfer maps need the renderer's counterfactual pairs)."""
    celeba = tmp_path / "celeba.safetensors"
    save_vcn(celeba, VCN(dataclasses.replace(ML, dataset="celeba")))
    for weights in (REPO / "weights" / "mnist.safetensors", celeba):
        with pytest.raises(SystemExit, match="for attribute \\(faces\\) models of the rendered faces"):
            main(["stages", "--weights", str(weights), "--out", str(tmp_path / "x")])
    assert ran == [] and not (tmp_path / "x").exists()
