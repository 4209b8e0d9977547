"""bench/ and model/fast.py: the benchmark functions return well-formed numbers (never how fast), and the
inference optimisations give the model's own answers. Tiny untrained models, a few calls each."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from bench import common, http_bench, model_bench, train_bench
from model.config import PRESETS, TrainConfig, VCNConfig
from model.fast import fold_batchnorm, optimize_for_inference
from model.vcn import VCN

CFG = VCNConfig(arch="compact", image_size=16, capsule_names=("a", "b", "Eyeglasses"), width=8, capsule_dim=4,
                context_dim=3, mask_input=True)


def _model(cfg: VCNConfig = CFG) -> VCN:
    """A tiny VCN whose BatchNorms have non-trivial statistics, so folding them changes the weights."""
    torch.manual_seed(0)
    model = VCN(cfg)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)


# ------------------------------------------------------------------------------------------- model/fast.py
def test_optimized_model_gives_the_same_answers_and_leaves_the_original_alone():
    model = _model()
    fast = optimize_for_inference(model)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    a, b = model.predict(x), fast.predict(x)
    assert torch.equal(a.present, b.present)
    torch.testing.assert_close(b.kl_present, a.kl_present, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast.edit(x, {"a": True}, seed=3), model.edit(x, {"a": True}, seed=3), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(fast.sample({}, n=2, seed=1), model.sample({}, n=2, seed=1), atol=1e-5, rtol=0)


def test_fold_batchnorm_handles_transposed_convs():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 6, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(6)).eval()
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 4, 5, 5)
    want = net(x)
    folded = fold_batchnorm(net)
    assert isinstance(folded[1], torch.nn.Identity)
    torch.testing.assert_close(folded(x), want, atol=1e-5, rtol=1e-5)


def test_bf16_paths_return_float32_and_generator_only_keeps_predictions():
    model = _model()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    for mode in ("generator", "all"):
        out = optimize_for_inference(model, bf16=mode).edit(x, {"b": False}, seed=0)
        assert out.dtype == torch.float32 and out.shape == (2, 3, 16, 16)
    gen = optimize_for_inference(model, bf16="generator")
    torch.testing.assert_close(gen.predict(x).kl_present, model.predict(x).kl_present, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="bf16"):
        optimize_for_inference(model, bf16="yes")


# ------------------------------------------------------------------------------------------- bench/common.py
def test_common_helpers():
    assert common.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert common.percentile([1.0, 2.0], 90) == pytest.approx(1.9)
    assert math.isnan(common.percentile([], 50))
    times = common.interleaved({"a": lambda: None, "b": lambda: None}, rounds=3, per_round=2, warmup=0)
    assert {k: len(v) for k, v in times.items()} == {"a": 6, "b": 6}
    assert common.matmul_rate(64, reps=2) > 0
    table = common.markdown_table(["x", "y"], [[1, 0.12345], ["z", 1234.5]])
    assert table.splitlines()[2] == "| 1 | 0.123 |" and table.splitlines()[3] == "| z | 1234 |"
    info = common.machine()
    assert info["cores"] >= 1 and len(info["loadavg"]) == 3 and isinstance(info["busy"], list)


# ------------------------------------------------------------------------------------------- bench/model_bench.py
def test_model_bench_numbers_are_well_formed():
    variants = model_bench.make_variants(_model(), ["base", "fast", "fast-1t"])
    assert variants["fast-1t"].threads == 1
    lat = model_bench.latency(variants, runs=5)
    assert set(lat) == set(model_bench.OP_NAMES)
    for by_variant in lat.values():
        for r in by_variant.values():
            assert r["n"] == 5 and 0 < r["p50_ms"] <= r["p90_ms"]
    rows = model_bench.throughput(variants, batches=[2], rounds=2)
    assert len(rows) == 3 * 3
    for r in rows:
        assert r["mflop_per_img"] > 0 and all(_finite(r[k]) and r[k] > 0 for k in ("img_per_s", "gflop_s", "share"))
    acc = model_bench.accuracy(variants, model_bench.images(variants["base"].model, 2))
    assert acc["base"] == {"edit_max_abs_diff": 0.0, "predict_agreement": 1.0}
    assert acc["fast"]["edit_max_abs_diff"] < 1e-4


# ------------------------------------------------------------------------------------------- bench/train_bench.py
def test_train_bench_numbers_are_well_formed(monkeypatch):
    from model.train import TensorData

    monkeypatch.setitem(PRESETS, "tiny", (CFG, TrainConfig(batch_size=4, swap_weight=1.0)))
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8, generator=g),
                      torch.randint(0, 2, (16, 3), dtype=torch.uint8, generator=g),
                      torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8, generator=g),
                      torch.randint(0, 2, (16, 3), dtype=torch.uint8, generator=g))
    rates = train_bench.train_steps("tiny", {}, data, steps=4, log_every=2)
    assert len(rates) == 2 and all(r > 0 for r in rates)
    with_pairs = train_bench.flops_per_image("tiny", {}, data)
    without = train_bench.flops_per_image("tiny", {"swap_weight": 0.0}, data)
    assert with_pairs > without > 0  # the swap term decodes every image a second time
    assert train_bench.train_steps("tiny", {"cpu_bf16": True}, data, steps=4, log_every=2)[-1] > 0
    assert {name for name, (_, over) in train_bench.RUNS.items() if over.get("cpu_bf16")}  # measured side by side
    render = train_bench.rendering(n=2, workers=(0,), rounds=1)
    assert render[0] > 0


# ------------------------------------------------------------------------------------------- bench/http_bench.py
def test_http_helpers():
    from PIL import Image

    png = http_bench.face_png(96)
    assert Image.open(__import__("io").BytesIO(png)).size == (96, 96)
    before = {'vcn_inference_seconds_sum{op="predict"}': 1.0, 'vcn_inference_seconds_count{op="predict"}': 10}
    after = {'vcn_inference_seconds_sum{op="predict"}': 1.5, 'vcn_inference_seconds_count{op="predict"}': 15}
    assert http_bench.server_mean(before, after, "vcn_inference_seconds", "predict") == pytest.approx(0.1)
    assert math.isnan(http_bench.server_mean(after, after, "vcn_inference_seconds", "predict"))


@pytest.mark.slow
def test_http_bench_drives_a_real_server(tmp_path):
    """`vcn serve` on a tiny checkpoint, two clients, a handful of requests each way."""
    import asyncio

    from model.checkpoint import save_vcn

    weights = tmp_path / "tiny.safetensors"
    save_vcn(weights, _model(dataclasses.replace(CFG, capsule_names=("Eyeglasses", "Smiling", "Bangs", "Wearing_Hat"))))
    png = http_bench.face_png(16)
    with http_bench.server(weights) as url:
        for op in ("predict", "edit", "edit-mixed"):  # edit-mixed: four different asks in turn
            r = asyncio.run(http_bench.drive(url, op, png, concurrency=2, requests=6, max_s=60))
            assert (r["ok"], r["errors"]) == (6, {})
            assert 0 < r["p50_ms"] <= r["p99_ms"] and r["req_per_s"] > 0
        over = http_bench.overhead(url, weights, "predict", png, rounds=1, per_round=3)
        assert over["http_p50_ms"] > 0 and over["model_p50_ms"] > 0 and _finite(over["overhead_share"])
        assert over["server_model_ms"] > 0 and over["lean_http_p50_ms"] > 0 and _finite(over["lean_overhead_share"])
        assert over["raw_http_p50_ms"] > 0 and _finite(over["raw_overhead_share"])  # this server takes raw bodies
        parts = http_bench.breakdown(url, weights, png, n=5)
        assert set(parts) == {"http_floor", "decode", "encode_png"} and all(v > 0 for v in parts.values())


@pytest.mark.slow
def test_http_bench_compares_checkouts(tmp_path, capsys):
    """--compare: one server per checkout (here the same one twice, one with extra environment)."""
    from model.checkpoint import save_vcn

    weights = tmp_path / "tiny.safetensors"
    save_vcn(weights, _model())
    repo = Path(http_bench.__file__).resolve().parent.parent
    out = tmp_path / "compare.json"
    rows = http_bench.compare([str(repo), f"{repo}+VCN_MAX_IN_FLIGHT=8"], weights, rounds=1, per_round=3,
                              json_out=str(out))
    assert [(r["op"], r["server"]) for r in rows] == [
        (op, name) for op in ("predict", "edit") for name in (str(repo), f"{repo}+VCN_MAX_IN_FLIGHT=8")]
    assert all(r["http_p50_ms"] > 0 and r["lean_http_p50_ms"] > 0 for r in rows)
    assert [r["raw_http_p50_ms"] is not None for r in rows] == [True, True, False, False]  # predict only
    assert json.loads(out.read_text())["overhead"][0]["op"] == "predict"
    assert "lean client" in capsys.readouterr().out


def test_edit_cost_times_each_edit_setting(capsys):
    from bench import edit_bench

    edit_bench.main(["--rounds", "1"])  # the shipped faces file verifies its edits (vcn verify)
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]
    verified = "verified at [1.0, 1.5, 2.0] + calibrated"
    assert [r[0].strip() for r in rows[:8]] == [
        "bank (session 4)", "maps", "maps + blend (sessions 5-8)", verified, "resample, bank", "resample, maps",
        "maps + blend (sessions 5-8), every attribute in turn (per edit)",
        f"{verified}, every attribute in turn (per edit)"]
    assert len(rows) == 14 and all(0 < float(r[2]) <= float(r[3]) for r in rows)
