"""The bundled weights still meet their model cards (weights/README.md), on a small slice.

Thresholds sit a little below the card's full-size figures: a small slice is noisier, but a regression
in the weights or in the code (capsule math, masking, the renderer, the evaluator) fails here.
"""

from pathlib import Path

import pytest
import torch

from model.checkpoint import load_vcn, read_checkpoint
from model.data import faces
from model.digit_judge import load_digit_judge
from model.edit_metrics import edit_metrics, style_metrics
from model.evaluate import TEST_SEED, evaluate_digits, evaluate_faces
from model.oracle import load_oracle

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
CARD = (WEIGHTS / "README.md").read_text()

# These very calls measured 99.85 % / 96.9 % / 97.9 % / 97.6 % (faces: session 4's H200 fine-tune with
# calibrated per-attribute strengths, session 5's transfer maps and blend, session 6's style strength, session 8's
# perceptual decoder, session 9's verified edits; 99.85 / 96.9 / 97.3 / 97.6 % before those) and 0.80 %
# error, 100 % samples (digits, session 9's longer H200 fine-tune; session 4's file measured 0.90 % / 100 %)
# on the shipped files; the card's full-size figures are in weights/README.md.
# The slice measured 96.9 % edits and 96.4 % swaps (session 13; swaps took 75 % on the whole test set before they were
# pushed, verified and resolved like edits), kept 97.9 / 98.2 %; session 15's file (the style lever at GPU length):
# edits 97.3 %, swaps 96.4 %, kept 97.8 / 97.9 %, samples 97.4 %.
# Session 16's oracle read the slice below at 99.85 / 98.75 / 98.41 / 98.27 / 97.4 / 98.62 % (stage 11), and at
# 99.85 / 98.54 / 98.73 / 98.32 / 96.35 / 98.88 % (stage 12, session 17's decoder), and at 99.85 / 98.54 / 98.79 /
# 98.33 / 96.35 / 98.88 % (stage 13, session 18's region-weighted decoder), and at 99.85 / 97.92 / 98.86 / 98.47 /
# 96.61 / 98.97 % (stage 14, the same at GPU length), and at 99.85 / 97.92 / 98.83 / 98.47 / 95.83 / 98.99 % (stage 15,
# session 22's decoder also trained on resamples; its 6,000 card swaps read 95.8 %), and at 99.85 / 97.50 / 98.92 /
# 98.42 / 95.05 / 99.08 % (stage 16, the same at GPU length; its 6,000 card swaps read 95.9 %; stage 17, session 24's
# fitted style residuals, reads the same): the floors sit a little below (stage 16's slice swaps only 0.05 point above
# theirs: the slice holds a few hundred, each about 0.2 point). Stage 19 (session 26's verified samples, each new face
# the best of 4 draws by the embedded reader) reads its samples at 99.03 % where stage 18 read 98.42, which fails.
FACES_FLOOR = {"mean_accuracy": 0.99, "edit_success": 0.95, "edit_preservation": 0.98, "sample_accuracy": 0.985,
               "swap_success": 0.95, "swap_preservation": 0.98}
MNIST_CEILING_ERROR = 0.012
MNIST_FLOOR_SAMPLES = 0.98


@pytest.mark.parametrize("name, role", [("faces", "vcn"), ("mnist", "vcn"), ("oracle", "oracle"), ("reader", "oracle"),
                                        ("judge", "judge"), ("digit_judge", "digit_judge"),
                                        ("baseline", "baseline")])
def test_each_shipped_file_is_a_small_documented_checkpoint(name, role):
    path = WEIGHTS / f"{name}.safetensors"
    assert path.stat().st_size < 50 * 2**20
    _, meta = read_checkpoint(path, role=role)
    assert meta["config"]
    assert f"{name}.safetensors" in CARD


@pytest.mark.slow
def test_faces_weights_meet_their_card_on_a_slice():
    model = load_vcn(WEIGHTS / "faces.safetensors")
    assert model.cfg.kind == "multilabel" and model.cfg.num_names == 40 and model.capsule_source == "bank"
    # calibrated per attribute by the calibration reader, a different network from the oracle that judges it
    assert len(model.cfg.attribute_strength) == 40 and model.metadata["calibration"]["reader"] == "reader.safetensors"
    assert (WEIGHTS / "reader.safetensors").read_bytes() != (WEIGHTS / "oracle.safetensors").read_bytes()
    # switched-on capsules come from transfer maps fitted on rendered pairs; strong edits are blended
    assert model.cfg.transfer_maps > 0 and model.metadata["transfer"]["source"] == "rendered counterfactual pairs"
    assert model.cfg.edit_blend > 0 and bool(model.transfer_weight.abs().sum() > 0)
    # style resamples pushed by the strength the calibration reader saw the most distinct styles at
    styles = model.metadata["style_calibration"]
    assert styles["reader"] == "reader.safetensors" and model.cfg.style_strength == styles["chosen"] > 1.0
    # and drawn from clusters of the styles that reader sees each residual draw (session 14), one for every residual,
    # except where `vcn style-fit` (session 24) fitted residuals per style: there the clusters are the styles in turn,
    # each of the 10 filled, the residuals not fitted in none (10)
    assert model.cfg.style_clusters == "reader" and model.metadata["style_clusters"]["reader"] == "reader.safetensors"
    assert model.metadata["style_fit"]["reader"] == "reader.safetensors"
    assert model.style_cluster.shape == model.transfer_residual.shape[:2]
    assert 0 <= int(model.style_cluster.min()) and int(model.style_cluster.max()) <= 10
    fitted = [k for k in range(len(model.style_cluster)) if bool((model.style_cluster[k] == 10).any())]
    assert {model.cfg.capsule_names[k // 2] for k in fitted} >= {"Bangs", "Eyeglasses", "Wearing_Hat"}
    assert all(set(model.style_cluster[k].tolist()) == set(range(11)) for k in fitted)
    # edits verified by the calibration reader, embedded (in float16) in the file: never by the oracle
    assert model.cfg.verify_strengths and model.metadata["verification"]["reader"] == "reader.safetensors"
    assert model.cfg.sample_tries == 4 == model.metadata["verification"]["sample_tries"]  # verified samples
    reader = load_oracle(WEIGHTS / "reader.safetensors").state_dict()
    for k, v in model.verifier.state_dict().items():
        want = reader[k].half().float() if v.is_floating_point() else reader[k]
        assert torch.equal(v, want), k
    oracle = load_oracle(WEIGHTS / "oracle.safetensors")
    r = evaluate_faces(model, oracle, n=300, n_edit=12, n_style=4,
                       style_attributes=("Eyeglasses", "Bangs", "Wearing_Hat"))
    for key, floor in FACES_FLOOR.items():
        assert r[key] >= floor, f"{key} {r[key]:.4f} < {floor}"
    # a style resample keeps the rest of the face (this call: 98.6 / 99.6 / 97.7 % for E / B / H, stage 17; stage 16:
    # 96.9 / 99.6 / 95.7 %; stage 15: 97.4 / 99.5 / 95.6 %; stage 14: 97.9 / 99.3 / 95.9 %; stage 13: 97.3 / 98.5 /
    # 93.9 %; stage 12: 97.1 / 99.4 / 94.0 %; stage 11: 97.9 / 99.0 / 96.1 %)
    assert min(r["style_kept"].values()) >= 0.93, r["style_kept"]
    # and draws different styles: this call reads 5.0 / 4.0 / 5.0 distinct ones in 10 resamples (stage 17; stage 16:
    # 4.75 / 4.0 / 4.75; stage 15: 3.75 / 3.75 / 5.0; stage 14: 4.0 / 3.75 / 4.75; stage 13: 4.0 / 3.75 / 4.5; stage 12:
    # 4.75 / 3.5 / 4.75; stage 11: 4.5 / 3.0 / 5.0; session 14's file, before the style lever, read by session 2's
    # oracle: 2.0 / 2.25 / 4.0, which fails here); the draws are seeded, so only the code or the weights move it
    assert sum(r["style_diversity"].values()) >= 13.75, r["style_diversity"]  # stage 16's 13.5 fails
    # and its reconstructions keep the face's own Bangs cut: on vcn eval's 30 style faces, the oracle reads the input's
    # cut on the reconstruction of 83 % of them (stage 16; stage 15: 89 %; stage 14: 83 %); session 21's candidate,
    # whose decoder was trained on resamples at push 3, drew more cuts from resamples (3.83) and the face's own on
    # 50 %: a plain edit would redraw the cut
    bangs = faces.sample_faces(TEST_SEED, 0, 300)
    bang_images, bang_attrs = torch.as_tensor(faces.render(bangs, size=64)), torch.as_tensor(bangs.attrs)
    own = style_metrics(model, oracle, bang_images, bang_attrs, ("Bangs",), 30, TEST_SEED, 100, model.device)
    assert own["style_faces"]["Bangs"] == 30 and own["style_reconstructed"]["Bangs"] >= 0.7, own
    # Resamples pasted onto the input, as the server answers them, show the cut they drew within Bangs' paste region
    # (`vcn paste-regions`, session 25): the same 30 faces read 3.67 cuts pasted (stage 17, without regions: 3.27,
    # which fails), the rest of the input kept 99.6 %
    assert "Bangs" in model.metadata["paste_regions"]["regions"] and model.cfg.paste_regions
    pasted = style_metrics(model, oracle, bang_images, bang_attrs, ("Bangs",), 30, TEST_SEED, 100, model.device,
                           paste=True)
    assert pasted["style_diversity"]["Bangs"] >= 3.5 and pasted["style_input_kept"]["Bangs"] >= 0.98, pasted
    # The server's default for this file: edits pasted onto the input take as often and keep more of the input
    # than plain ones, both read on 36 faces x 40 edits (the 12 faces above read the gap at 1.44 to 1.57 points
    # for files whose 6,000 card edits read 1.84 to 2.04: too few for a 1.5-point check; these 36 read
    # 98.58 against 97.06 % for stage 16, 98.58 against 96.94 % for stage 15, 98.53 against 96.69 % for stage 14,
    # 98.54 against 96.53 % for stage 13).
    test = faces.sample_faces(TEST_SEED, 0, 36)
    images = torch.as_tensor(faces.render(test, size=64))
    plain, pasted = (edit_metrics(model, oracle, images, test, TEST_SEED, 100, model.device, paste=p)
                     for p in (False, True))
    assert pasted["edit_success"] >= FACES_FLOOR["edit_success"]
    assert pasted["input_preservation"] >= plain["input_preservation"] + 0.015, (pasted["input_preservation"],
                                                                                plain["input_preservation"])


@pytest.mark.slow
def test_baseline_weights_meet_their_card_on_a_slice():
    """The CVAE measured 86.0 % / 29.0 % / 98.0 % / 76.7 % with this very call (session 16's oracle; session 2's:
    86.0 / 31.0 / 97.7 / 78.2 %)."""
    from model.baseline import load_baseline

    r = evaluate_faces(load_baseline(WEIGHTS / "baseline.safetensors"), load_oracle(WEIGHTS / "oracle.safetensors"),
                       n=300, n_edit=12, n_style=4, style_attributes=("Eyeglasses", "Bangs", "Wearing_Hat"))
    floor = {"mean_accuracy": 0.84, "edit_success": 0.27, "edit_preservation": 0.95, "sample_accuracy": 0.74}
    for key, value in floor.items():
        assert r[key] >= value, f"{key} {r[key]:.4f} < {value}"


@pytest.mark.slow
def test_mnist_weights_meet_their_card_on_a_slice():
    model = load_vcn(WEIGHTS / "mnist.safetensors")
    r = evaluate_digits(model, load_digit_judge(WEIGHTS / "digit_judge.safetensors"), n=2000, n_per_digit=40)
    assert r["error_rate"] <= MNIST_CEILING_ERROR
    assert r["sample_accuracy"] >= MNIST_FLOOR_SAMPLES
