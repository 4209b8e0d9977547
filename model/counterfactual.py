"""The edit metrics of a perfect editor: the renderer's own counterfactuals, read by the same oracle.

`vcn eval` judges edits with a plain CNN trained on rendered faces. That oracle learnt the renderer's
correlations (Male with beards, Smiling with an open mouth) and its own blind spots, so no editor can score
100 %: the renderer itself, flipping one attribute of a face and drawing it again with everything else as
it was (faces.flip), is read as flipped only so often and as having kept the rest only so often. Running
model.edit_metrics.edit_metrics on that editor, with the same faces, seeds and rules, gives the reference any
model's edit_success and edit_preservation should be read against.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor


class CounterfactualEditor:
    """Stands in for a VCN in edit_metrics: reconstruct(x) is x itself, edit(x, {name: target}) renders the
    same faces with `name` flipped (and the partners the renderer clears). The faces are recognised by
    their pixels, so x must be (B, 3, H, W) float renders of `images` as edit_metrics passes them."""

    def __init__(self, batch: Any, images: Tensor, names: tuple[str, ...]):
        """batch: the FaceBatch of images (M, H, W, 3) uint8."""
        self.cfg = SimpleNamespace(capsule_names=names)
        self._batch, self._size = batch, int(images.shape[1])
        self._row = {img.tobytes(): i for i, img in enumerate(torch.as_tensor(images).numpy())}

    def reconstruct(self, x: Tensor) -> Tensor:
        return x

    def edit(self, x: Tensor, set: Mapping[str, bool], seed: int = 0) -> Tensor:
        from model.data import faces

        pixels = x.mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        rows = np.array([self._row[p.tobytes()] for p in pixels])
        batch = self._batch.take(rows)
        for name, target in set.items():
            a = faces.ATTRIBUTES.index(name)
            if not (batch.attrs[:, a] != target).all():
                raise ValueError(f"every face given must have {name} != {target}")
            batch = faces.flip(batch, name)
        rendered = torch.as_tensor(faces.render(batch, self._size))
        return rendered.permute(0, 3, 1, 2).float().div(255).to(x.device)


def reference_edit_metrics(oracle: Any, images: Tensor, batch: Any, seed: int, batch_size: int,
                           device: torch.device) -> dict[str, Any]:
    """edit_metrics of the CounterfactualEditor on these faces: the ceiling the oracle allows. images
    (M, H, W, 3) uint8 renders of `batch`. Returns the edit_success / preservation keys, prefixed "reference_"."""
    from model.data import faces
    from model.edit_metrics import edit_metrics

    editor = CounterfactualEditor(batch, images, tuple(faces.ATTRIBUTES))
    got = edit_metrics(editor, oracle, images, batch, seed, batch_size, device)
    keys = ("edit_success", "edit_preservation", "attribute_preservation", "nuisance_preservation",
            "edit_success_per_attribute")
    return {f"reference_{k}": got[k] for k in keys}
