"""Evaluation: every metric present and in range on tiny random models, deterministic, Fréchet sane."""

import json
import math

import numpy as np
import pytest
import torch

from model.baseline import CVAE, CVAEConfig, save_baseline
from model.checkpoint import save_vcn
from model.config import VCNConfig
from model.data import faces
from model.edit_metrics import edit_metrics, style_metrics
from model.evaluate import evaluate, load_model, run_eval
from model.metrics import format_table, frechet_distance
from model.oracle import Oracle, OracleConfig, OracleReading, save_oracle
from model.vcn import VCN, Prediction

SIZE = 16
SHARES = ("mean_accuracy", "edit_success", "edit_preservation", "attribute_preservation",
          "nuisance_preservation", "style_preservation", "sample_accuracy", "sample_exact", "oracle_accuracy",
          "reconstruction_accuracy", "reference_edit_success", "reference_edit_preservation",
          "reference_attribute_preservation", "reference_nuisance_preservation", "input_preservation",
          "input_attribute_preservation", "input_nuisance_preservation", "input_style_preservation",
          "swap_success", "swap_preservation", "swap_input_preservation")
FACE_KEYS = {*SHARES, "per_attribute", "edit_success_per_attribute", "style_diversity", "style_presence",
             "sample_accuracy_per_attribute", "frechet_distance", "seconds",
             "reference_edit_success_per_attribute", "swap_success_per_attribute", "swap_style_transfer",
             "swap_style_presence", "n_swaps"}


@pytest.fixture(scope="module")
def vcn() -> VCN:
    torch.manual_seed(0)
    return VCN(VCNConfig(image_size=SIZE, width=4, capsule_dim=2, context_dim=2)).eval()


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    torch.manual_seed(1)
    return Oracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16)).eval()


def small_eval(model, oracle, **kw):
    return evaluate(model, oracle, n=24, n_edit=4, n_style=2, batch_size=32, **kw)


def check_face_results(r: dict) -> None:
    assert FACE_KEYS <= set(r)
    for key in SHARES:
        assert 0.0 <= r[key] <= 1.0, key
    for table in ("per_attribute", "edit_success_per_attribute", "sample_accuracy_per_attribute"):
        assert set(r[table]) == set(faces.ATTRIBUTES)
        assert all(0.0 <= v <= 1.0 for v in r[table].values())
    assert set(r["style_diversity"]) == set(faces.STYLE_ATTRIBUTES)
    for name, v in r["style_diversity"].items():
        assert v is None or 0.0 <= v <= 10.0, name
    assert {"Eyeglasses", "Bangs", "Wearing_Hat"} <= set(r["style_diversity"])
    assert r["frechet_distance"] >= 0.0
    assert r["n_edits"] == 4 * 40 and 0 < r["n_swaps"] <= 4 * 40  # a swap needs a donor in the other state
    assert set(r["swap_style_transfer"]) == set(r["style_diversity"])
    json.dumps(r)  # JSON-able


def test_evaluate_vcn_keys_ranges_and_determinism(vcn, oracle):
    first = small_eval(vcn, oracle)
    check_face_results(first)
    again = small_eval(vcn, oracle)
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    table = format_table(first)
    assert "Eyeglasses" in table and "edit success" in table and "Wearing_Hat" in table


def test_evaluate_restores_training_mode(vcn, oracle):
    vcn.train()
    try:
        evaluate(vcn, None, n=8)
        assert vcn.training
    finally:
        vcn.eval()


def test_evaluate_baseline_alike(oracle):
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(image_size=SIZE, width=4, z_dim=4)).eval()
    r = small_eval(model, oracle, style_attributes=("Eyeglasses", "Bangs", "Wearing_Hat"))
    assert r["model"] == "baseline (CVAE)"
    assert set(r["style_diversity"]) == {"Eyeglasses", "Bangs", "Wearing_Hat"}
    assert 0 <= r["edit_success"] <= 1 and 0 <= r["sample_accuracy"] <= 1


def test_without_oracle_only_accuracy(vcn):
    r = evaluate(vcn, None, n=8)
    assert 0 <= r["mean_accuracy"] <= 1 and "edit_success" not in r and r["notes"]


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance(a, a + 1.0)
    assert shifted == pytest.approx(8.0, rel=1e-6)  # same covariance: |mean difference|^2
    b = rng.normal(size=(500, 8)) * 2.0
    d = frechet_distance(a, torch.tensor(b))
    assert d > 1.0
    scipy_linalg = pytest.importorskip("scipy.linalg")
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(s_a @ s_b).real
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean)
    assert d == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a[:, :4], b)


def test_run_eval_and_load_model(tmp_path, vcn, oracle, capsys):
    weights = save_vcn(tmp_path / "vcn.safetensors", vcn)
    oracle_path = save_oracle(tmp_path / "oracle.safetensors", oracle)
    r = run_eval(weights, oracle_path=oracle_path, json_out=tmp_path / "out" / "m.json", n=12, n_edit=2,
                 n_style=1, device="cpu")
    written = json.loads((tmp_path / "out" / "m.json").read_text())
    assert written["mean_accuracy"] == r["mean_accuracy"] and written["model"] == "VCN"
    assert "edit success" in capsys.readouterr().out
    baseline = save_baseline(tmp_path / "b.safetensors", CVAE(CVAEConfig(image_size=SIZE, width=4, z_dim=4)))
    assert type(load_model(baseline)).__name__ == "CVAE"
    with pytest.raises(Exception, match="expected a 'vcn' or 'baseline'"):
        load_model(oracle_path)


def test_missing_default_oracle_is_a_note(tmp_path, vcn, monkeypatch):
    import model.evaluate as ev

    monkeypatch.setattr(ev, "DEFAULT_ORACLE", tmp_path / "nope.safetensors")
    r = run_eval(save_vcn(tmp_path / "vcn.safetensors", vcn), n=8, device="cpu", echo=False)
    assert "edit_success" not in r and any("no oracle" in note for note in r["notes"])


def test_digits():
    mnist = pytest.importorskip("model.data.mnist")
    try:
        mnist.load_mnist(None, "test")
    except Exception as e:  # noqa: BLE001 - no MNIST files here
        pytest.skip(f"MNIST not available: {e}")
    from model.digit_judge import DigitJudge, DigitJudgeConfig

    torch.manual_seed(0)
    model = VCN(VCNConfig(arch="mnist", kind="multiclass", capsule_names=tuple("0123456789"), image_size=28,
                          channels=1, capsule_dim=4, context_dim=0, width=2, dataset="mnist")).eval()
    judge = DigitJudge(DigitJudgeConfig(width=4, feature_dim=8)).eval()
    r = evaluate(model, judge, n=300, n_per_digit=5)
    assert 0 <= r["error_rate"] <= 1 and 0 <= r["sample_accuracy"] <= 1 and r["n"] == 300
    assert set(r["per_attribute"]) == set("0123456789") and not math.isnan(r["frechet_distance"])
    assert "error rate" in format_table(r)


# ----------------------------------------------------------------------------------------------------
# The metric logic against a model and an oracle whose answers are known: a stand-in renderer writes
# each face's ground truth into its pixels, the "model" edits those pixels exactly as faces.flip says
# (a perfect counterfactual editor), the "oracle" reads them back.

A, S, N = len(faces.ATTRIBUTES), len(faces.STYLE_ATTRIBUTES), len(faces.NUISANCE)


def _encode(attrs, styles, nuisance) -> torch.Tensor:
    """(n, A) {0,1}, (n, S) ids, (n, N) [0, 1] -> float images (n, 3, 16, 16) holding them."""
    n = len(attrs)
    x = torch.zeros(n, 3, SIZE * SIZE)
    x[:, 0, :A] = torch.as_tensor(attrs, dtype=torch.float32)
    x[:, 1, :S] = torch.as_tensor(styles, dtype=torch.float32) / 10
    x[:, 2, :N] = torch.as_tensor(nuisance, dtype=torch.float32)
    return x.view(n, 3, SIZE, SIZE)


def _decode(x: torch.Tensor) -> faces.FaceBatch:
    flat = x.float().reshape(len(x), 3, -1).cpu()
    return faces.FaceBatch((flat[:, 0, :A] > 0.5).numpy().astype("uint8"),
                           (flat[:, 1, :S] * 10).round().long().numpy(), flat[:, 2, :N].numpy())


def _fake_render(batch, size=64, workers=0):
    images = _encode(batch.attrs, batch.styles, batch.nuisance).permute(0, 2, 3, 1)
    return (images * 255).round().to(torch.uint8)


class PixelOracle(Oracle):
    def read_with_features(self, x):
        b = _decode(x)
        attrs = torch.as_tensor(b.attrs).bool()
        reading = OracleReading(attrs, attrs.float(), torch.as_tensor(b.styles), torch.as_tensor(b.nuisance))
        return reading, x.float().reshape(len(x), -1)[:, : 2 * A]


class PixelEditor(torch.nn.Module):
    """Predicts, edits, resamples and samples by rewriting the ground truth in the pixels."""

    def __init__(self, sloppy: bool = False):
        super().__init__()
        self.cfg = VCNConfig(image_size=SIZE)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.sloppy = sloppy

    @property
    def device(self):
        return self.dummy.device

    def predict(self, x):
        present = torch.as_tensor(_decode(x).attrs).bool()
        return Prediction(present, present.float(), present.float(), present.float())

    def reconstruct(self, x):
        return x.clone()

    def edit(self, x, set=None, resample=(), seed=0):
        b = _decode(x)
        for name, on in (set or {}).items():
            a = faces.ATTRIBUTES.index(name)
            rows = b.attrs[:, a] != int(on)
            flipped = faces.flip(b, name)
            if self.sloppy:  # also changes the next attribute: a leak the metric must see
                flipped = faces.FaceBatch(flipped.attrs.copy(), flipped.styles, flipped.nuisance)
                flipped.attrs[:, (a + 1) % A] ^= 1
            b = faces.FaceBatch(np.where(rows[:, None], flipped.attrs, b.attrs), b.styles, b.nuisance)
        g = torch.Generator().manual_seed(seed)
        for name in resample:
            s = faces.STYLE_ATTRIBUTES.index(name)
            b.styles[:, s] = torch.randint(0, faces.STYLE_COUNTS[name], (len(x),), generator=g).numpy()
            if self.sloppy:  # a resample that also changes the next attribute
                b.attrs[:, (faces.ATTRIBUTES.index(name) + 1) % A] ^= 1
        return _encode(b.attrs, b.styles, b.nuisance)

    def swap(self, x, x_b, attributes, paste=False):
        """Takes each named attribute's state (flipped as faces.flip does, partners and all) and style from x_b."""
        b, donor = _decode(x), _decode(x_b)
        for name in attributes:
            a = faces.ATTRIBUTES.index(name)
            rows = b.attrs[:, a] != donor.attrs[:, a]
            styles = b.styles.copy()
            if name in faces.STYLE_ATTRIBUTES:
                s = faces.STYLE_ATTRIBUTES.index(name)
                styles[:, s] = donor.styles[:, s]
            b = faces.FaceBatch(np.where(rows[:, None], faces.flip(b, name).attrs, b.attrs), styles, b.nuisance)
        return _encode(b.attrs, b.styles, b.nuisance)

    def sample_states(self, states, seed=0):
        n = len(states)
        return _encode(states.cpu().numpy(), np.zeros((n, S), int), np.full((n, N), 0.5))


def test_metrics_of_a_perfect_editor(monkeypatch):
    monkeypatch.setattr(faces, "render", _fake_render)
    oracle = PixelOracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16))
    r = evaluate(PixelEditor(), oracle, n=60, n_edit=20, n_style=5, batch_size=32,
                 style_attributes=("Eyeglasses", "Bangs", "Wearing_Hat"))
    for key in ("mean_accuracy", "oracle_accuracy", "reconstruction_accuracy", "edit_success",
                "attribute_preservation", "nuisance_preservation", "style_preservation", "edit_preservation",
                "sample_accuracy", "sample_exact", "reference_edit_success", "reference_edit_preservation",
                "input_preservation", "swap_success", "swap_preservation", "swap_input_preservation"):
        assert r[key] == pytest.approx(1.0), key
    gt = faces.sample_faces(10_000, 0, 20).attrs  # a face swaps every attribute some other face has the other way
    assert r["n_edits"] == 20 * A and r["n_swaps"] == 20 * int((gt.min(0) != gt.max(0)).sum())
    transfer = r["swap_style_transfer"]  # None where the first faces with the attribute show one style only
    assert set(transfer.values()) <= {None, 1.0} and transfer["Eyeglasses"] == 1.0, transfer
    assert all(v in (None, 1.0) for v in r["swap_style_presence"].values())
    assert r["style_presence"]["Eyeglasses"] == 1.0
    assert r["style_kept"] == {"Eyeglasses": 1.0, "Bangs": 1.0, "Wearing_Hat": 1.0}
    assert r["style_reconstructed"] == {"Eyeglasses": 1.0, "Bangs": 1.0, "Wearing_Hat": 1.0}
    assert 3.0 < r["style_diversity"]["Eyeglasses"] <= 10.0  # 10 uniform draws over 10 frames
    assert 1.0 < r["style_diversity"]["Bangs"] <= 4.0  # only 4 bang styles exist

    sloppy = evaluate(PixelEditor(sloppy=True), oracle, n=60, n_edit=20, n_style=1, batch_size=32,
                      style_attributes=("Bangs",))
    assert sloppy["edit_success"] == pytest.approx(1.0)
    assert 0.9 < sloppy["attribute_preservation"] < 0.99  # about one leaked change in 38 kept attributes
    assert sloppy["nuisance_preservation"] == pytest.approx(1.0)
    assert 0.9 < sloppy["style_kept"]["Bangs"] < 0.99  # its resamples leak into the next attribute too


class LossyEditor(PixelEditor):
    """A PixelEditor whose reconstruction misreads the last attribute of every face; its plain edits carry the
    misreading (a decoder redraws the whole face), its pasted edits keep the input there."""

    def reconstruct(self, x):
        return self._misread(x)

    def edit(self, x, set=None, resample=(), seed=0, paste=False):
        out = super().edit(x, set, resample, seed)
        return out if paste else self._misread(out)

    @staticmethod
    def _misread(x):
        b = _decode(x)
        attrs = b.attrs.copy()
        attrs[:, A - 1] ^= 1
        return _encode(attrs, b.styles, b.nuisance)


def test_preservation_against_the_reconstruction_and_against_the_input(monkeypatch):
    """edit_preservation counts what the edit changed of the reconstruction, input_preservation what it changed
    of the input: a misread the reconstruction carries into every plain edit costs only the second, a pasted
    edit (edit_metrics' paste) that keeps the input costs only the first."""
    monkeypatch.setattr(faces, "render", _fake_render)
    oracle = PixelOracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16))
    batch = faces.sample_faces(3, 0, 12)
    images = _fake_render(batch)
    plain = edit_metrics(LossyEditor(), oracle, images, batch, 0, 32, torch.device("cpu"))
    pasted = edit_metrics(LossyEditor(), oracle, images, batch, 0, 32, torch.device("cpu"), paste=True)
    one_in = 1 / (A - 1.5)  # one attribute of the ~38.5 counted per edit (the edited one and its forced partners out)
    assert plain["edit_preservation"] == pytest.approx(1.0) and not plain["pasted"]
    assert plain["input_attribute_preservation"] == pytest.approx(1 - one_in, abs=0.01)
    assert pasted["input_preservation"] == pytest.approx(1.0) and pasted["pasted"]
    assert pasted["attribute_preservation"] == pytest.approx(1 - one_in, abs=0.01)
    assert plain["input_nuisance_preservation"] == pasted["nuisance_preservation"] == pytest.approx(1.0)


class CutLosingEditor(PixelEditor):
    """A PixelEditor whose reconstruction draws every face's Bangs in the next cut: resamples as many as before,
    the face's own cut lost (what session 21's decoder trained on resamples did on 47 % of faces)."""

    def reconstruct(self, x):
        b = _decode(x)
        s = faces.STYLE_ATTRIBUTES.index("Bangs")
        styles = b.styles.copy()
        styles[:, s] = (styles[:, s] + 1) % faces.STYLE_COUNTS["Bangs"]
        return _encode(b.attrs, styles, b.nuisance)


def test_style_reconstructed_sees_a_reconstruction_lose_the_face_own_style(monkeypatch):
    monkeypatch.setattr(faces, "render", _fake_render)
    oracle = PixelOracle(OracleConfig.for_faces(image_size=SIZE, width=4, feature_dim=16))
    batch = faces.sample_faces(3, 0, 60)
    images, attrs = _fake_render(batch), torch.as_tensor(batch.attrs).bool()
    r = style_metrics(CutLosingEditor(), oracle, images, attrs, ("Eyeglasses", "Bangs"), 5, 0, 32,
                      torch.device("cpu"))
    assert r["style_reconstructed"] == {"Eyeglasses": 1.0, "Bangs": 0.0}
    assert r["style_diversity"]["Bangs"] > 1.0  # the resamples still differ: only the new metric sees it


def test_celeba_layout(tmp_path, vcn):
    faces.write_celeba_layout(tmp_path / "celeba", 30, seed=3, size=SIZE)
    r = run_eval(save_vcn(tmp_path / "v.safetensors", vcn), dataset="celeba", data_root=tmp_path / "celeba",
                 device="cpu", echo=False)
    assert r["dataset"] == "celeba" and r["n"] == 3 and 0 <= r["mean_accuracy"] <= 1
    assert any("oracle" in note for note in r["notes"]) and "edit_success" not in r


def test_a_swap_donor_is_the_next_face_in_another_state():
    from model.edit_metrics import next_other

    assert next_other(torch.tensor([0, 0, 1, 0, 1])).tolist() == [2, 2, 3, 4, 0]  # cyclic: the last wraps round
    assert next_other(torch.tensor([3, 5, 3])).tolist() == [1, 2, 1]  # any states, such as style ids
    assert next_other(torch.tensor([1, 1])).tolist() == [-1, -1]  # nobody to take it from
