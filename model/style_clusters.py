"""Style clusters by what each residual draws: which of the transfer fit's residuals n resamples of a face take in turn.

Resamples of a face take the transfer fit's residuals (mostly style) from STYLE_CLUSTERS clusters in turn
(CapsuleEdits._style_residual). Without this step the clusters are k-means of the residuals themselves
(capsule_edits.residual_clusters, session 13): residuals close as 8 numbers, which need not *draw* different styles.
Here, once after training, each residual of a style attribute's present capsule is drawn onto a few unseen
calibration faces that wear the attribute, as a resample draws it (the maps' capsule for the face plus style_strength
times the residual), the calibration reader's style head reads each picture, and the residuals are clustered by
those style probabilities, all the faces' together. The reader is a calibration reader (weights/reader.safetensors),
never the evaluation oracle. Slots the reader has no style head for keep their residuals' own clusters.

Measured on the shipped faces file, docs/recipes-sessions-11-14.md (session 14): distinct Eyeglasses / Wearing_Hat
styles in 10 resamples up by about 0.5 / 0.3 as the oracle reads them, Bangs a little down.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from model.capsule_edits import residual_clusters
from model.readings import to_input

N_FACES = 4  # calibration faces each residual is drawn onto (8 read the same as 4 in the session 14 probe)
RESTARTS = 10  # k-means starts, the tightest kept


@torch.inference_mode()
def drawn_style_beliefs(model: nn.Module, reader: nn.Module, x: Tensor, name: str) -> Tensor:
    """The reader's style probabilities of every residual of `name`'s present capsule drawn onto faces x (F, C, H, W)
    that show it -> (T, F * S): T residuals, S the reader's styles of `name`, the faces side by side."""
    slot, s = model.slot(name, True), reader.cfg.style_names.index(name)
    c, ctx, mask, _ = model._posterior(x)
    slots = torch.full((len(x),), slot)
    pred = model.predicted(slots, model.transfer_inputs(c, mask, ctx), slots)  # (F, D): the face's own capsule
    residuals = model.transfer_residual[slot]  # (T, D)
    t, beliefs = len(residuals), []
    for f in range(len(x)):
        drawn = c[f : f + 1].repeat(t, 1, 1)
        drawn[:, slot] = pred[f] + model.cfg.style_strength * residuals  # as CapsuleEdits.restyled draws it
        m = mask[f : f + 1].expand(t, -1)
        images = model.decode(drawn, m, ctx[f : f + 1].expand(t, -1), mask_input=m)
        beliefs.append(torch.softmax(reader(images)[1][s].float(), dim=-1))
    return torch.cat(beliefs, dim=1)


def reader_style_clusters(model: nn.Module, reader: nn.Module, images: Tensor, attrs: Tensor,
                          n_faces: int = N_FACES) -> Tensor:
    """(K, T) long cluster ids of every slot's residuals: for each style attribute the reader reads and the maps
    were fitted for, k-means of drawn_style_beliefs on the first n_faces of images (uint8 (N, H, W, 3)) whose
    attrs (N, A) bool show it (tightest_clusters); every other slot, k-means of its residuals (residual_clusters)."""
    clusters = residual_clusters(model.transfer_residual)
    names = model.cfg.capsule_names
    for name in reader.cfg.style_names:
        if name not in names:
            continue
        slot = model.slot(name, True)
        faces = attrs[:, names.index(name)].nonzero().squeeze(1)[:n_faces]
        if len(faces) == 0 or not bool(model.mapped(torch.tensor([slot]))[0]):
            continue
        beliefs = drawn_style_beliefs(model, reader, to_input(images[faces], model.device), name)
        clusters[slot] = tightest_clusters(beliefs)
    return clusters


def tightest_clusters(x: Tensor, restarts: int = RESTARTS) -> Tensor:
    """(T, F) -> (T,) long: of residual_clusters' k-means from `restarts` seeds, the clusters with the smallest
    summed squared distance to their means (one start's clusters of the reader's beliefs vary, and so did what
    the oracle then read: docs/recipes-sessions-11-14.md, session 14)."""
    runs = [residual_clusters(x.unsqueeze(0), seed=seed)[0] for seed in range(restarts)]
    return min(runs, key=lambda labels: _spread(x, labels))


def _spread(x: Tensor, labels: Tensor) -> float:
    """The k-means objective: squared distances of the rows of x (T, F) to their cluster's mean, summed."""
    return sum(float((x[labels == c] - x[labels == c].mean(0)).pow(2).sum()) for c in labels.unique())


def with_style_clusters(model: nn.Module, clusters: Tensor) -> nn.Module:
    """A copy of a VCN with transfer maps whose resamples take these (K, T) residual clusters in turn
    (cfg.style_clusters "reader")."""
    if not model.cfg.transfer_maps:
        raise ValueError("style clusters group the transfer fit's residuals: the model has no transfer maps")
    out = model.rebuilt(dataclasses.replace(model.cfg, style_clusters="reader"), fresh=("style_cluster",))
    out.style_cluster.copy_(clusters)
    return out.eval()
