"""CelebA layout: the rendered layout round-trips, preprocessing, and malformed files fail loudly."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data import faces
from model.data.celeba import CelebADataset, CelebAFormatError, load_image, read_layout

N = 20


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    faces.write_celeba_layout(root, N, seed=3, size=64)
    return root


def test_written_layout_format(layout):
    lines = (layout / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == str(N) and lines[1].split() == list(faces.ATTRIBUTES) and len(lines) == N + 2
    assert lines[2].startswith("000001.png ") and set(lines[2].split()[1:]) <= {"1", "-1"}
    assert all(len(line.split()) == 41 for line in lines[2:])
    partition = (layout / "list_eval_partition.txt").read_text().split()
    assert partition[:2] == ["000001.png", "0"] and partition[-1] == "2"
    header = (layout / "styles.csv").read_text().splitlines()[0].split(",")
    assert header == ["filename", *faces.STYLE_ATTRIBUTES, *faces.NUISANCE]
    assert len(list((layout / "img_align_celeba").glob("*.png"))) == N


def test_layout_parses_and_matches_render(layout):
    train, valid, test = (CelebADataset(layout, s) for s in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (16, 2, 2)
    assert train.split_sizes == {"train": 16, "valid": 2, "test": 2}
    assert train.attributes == faces.ATTRIBUTES
    everything = CelebADataset(layout, "all")
    batch = faces.sample_faces(3, 0, N)
    np.testing.assert_array_equal(everything.attrs, batch.attrs)
    image, attrs = test[1]
    assert image.shape == (3, 64, 64) and attrs.shape == (40,)
    np.testing.assert_array_equal(attrs.numpy(), batch.attrs[N - 1])
    expected = faces.render(batch.take([N - 1]))[0].transpose(2, 0, 1) / 255
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-6)     # PNG is lossless


def test_stats_match_what_was_rendered(layout):
    stats = faces.data_stats("celeba", layout)
    batch = faces.sample_faces(3, 0, N)
    assert {k: v["images"] for k, v in stats["splits"].items()} == {"train": 16, "valid": 2, "test": 2, "all": N}
    for i, name in enumerate(faces.ATTRIBUTES):
        assert stats["splits"]["all"]["positive_rate"][name] == pytest.approx(batch.attrs[:, i].mean(), abs=1e-4)
        assert stats["splits"]["train"]["positive_rate"][name] == pytest.approx(batch.attrs[:16, i].mean(), abs=1e-4)
    rich = faces.data_stats("faces", layout)
    hats = batch.attrs[:, faces.ATTRIBUTES.index("Wearing_Hat")] == 1
    assert sum(rich["style_counts"]["Wearing_Hat"]) == hats.sum()


def test_centre_crop_of_aligned_celeba(tmp_path):
    pixels = np.zeros((218, 178, 3), np.uint8)
    pixels[:20] = 255          # the 20 rows above and below the centre square are white
    pixels[-20:] = 255
    pixels[20:-20, :, 0] = 200
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = np.asarray(load_image(tmp_path / "a.png", 64))
    assert out.shape == (64, 64, 3)
    assert (out[..., 1] < 5).all() and (abs(out[..., 0].astype(int) - 200) <= 2).all()
    square = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(square).save(tmp_path / "b.png")
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "b.png", 64)), square)


def _tiny_layout(root: Path, attr_text: str, partition_text: str = "a.png 0\nb.png 2\n") -> Path:
    (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (178, 218)).save(root / "img_align_celeba" / name)
    (root / "list_attr_celeba.txt").write_text(attr_text)
    (root / "list_eval_partition.txt").write_text(partition_text)
    return root


GOOD = "2\nSmiling Male \na.png  1 -1\nb.png -1  1\n"


def test_tiny_layout_with_irregular_spacing(tmp_path):
    ds = CelebADataset(_tiny_layout(tmp_path, GOOD), "all", size=32)
    assert ds.attributes == ("Smiling", "Male") and len(ds) == 2
    np.testing.assert_array_equal(ds.attrs, [[1, 0], [0, 1]])
    assert CelebADataset(tmp_path, "test").filenames == ["b.png"]


@pytest.mark.parametrize("attr_text, partition_text, file, line", [
    ("2\nSmiling Male\na.png 1 -1\nb.png 1\n", None, "list_attr_celeba.txt", 4),        # column count
    ("2\nSmiling Male\na.png 1 -1\nb.png 1 0\n", None, "list_attr_celeba.txt", 4),      # unknown value
    ("3\nSmiling Male\na.png 1 -1\nb.png 1 1\n", None, "list_attr_celeba.txt", 1),      # count mismatch
    ("two\nSmiling Male\na.png 1 -1\nb.png 1 1\n", None, "list_attr_celeba.txt", 1),    # bad count line
    ("3\nSmiling Male\na.png 1 -1\nb.png 1 1\nc.png 1 1\n", "a.png 0\nb.png 0\nc.png 1\n",
     "list_attr_celeba.txt", 5),                                                          # missing image
    (GOOD, "a.png 0\nb.png 7\n", "list_eval_partition.txt", 2),                           # bad split
    (GOOD, "a.png 0\nb.png\n", "list_eval_partition.txt", 2),                             # column count
    (GOOD, "a.png 0\nz.png 1\n", "list_eval_partition.txt", 2),                           # unknown image
])
def test_malformed_files_name_file_and_line(tmp_path, attr_text, partition_text, file, line):
    root = _tiny_layout(tmp_path, attr_text, partition_text or "a.png 0\nb.png 2\n")
    with pytest.raises(CelebAFormatError) as err:
        read_layout(root)
    assert file in str(err.value) and f"line {line}" in str(err.value)
    assert err.value.line == line


def test_missing_partition_entry_and_files(tmp_path):
    root = _tiny_layout(tmp_path, GOOD, "a.png 0\n")
    with pytest.raises(CelebAFormatError, match=r"no split for b\.png \(list_attr_celeba\.txt line 4\)"):
        CelebADataset(root, "train")
    with pytest.raises(FileNotFoundError):
        CelebADataset(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError):
        CelebADataset(root, "validation")
