"""cfg.class_evidence_weight (multiclass): between the two classes of smallest KL, the one whose KL plus the
weighted reconstruction loss under its own mask is smaller; predict, its scores and the reconstruction agree."""

import dataclasses

import pytest
import torch
from vcn_inputs import MC, tiny_model

from model.config import VCNConfig
from model.vcn import Capsules


def _rigged(weight: float, kl=(5.0, 6.0, 50.0, 60.0)):
    """A tiny digit model whose capsules have these KLs (logvar 0) and whose decoder draws the image itself
    under class 1's mask and its negative under any other."""
    model = tiny_model(dataclasses.replace(MC, class_evidence_weight=weight))
    d = MC.capsule_dim
    mu = torch.sqrt(2 * torch.tensor(kl) / d).view(1, -1, 1).expand(-1, -1, d)  # KL = |mu|^2 / 2

    def encode(x):
        b = x.shape[0]
        return Capsules(mu.expand(b, -1, -1).clone(), torch.zeros(b, len(kl), d), torch.zeros(b, 0),
                        torch.zeros(b, 0))

    def decode(c, mask, ctx, mask_input=None):
        drawn = model.seen.repeat(c.shape[0] // model.seen.shape[0], 1, 1, 1)
        return torch.where((mask.argmax(1) == 1).view(-1, 1, 1, 1), drawn, 1 - drawn)

    model.encode, model.decode = encode, decode
    model.seen = (torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 0.9 + 0.05
    return model


def test_the_paper_rule_is_the_smallest_kl_and_evidence_can_overrule_it_between_the_two_closest():
    plain, rescored = _rigged(0.0), _rigged(0.3)
    x = plain.seen
    assert plain.predict(x).present.float().argmax(1).tolist() == [0, 0, 0]
    pred = rescored.predict(x)
    assert pred.present.float().argmax(1).tolist() == [1, 1, 1]  # class 1 draws the image, class 0 its negative
    assert pred.score.argmax(1).tolist() == [1, 1, 1] and torch.allclose(pred.score.sum(1), torch.ones(3))
    assert torch.equal(pred.kl_present, plain.predict(x).kl_present)  # the KLs themselves are reported as they are
    assert torch.allclose(rescored.reconstruct(x), x)  # the reconstruction decodes the chosen class
    # only the two of smallest KL compete: a third class that would draw better is never chosen
    far = _rigged(0.3, kl=(5.0, 40.0, 6.0, 60.0))
    assert far.predict(x).present.float().argmax(1).tolist() == [0, 0, 0]


def test_a_weight_is_for_multiclass_models_only_and_not_negative():
    with pytest.raises(ValueError, match="multiclass"):
        VCNConfig(capsule_names=("a",), class_evidence_weight=0.3)
    with pytest.raises(ValueError, match="non-negative"):
        dataclasses.replace(MC, class_evidence_weight=-1.0)
    with pytest.raises(ValueError, match="bce"):
        dataclasses.replace(MC, class_evidence_recon="l1")
