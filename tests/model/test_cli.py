"""model/cli.py: the `vcn` command parses, and `vcn train` hands the right configs to train()."""

import subprocess
import sys
from pathlib import Path

import pytest

import model.train
from model.cli import build_parser, main
from model.config import PRESETS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("argv", "usage"), [([], "usage: vcn "), (["train"], "usage: vcn train ")])
def test_help_exits_0(argv, usage):
    done = subprocess.run([sys.executable, "-m", "model.cli", *argv, "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(usage)
    if argv:
        assert "--swap-weight" in done.stdout and "--resume" in done.stdout and "--max-time" in done.stdout
    else:
        commands = ("train,baseline,eval,data,calibrate,calibrate-styles,style-clusters,style-fit,paste-regions,verify,"
                    "stages,class-evidence,bank,transfer,bench,serve")
        assert "{" + commands + "}" in done.stdout


def test_unknown_preset_exits_2_from_the_command_line():
    done = subprocess.run([sys.executable, "-m", "model.cli", "train", "--preset", "nope"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid choice: 'nope'" in done.stderr


def test_overrides_parse_into_their_fields():
    a = build_parser().parse_args(["train", "--preset", "mnist", "--swap-weight", "2", "--capsule-dim", "4",
                                   "--batch-size", "16", "--recon", "mse", "--max-time", "30", "--resume"])
    assert a.preset == "mnist" and a.command == "train"
    assert a.swap_weight == 2.0 and isinstance(a.swap_weight, float)
    assert a.capsule_dim == 4 and a.batch_size == 16 and a.recon == "mse"
    assert a.max_time == 30.0 and a.resume is True
    assert a.lr is None and a.width is None and a.judge_weight is None  # unset: keep the preset's


def test_train_command_passes_preset_with_overrides(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(model.train, "train", lambda vcfg, tcfg, out, **kw: calls.append((vcfg, tcfg, out, kw))
                        or Path(out) / "model.safetensors")
    main(["train", "--preset", "faces64", "--out", str(tmp_path), "--swap-weight", "2", "--capsule-dim", "4",
          "--steps", "7", "--context-dim", "0", "--lr", "0.01", "--seed", "3", "--ckpt-every", "5",
          "--max-time", "12.5", "--resume", "--device", "cpu", "--no-progress", "--mask-input", "0",
          "--judge-augment", "1", "--style-augment", "1", "--style-share", "0.25", "--cpu-bf16", "1",
          "--augment-rotate", "12",
          "--augment-scale", "0.1", "--style-weight", "4", "--style-judge", "r.safetensors"])
    (vcfg, tcfg, out, kw), = calls
    pv, pt = PRESETS["faces64"]
    assert vcfg.capsule_dim == 4 and vcfg.context_dim == 0
    assert pv.mask_input and not vcfg.mask_input
    assert (vcfg.width, vcfg.image_size, vcfg.capsule_names, vcfg.arch) == (pv.width, pv.image_size,
                                                                            pv.capsule_names, pv.arch)
    assert tcfg.swap_weight == 2.0 and tcfg.steps == 7 and tcfg.lr == 0.01 and tcfg.seed == 3
    assert tcfg.judge_augment is True and tcfg.style_share == 0.25 and not pt.judge_augment
    assert tcfg.style_augment is True and not pt.style_augment
    assert tcfg.cpu_bf16 is True and not pt.cpu_bf16
    assert (tcfg.augment_rotate, tcfg.augment_scale) == (12.0, 0.1) and pt.augment_rotate == pt.augment_scale == 0
    assert (tcfg.batch_size, tcfg.margin, tcfg.recon_weight) == (pt.batch_size, pt.margin, pt.recon_weight)
    assert out == str(tmp_path)
    assert kw["device"] == "cpu" and kw["max_time"] == 12.5 and kw["resume"] is True
    assert kw["ckpt_every"] == 5 and kw["progress"] is False and kw["judge_path"] is None
    assert tcfg.style_weight == 4.0 and pt.style_weight == 0 and kw["style_judge_path"] == "r.safetensors"


def test_a_phased_recipe_trains_through_train_in_phases(monkeypatch, tmp_path):
    """--encoder-share / --finish-share (or a phased preset) route `vcn train` to model.phases.train_in_phases
    with the same keyword arguments; a plain recipe still goes to train()."""
    import model.phases

    calls = []
    monkeypatch.setattr(model.train, "train", lambda *a, **kw: calls.append(("train", a[1])) or Path("x"))
    monkeypatch.setattr(model.phases, "train_in_phases",
                        lambda *a, **kw: calls.append(("phases", a[1], kw)) or Path("x"))
    main(["train", "--out", str(tmp_path), "--encoder-share", "0.2", "--finish-share", "0.25", "--finish-lr", "1e-3",
          "--encoder-lr", "4e-4", "--max-time", "60"])
    main(["train", "--preset", "faces64-hour", "--out", str(tmp_path)])
    main(["train", "--preset", "faces64-hour", "--out", str(tmp_path), "--encoder-share", "0", "--finish-share", "0"])
    (kind, tcfg, kw), (kind2, hour, _), (kind3, plain) = calls
    assert kind == kind2 == "phases" and kind3 == "train"
    assert (tcfg.encoder_share, tcfg.finish_share, tcfg.finish_lr, tcfg.encoder_lr) == (0.2, 0.25, 1e-3, 4e-4)
    assert kw["max_time"] == 60.0 and kw["device"] == "auto"
    assert hour == PRESETS["faces64-hour"][1] and not plain.phased


def test_unknown_preset_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--preset", "nope"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--swap-weight", "lots"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([])  # a subcommand is required
    assert e.value.code == 2


@pytest.mark.parametrize("command", ["calibrate", "calibrate-styles", "style-clusters", "style-fit", "paste-regions"])
def test_calibrations_refuse_a_digit_model(command, tmp_path):
    with pytest.raises(SystemExit, match=f"vcn {command}: for attribute \\(faces\\) models"):
        main([command, "--weights", str(REPO / "weights" / "mnist.safetensors"), "--out", str(tmp_path / "x"),
              "--device", "cpu"])
    assert not (tmp_path / "x").exists()


def test_class_evidence_takes_the_recipe_weight_and_refuses_an_attribute_model(tmp_path, capsys):
    from model.checkpoint import load_vcn

    out = tmp_path / "digits.safetensors"
    main(["class-evidence", "--weights", str(REPO / "weights" / "mnist.safetensors"), "--out", str(out), "--half"])
    shipped, written = load_vcn(REPO / "weights" / "mnist.safetensors"), load_vcn(out)
    recipe = shipped.metadata["train_config"]
    assert written.cfg.class_evidence_weight == recipe["recon_weight"] and written.cfg.class_evidence_recon == "bce"
    main(["class-evidence", "--weights", str(out), "--out", str(out), "--weight", "0"])
    assert load_vcn(out).cfg.class_evidence_weight == 0.0 and "smallest KL" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="vcn class-evidence: .*multiclass"):
        main(["class-evidence", "--weights", str(REPO / "weights" / "faces.safetensors"), "--out", str(tmp_path / "f")])
    assert not (tmp_path / "f").exists()


def test_baseline_command_trains_and_saves_a_cvae(monkeypatch, tmp_path):
    import model.baseline

    seen = {}

    def fake_train(cfg, **kwargs):
        seen.update(kwargs, cfg=cfg)

    monkeypatch.setattr(model.baseline, "train_baseline", fake_train)
    main(["baseline", "--dataset", "mnist", "--out", str(tmp_path / "b.safetensors"), "--steps", "5",
          "--z-dim", "12", "--max-time", "9"])
    assert seen["cfg"].dataset == "mnist" and seen["cfg"].kind == "multiclass" and seen["cfg"].z_dim == 12
    assert seen["steps"] == 5 and seen["max_time"] == 9 and seen["out_path"] == str(tmp_path / "b.safetensors")
