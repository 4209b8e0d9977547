"""model/counterfactual.py: the renderer's own flips as an editor (test_evaluate.py checks the reference
metrics of a perfect reader)."""

import pytest
import torch

from model.counterfactual import CounterfactualEditor
from model.data import faces
from model.readings import to_input

SIZE = 16


def _faces(n: int = 30):
    batch = faces.sample_faces(7, 0, n)
    return batch, torch.as_tensor(faces.render(batch, size=SIZE))


def test_edit_renders_the_same_faces_with_the_attribute_flipped():
    batch, images = _faces()
    editor = CounterfactualEditor(batch, images, tuple(faces.ATTRIBUTES))
    a = faces.ATTRIBUTES.index("Eyeglasses")
    rows = (batch.attrs[:, a] == 0).nonzero()[0][:3]
    x = to_input(images[rows], torch.device("cpu"))
    assert torch.equal(editor.reconstruct(x), x)
    edited = editor.edit(x, {"Eyeglasses": True})
    expected = faces.render(faces.flip(batch.take(rows), "Eyeglasses"), size=SIZE)
    assert torch.equal(edited.permute(0, 2, 3, 1).mul(255).round().byte(), torch.from_numpy(expected))
    assert not torch.equal(edited, x)
    with pytest.raises(ValueError, match="Eyeglasses"):  # a face that already wears glasses cannot be flipped on
        editor.edit(to_input(images[(batch.attrs[:, a] == 1).nonzero()[0][:1]], torch.device("cpu")),
                    {"Eyeglasses": True})
