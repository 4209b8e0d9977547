"""The judges: they learn, read the right shapes, round-trip through safetensors, never share VCN code."""

import ast
from pathlib import Path

import pytest
import torch

import model.digit_judge as digit_judge_module
import model.oracle as oracle_module
from model.checkpoint import CheckpointError, save_checkpoint
from model.digit_judge import DigitJudge, DigitJudgeConfig, load_digit_judge, save_digit_judge
from model.oracle import (
    Oracle,
    OracleConfig,
    load_oracle,
    measure_oracle,
    oracle_losses,
    save_oracle,
    train_oracle,
)

NAMES = ("A", "B", "C", "D")


def tiny_config(**kw) -> OracleConfig:
    base = dict(image_size=16, attribute_names=NAMES, style_names=("B",), style_counts=(3,),
                nuisance_names=("tone", "hat_colour"), nuisance_conditions=("", "C"), width=4, feature_dim=16)
    return OracleConfig(**{**base, **kw})


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Attribute k lights up quadrant k; B's style picks the colour channel; 'tone' is the brightness of the
    background."""
    g = torch.Generator().manual_seed(seed)
    attrs = (torch.rand(n, 4, generator=g) < 0.5).float()
    styles = torch.randint(0, 3, (n, 1), generator=g)
    tone = torch.rand(n, 1, generator=g)
    hat = torch.rand(n, 1, generator=g)
    x = tone.view(n, 1, 1, 1).expand(n, 3, 16, 16).clone() * 0.3
    for k, (r, c) in enumerate([(0, 0), (0, 8), (8, 0), (8, 8)]):
        on = attrs[:, k].view(n, 1, 1, 1) > 0.5
        x[:, :, r : r + 8, c : c + 8] += on * 0.6
    b = torch.arange(n)
    x[b, styles[:, 0], 0:8, 8:16] += 0.3 * attrs[:, 1].view(n, 1, 1)
    return x.clamp(0, 1), attrs, styles, torch.cat([tone, hat], 1)


def test_read_shapes_and_ranges():
    oracle = Oracle(tiny_config()).eval()
    r = oracle.read(torch.rand(5, 3, 16, 16))
    assert r.attrs.shape == (5, 4) and r.attrs.dtype == torch.bool
    assert r.attr_prob.shape == (5, 4) and ((0 <= r.attr_prob) & (r.attr_prob <= 1)).all()
    assert r.styles.shape == (5, 1) and r.styles.dtype == torch.long and (r.styles < 3).all()
    assert r.nuisance.shape == (5, 2) and ((0 <= r.nuisance) & (r.nuisance <= 1)).all()
    assert oracle.features(torch.rand(5, 3, 16, 16)).shape == (5, 16)
    assert oracle.attribute_logits(torch.rand(5, 3, 16, 16)).shape == (5, 4)
    # Other sizes are resized to the oracle's own.
    assert oracle.read(torch.rand(2, 3, 32, 32)).attrs.shape == (2, 4)


def test_stages_are_the_trunk_at_each_resolution():
    oracle = Oracle(tiny_config()).eval()
    x = torch.rand(5, 3, 16, 16)
    stages = oracle.stages(x)
    assert [tuple(s.shape) for s in stages] == [(5, 8, 8, 8), (5, 16, 4, 4)]  # widths 2w, 4w; 16 -> 8 -> 4
    with torch.no_grad():
        assert torch.equal(stages[-1], oracle.trunk(x - 0.5))  # the last stage is what the features read


def test_nuisance_visibility():
    oracle = Oracle(tiny_config(nuisance_conditions=("!A", "C&D")))
    attrs = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0]], dtype=torch.bool)
    assert oracle.nuisance_visible(attrs).tolist() == [[False, True], [True, False]]


def test_oracle_learns_synthetic_task():
    torch.manual_seed(0)
    oracle = Oracle(tiny_config())
    opt = torch.optim.Adam(oracle.parameters(), lr=3e-3)
    x, attrs, styles, nuisance = synthetic(64, seed=0)
    first = None
    for _ in range(40):
        losses = oracle_losses(oracle, x, attrs, styles, nuisance)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        first = first if first is not None else float(losses["total"].detach())
    assert set(losses) == {"attr", "style", "nuisance", "total"}
    assert float(losses["total"].detach()) < 0.5 * first
    oracle.eval()
    m = measure_oracle(oracle, iter([synthetic(128, seed=1)]))
    assert m["attr_accuracy"] > 0.9
    assert 0 <= m["style_accuracy"] <= 1 and 0 <= m["nuisance_mae"] <= 1
    assert set(m["attr_accuracy_per_attribute"]) == set(NAMES)


def test_style_loss_only_where_present():
    oracle = Oracle(tiny_config())
    x, attrs, styles, nuisance = synthetic(8, seed=0)
    attrs[:, 1] = 0  # B absent everywhere: its style labels must not matter
    a = oracle_losses(oracle, x, attrs, styles, nuisance)
    b = oracle_losses(oracle, x, attrs, (styles + 1) % 3, nuisance)
    assert float(a["style"]) == float(b["style"]) == 0.0


def test_save_load_round_trip(tmp_path):
    oracle = Oracle(tiny_config()).eval()
    path = save_oracle(tmp_path / "o.safetensors", oracle, metrics={"attr_accuracy": 0.5})
    back = load_oracle(path)
    assert back.cfg == oracle.cfg and back.metadata["metrics"]["attr_accuracy"] == 0.5
    assert back.metadata["role"] == "oracle"
    x = torch.rand(3, 3, 16, 16)
    assert torch.equal(back.read(x).attr_prob, oracle.read(x).attr_prob)
    judge_path = save_oracle(tmp_path / "j.safetensors", oracle, role="judge")
    assert load_oracle(judge_path, role="judge").metadata["role"] == "judge"
    with pytest.raises(CheckpointError, match="expected"):
        load_oracle(judge_path, role="oracle")
    save_checkpoint(tmp_path / "v.safetensors", {"w": torch.zeros(1)}, role="vcn")
    with pytest.raises(CheckpointError, match="vcn"):
        load_oracle(tmp_path / "v.safetensors")


def test_digit_judge_shapes_and_round_trip(tmp_path):
    judge = DigitJudge(DigitJudgeConfig(width=4, feature_dim=8)).eval()
    cls, prob = judge.read(torch.rand(6, 1, 28, 28))
    assert cls.shape == (6,) and prob.shape == (6, 10)
    assert torch.allclose(prob.sum(1), torch.ones(6))
    path = save_digit_judge(tmp_path / "d.safetensors", judge)
    back = load_digit_judge(path)
    assert back.metadata["role"] == "digit_judge"
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(back.read(x)[1], judge.read(x)[1])
    with pytest.raises(CheckpointError):
        load_oracle(path)


def test_train_oracle_on_rendered_faces(tmp_path):
    """End to end on the real renderer, tiny: it runs, refuses the VCN's seeds and stores its metrics."""
    with pytest.raises(ValueError, match="seed"):
        train_oracle(size=16, n_train=8, seed=0, steps=1, out_path=None, log=None)
    oracle, metrics = train_oracle(size=16, n_train=64, seed=1, steps=4, batch=16, device="cpu", width=4,
                                   workers=0, n_val=32, out_path=tmp_path / "o.safetensors", log=None)
    assert metrics["n"] == 32 and 0 <= metrics["attr_accuracy"] <= 1 and metrics["steps"] == 4
    back = load_oracle(tmp_path / "o.safetensors")
    assert back.metadata["metrics"]["val_start"] == 64
    assert len(back.cfg.style_names) == len(back.cfg.style_counts) > 0
    assert back.cfg.nuisance_conditions[back.cfg.nuisance_names.index("frame_colour")] == "Eyeglasses"


@pytest.mark.parametrize("module", [oracle_module, digit_judge_module])
def test_judges_never_import_the_vcn(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"model.networks", "model.vcn", "model.capsules", "model.recipe", "model.train"}


def test_shift_moves_each_image_by_its_own_offset():
    from model.digit_judge import _shift

    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1.0
    y = _shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), torch.ones(64))  # nothing falls off
    positions = {tuple(p.tolist()) for p in y[:, 0].flatten(1).argmax(1, keepdim=True)}
    assert len(positions) > 5  # offsets differ between images


def test_train_digit_judge_tiny(tmp_path):
    from model.data.mnist import load_mnist
    from model.digit_judge import train_digit_judge

    try:
        load_mnist(None, "test")
    except (FileNotFoundError, ValueError) as e:
        pytest.skip(f"MNIST not available: {e}")
    judge, metrics = train_digit_judge(steps=3, batch=16, device="cpu", width=4, log=None,
                                       out_path=tmp_path / "d.safetensors")
    assert metrics["n"] == 10_000 and metrics["steps"] == 3 and 0 <= metrics["accuracy"] <= 1
    assert load_digit_judge(tmp_path / "d.safetensors").metadata["metrics"]["steps"] == 3
