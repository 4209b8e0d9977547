"""What the docs/img figure scripts share: vcn eval's test faces as model inputs, and a grid of rows saved at 4x."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.utils import save_image

from model.data import faces
from model.evaluate import TEST_SEED


def eval_faces(n: int, size: int = 64) -> tuple[faces.FaceBatch, Tensor]:
    """The first n test faces (vcn eval's seed): their ground truth and float (n, 3, size, size) images."""
    batch = faces.sample_faces(TEST_SEED, 0, n)
    return batch, torch.as_tensor(faces.render(batch, size=size)).permute(0, 3, 1, 2).float() / 255


def save_rows(rows: list[Tensor], out: str, scale: int = 4) -> None:
    """Rows of images (each (k, C, H, W), all k alike) as one grid at `scale`x, white-framed, to out."""
    grid = F.interpolate(torch.cat(rows), scale_factor=scale, mode="nearest")
    save_image(grid, out, nrow=rows[0].shape[0], padding=4, pad_value=1.0)
    print(out)
