"""Configuration: the frozen dataclasses that build a network and describe a training recipe.

`VCNConfig` is everything needed to rebuild the network; it is stored as JSON in every checkpoint so a
weights file is self-describing (capsule names, image size and kind travel with it). `TrainConfig` is
the recipe (losses, weights, optimiser); it is stored beside it so a model card can say how a file
was made.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

# CelebA's 40 attributes, in the order and spelling of list_attr_celeba.txt.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class VCNConfig:
    """Everything that determines the network's shape.

    arch: "mnist" (the paper's digit net, fully connected generator), "compact" (a small conv net for
    64x64 / 128x128 faces that trains on CPU), "celeba256" (the paper's Sec. 4.1 net at 256x256).
    kind: "multilabel" (each name has a present/absent capsule pair, K = 2A) or "multiclass" (one
    capsule per name, exactly one active, K = A).
    """

    arch: str = "compact"
    kind: str = "multilabel"
    capsule_names: tuple[str, ...] = CELEBA_ATTRIBUTES
    image_size: int = 64
    channels: int = 3
    capsule_dim: int = 8
    context_dim: int = 8  # always-active capsule for what no attribute names; 0 = the paper's pure design
    # Also feed the (B, K) mask itself to the generator, not only the masked capsules: then presence is
    # read from the mask and the capsule values only have to carry style. False = the paper's design.
    mask_input: bool = False
    width: int = 32  # base channel width; the paper's nets use their own fixed widths times width / 32
    # The compact generator's layers get at least this many channels (0 = its halving widths, 32 at 64x64):
    # the finest layers draw thin shapes such as a fringe's cut (model/widen.py grows a trained one to it).
    generator_min_width: int = 0
    dataset: str = "faces"
    # Capsules kept per capsule slot from training faces (posterior means where that capsule was active),
    # drawn instead of the prior when switching an attribute on or resampling a style. 0 = prior only.
    bank_size: int = 0
    # Transfer maps (model/transfer.py; multilabel faces fitted on the renderer's counterfactual pairs): a
    # capsule switched on is predicted from the face's own capsules, so it keeps the face's pose and
    # background, instead of being a banked capsule of another face. The number is how many residuals of
    # the fit are kept per slot (0 = no maps); transfer_variety scales the one an edit adds (0 = the same
    # capsule for every seed, 1 = the fit's full spread).
    transfer_maps: int = 0
    transfer_variety: float = 0.0
    # Attribute positive rates seen in training: `sample` draws unspecified attributes with these.
    attribute_rates: tuple[float, ...] = ()
    # Attribute pairs the training data never shows together (capsules.exclusive_pairs, stored at training
    # time): switching one on switches the other off, as AttGAN and STGAN resolve attribute conflicts, and
    # `sample` never asks for both. Without this an edit such as Bald on a dark-haired face asks the
    # generator for a combination it never saw (Bald *and* Black_Hair).
    exclusive: tuple[tuple[str, str], ...] = ()
    # Default `strength` of VCN.edit: 1 = the paper's edit; above 1 extrapolates the mask change (a tuned
    # inference setting of a trained model, like the bank; docs/recipes.md has the measured trade-off).
    edit_strength: float = 1.0
    # Per-attribute default strengths (one per name; empty = edit_strength for all), set after training by
    # `vcn calibrate` with a calibration reader on unseen training-seed faces: an attribute that takes at 1
    # is not pushed, one the decoder draws faintly (a necklace) is pushed harder.
    attribute_strength: tuple[float, ...] = ()
    # Edits blended into the reconstruction (vcn.blend_edit): where an edit changes the picture by less than
    # this (mean over channels, smoothed), it fades towards the reconstruction, so the faint global drift of
    # a strong edit does not land; 0 = off (the paper's edit). An inference setting, like the strengths.
    edit_blend: float = 0.0
    # A style resample moves the capsule this many times as far as the new style (like edit_strength for
    # a state): the new capsule is old + style_strength * (drawn - old), where "old" is what the transfer
    # maps predict for the face (so only the fit's residual, mostly style, is scaled) or, without maps, the
    # face's own capsule. Above 1 the decoder, which draws small shapes faintly, commits to the new style.
    style_strength: float = 1.0
    # Which residuals of the transfer fit n resamples of a face take in turn (CapsuleEdits._style_residual):
    # "residuals", k-means clusters of the residuals themselves, worked out when the file loads; "reader", clusters
    # of the styles a calibration reader sees each residual draw, stored in the file by `vcn style-clusters`
    # (model/style_clusters.py). Without transfer maps resamples draw no residual and neither is used.
    style_clusters: str = "residuals"
    # Verified edits (model/verify.py; set after training by `vcn verify`): an edit that sets attributes is
    # decoded at each of these strengths and at the calibrated one, and the first that the embedded verifier
    # (a calibration reader, never the evaluation oracle; `verifier` is its OracleConfig as JSON) reads as
    # taken with at least verify_confidence is returned. Empty = off: one decode at the calibrated strength.
    verify_strengths: tuple[float, ...] = ()
    verify_confidence: float = 0.999
    verifier: str = ""
    # Verified samples (model/verify.py, set by `vcn verify --sample-tries`): each new face is drawn this many
    # times and the verifier keeps the draw it reads closest to the states asked. 1 = the prior draw as is.
    sample_tries: int = 1
    # Pasted resamples that show the style they drew (model/paste_regions.py; set after training by `vcn
    # paste-regions`): the file holds a region per attribute (zero: none), and where the verifier reads another
    # style on a pasted resample than on the plain one, the region's pixels come from the resample. Without a
    # verifier or edit_blend (variants that turn them off) the regions do nothing.
    paste_regions: bool = False
    # Multiclass only (set after training by `vcn class-evidence`): the class is chosen between the two of
    # smallest KL by KL + class_evidence_weight * the reconstruction's loss (class_evidence_recon, summed over
    # pixels) under that class's mask: the training loss of "the image is this class", when the weight is the
    # recipe's recon_weight. 0 = the smallest KL alone (the paper's rule). docs/recipes-sessions-8-10.md, session 10.
    class_evidence_weight: float = 0.0
    class_evidence_recon: str = "bce"

    def __post_init__(self) -> None:
        if self.kind not in ("multilabel", "multiclass"):
            raise ValueError(f"kind must be 'multilabel' or 'multiclass', got {self.kind!r}")
        if self.arch not in ("mnist", "compact", "celeba256"):
            raise ValueError(f"unknown arch {self.arch!r}")
        if len(set(self.capsule_names)) != len(self.capsule_names):
            raise ValueError("capsule names must be unique")
        # JSON gives lists back; keep the dataclass hashable and comparable.
        object.__setattr__(self, "capsule_names", tuple(self.capsule_names))
        object.__setattr__(self, "attribute_rates", tuple(float(r) for r in self.attribute_rates))
        object.__setattr__(self, "exclusive", tuple((str(a), str(b)) for a, b in self.exclusive))
        if self.transfer_maps and self.kind != "multilabel":
            raise ValueError("transfer maps are for multilabel (attribute) models")
        if not 0.0 <= self.transfer_variety <= 1.0:
            raise ValueError(f"transfer_variety must be in [0, 1], got {self.transfer_variety}")
        if not 0.0 <= self.edit_blend <= 1.0:
            raise ValueError(f"edit_blend must be in [0, 1], got {self.edit_blend}")
        if not 0.0 < self.style_strength <= 4.0:
            raise ValueError(f"style_strength must be in (0, 4], got {self.style_strength}")
        if self.style_clusters not in ("residuals", "reader"):
            raise ValueError(f"style_clusters must be 'residuals' or 'reader', got {self.style_clusters!r}")
        if not 0.0 < self.edit_strength <= 4.0:
            raise ValueError(f"edit_strength must be in (0, 4], got {self.edit_strength}")
        object.__setattr__(self, "attribute_strength", tuple(float(v) for v in self.attribute_strength))
        if self.attribute_strength and (len(self.attribute_strength) != len(self.capsule_names)
                                        or not all(0.0 < v <= 4.0 for v in self.attribute_strength)):
            raise ValueError("attribute_strength needs one strength in (0, 4] per capsule name")
        if self.class_evidence_weight < 0 or (self.class_evidence_weight and self.kind != "multiclass"):
            raise ValueError("class_evidence_weight is a non-negative weight, for multiclass models only")
        if self.class_evidence_recon not in ("bce", "mse"):
            raise ValueError(f"class_evidence_recon must be 'bce' or 'mse', got {self.class_evidence_recon!r}")
        object.__setattr__(self, "verify_strengths", tuple(float(v) for v in self.verify_strengths))
        if self.verify_strengths and (self.kind != "multilabel" or not self.verifier):
            raise ValueError("verify_strengths needs a multilabel (attribute) model with a verifier")
        if not all(0.0 < v <= 4.0 for v in self.verify_strengths) or not 0.5 <= self.verify_confidence < 1.0:
            raise ValueError("verify_strengths must be in (0, 4] and verify_confidence in [0.5, 1)")
        if not 1 <= self.sample_tries <= 16 or (self.sample_tries > 1 and (self.kind != "multilabel"
                                                                           or not self.verifier)):
            raise ValueError("sample_tries must be in [1, 16]; above 1 it needs a multilabel model with a verifier")
        unknown = {n for pair in self.exclusive for n in pair} - set(self.capsule_names)
        if unknown:
            raise ValueError(f"exclusive pairs name unknown attributes: {', '.join(sorted(unknown))}")

    @property
    def num_names(self) -> int:
        """A: the number of attributes (or classes)."""
        return len(self.capsule_names)

    @property
    def num_capsules(self) -> int:
        """K: capsules the encoder produces (two per attribute for multilabel)."""
        return 2 * self.num_names if self.kind == "multilabel" else self.num_names

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> VCNConfig:
        return from_dict(cls, json.loads(text))


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. Eq. 6 as we read it: margin + alpha * adversarial + beta * recon (the paper's
    CelebA values alpha 0.025, beta 10 only make sense that way round), plus the levers that make edits
    take (see docs/recipes.md)."""

    steps: int = 20_000
    batch_size: int = 64
    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    # "cosine": lr falls to lr_floor * lr along a half cosine over the run, the run being `steps` or the
    # trainer's --max-time, whichever ends first (a fine-tune or a timed GPU run settles instead of
    # stopping mid-stride); "constant": the paper's fixed rate.
    lr_schedule: str = "constant"
    lr_floor: float = 0.05
    # Eq. 3: margin m on the KL of inactive capsules, lambda down-weights them. The paper leaves both
    # open; m must sit well above the KL an active capsule settles at (a few nats).
    margin: float = 64.0
    down_weight: float = 0.5
    recon: str = "mse"  # "mse" or "bce"
    recon_reduction: str = "sum"  # "sum" over pixels (VAE-style, comparable to the KL) or "mean"
    recon_weight: float = 1.0  # beta
    adv_weight: float = 0.0  # alpha (LSGAN); 0 = no discriminator
    teacher_forcing: bool = True  # generator sees the true mask in training (else the KL-predicted one)
    context_kl_weight: float = 1.0  # KL of the context capsule to N(0, I)
    # Levers (0 = off). See model/losses.py for each term.
    swap_weight: float = 0.0  # counterfactual pairs: x's capsules with one pair from x' must decode to x'
    judge_weight: float = 0.0  # a judge trained on real images reads edits / prior samples (generator only)
    donor_weight: float = 0.0  # the swap with the changed pair from another face in that state (rendered pairs)
    mmd_weight: float = 0.0  # aggregate posterior of active capsules vs N(0, I)
    choice_weight: float = 0.0  # cross-entropy of each group's smallest-KL choice (losses.capsule_choice_loss)
    choice_temperature: float = 1.0  # of that softmax over -KL (nats)
    # A frozen CNN's activations of each reconstruction must match those of its image (losses.perceptual_loss)
    perceptual_weight: float = 0.0
    # Neighbouring-pixel differences of each reconstruction must match its image's (losses.edge_loss)
    edge_weight: float = 0.0
    # A frozen reader's style heads read each reconstruction and swap; each must show the style the reader sees
    # on the image it should look like (losses.style_judge_loss; rendered faces, whose readers have style heads)
    style_weight: float = 0.0
    augment_shift: int = 0  # random translation by up to this many pixels (MNIST, as CapsNet does)
    augment_rotate: float = 0.0  # and rotation by up to this many degrees (augment.random_affine)
    augment_scale: float = 0.0  # and zoom by a factor in 1 +- this
    # The judge reads generated images through a random shift, brightness change and noise (augment.judge_view)
    # so the generator cannot please it with changes no other reader sees.
    judge_augment: bool = False
    # The judge's fakes are decoded with the generator's BatchNorm on its running statistics, as the server decodes
    # them, instead of the fakes batch's own statistics: on batch statistics a generator learns to please the frozen
    # judge with images no other reader sees that way (session 27: judge loss 0.04 on batch statistics, 8.1 on the same
    # fakes decoded as the server does; the oracle reads them blurry either way).
    judge_eval_norm: bool = False
    # The style reader likewise reads every generated image through judge_view (the reader's clean view of the real
    # image it must match stays clean), so the decoder must draw a style a shifted, noisier reader still sees.
    style_augment: bool = False
    # Rendered faces: share of counterfactual pairs that restyle one present attribute (other glasses)
    # instead of flipping one; the swap loss then makes that attribute's capsule alone carry its style.
    style_share: float = 0.0
    seed: int = 0
    train_size: int = 200_000  # rendered faces (faces presets)
    # VCN parts ("encoder", "generator") whose weights stay as they start (from --init): e.g. a new
    # generator trained on a finished encoder, so its predictions cannot move.
    freeze: tuple[str, ...] = ()
    # Training on CPU under bf16 autocast (CUDA always uses it): 2.5x the steps per hour on a CPU with bf16
    # units (AMX), at bf16's precision in the convs; kept here so a checkpoint says how it was made.
    cpu_bf16: bool = False
    # Training in phases (model/phases.py; `vcn train` runs them in turn; measured in docs/recipes-sessions-29-30.md
    # and docs/recipes.md): the run's budget (--max-time, else `steps`) is split. The last `finish_share` trains the
    # generator alone on reconstructions (encoder frozen, no pair or judge term: ~2.5x the images a second) from
    # finish_lr down a cosine; the `encoder_share` before it trains encoder and generator without the pair and judge
    # terms from encoder_lr. What is left (phase "whole") trains every term from lr. 0 = no such phase.
    encoder_share: float = 0.0
    encoder_lr: float = 5e-4
    finish_share: float = 0.0
    finish_lr: float = 5e-4

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', not {self.lr_schedule!r}")
        if set(self.freeze) - {"encoder", "generator"}:
            raise ValueError(f"freeze takes 'encoder' and/or 'generator', not {self.freeze!r}")
        if not 0.0 <= self.style_share <= 1.0:
            raise ValueError(f"style_share is a share of the pairs, in [0, 1]; got {self.style_share}")
        if not 0.0 <= self.lr_floor <= 1.0:
            raise ValueError(f"lr_floor is a fraction of lr, in [0, 1]; got {self.lr_floor}")
        if min(self.encoder_share, self.finish_share) < 0 or self.encoder_share + self.finish_share >= 1:
            raise ValueError("encoder_share and finish_share are shares of the run, >= 0 and together < 1; got "
                             f"{self.encoder_share} and {self.finish_share}")

    @property
    def phased(self) -> bool:
        """Whether this recipe trains in phases (model/phases.py) rather than in one run."""
        return self.encoder_share > 0 or self.finish_share > 0

    def lr_at(self, progress: float) -> float:
        """The learning rate once `progress` (0 = start, 1 = end of the run) of the run is done."""
        if self.lr_schedule == "constant":
            return self.lr
        p = min(max(progress, 0.0), 1.0)
        return self.lr * (self.lr_floor + (1.0 - self.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * p)))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return from_dict(cls, json.loads(text))


def from_dict(cls: type, data: dict[str, Any]):
    """Build a frozen dataclass from a dict, ignoring unknown keys (older/newer checkpoints) and
    turning JSON lists back into tuples."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
    return cls(**kwargs)


def replace(cfg, **overrides):
    """dataclasses.replace that ignores None values (unset CLI flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


# The default model: compact 64x64 net; the recipe every stage of the shipped file started from (docs/recipes.md).
FACES64 = (
    VCNConfig(arch="compact", image_size=64, capsule_dim=8, context_dim=8, width=32, dataset="faces", mask_input=True),
    TrainConfig(steps=20_000, batch_size=64, lr=3e-4, margin=64.0, down_weight=0.5, recon_weight=1.0,
                swap_weight=1.0, judge_weight=10.0),
)

PRESETS: dict[str, tuple[VCNConfig, TrainConfig]] = {
    # The paper's digit experiment: 10 capsules of dim 16, reconstruction as BCE on binary-ish pixels.
    "mnist": (
        VCNConfig(arch="mnist", kind="multiclass", capsule_names=DIGITS, image_size=28, channels=1,
                  capsule_dim=16, context_dim=0, width=32, dataset="mnist"),
        TrainConfig(steps=6000, batch_size=128, lr=1e-3, betas=(0.9, 0.999), margin=32.0, down_weight=0.5,
                    recon="bce", recon_weight=1.0, augment_shift=2),
    ),
    "faces64": FACES64,
    # The hour from scratch (docs/recipes.md, "The hour from scratch"; session 31's hourE): faces64's objective with
    # a 6x higher rate down a cosine, the perceptual and choice terms and a looser context, then the encoder and
    # finish phases (model/phases.py). Run it with --max-time 3000 on a 2-core CPU (--cpu-bf16 1 where the CPU
    # has bf16 units), then the stages after training (`vcn stages`). faces64 itself stays as it was: every
    # documented command that built the shipped weights starts from it.
    "faces64-hour": (
        FACES64[0],
        dataclasses.replace(FACES64[1], lr=2e-3, lr_schedule="cosine", perceptual_weight=40.0, choice_weight=4.0,
                            choice_temperature=4.0, context_kl_weight=0.1, train_size=60_000, encoder_share=0.2,
                            encoder_lr=5e-4, finish_share=0.2, finish_lr=2e-3),
    ),
    "faces128": (
        VCNConfig(arch="compact", image_size=128, capsule_dim=8, context_dim=8, width=32, dataset="faces",
                  mask_input=True),
        TrainConfig(steps=20_000, batch_size=32, lr=3e-4, margin=64.0, down_weight=0.5, recon_weight=1.0,
                    swap_weight=1.0),
    ),
    # The paper's Sec. 4.1 CelebA net and hyper-parameters as it states them.
    "celeba256": (
        VCNConfig(arch="celeba256", image_size=256, capsule_dim=32, context_dim=0, width=32, dataset="celeba"),
        TrainConfig(steps=100_000, batch_size=64, lr=2e-4, adv_weight=0.025, recon_weight=10.0,
                    recon_reduction="mean", margin=64.0, down_weight=0.5),
    ),
}
