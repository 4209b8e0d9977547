"""Request and response models of the REST API (they also shape the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every error: a message, or FastAPI's list of field errors for malformed parameters."""

    detail: str | list[dict[str, Any]] = Field(examples=["unknown attribute(s): Wings"])


class AttributesInfo(BaseModel):
    """What the loaded model knows: attribute (or class) names in model order, and its image format."""

    attributes: list[str] = Field(examples=[["Eyeglasses", "Smiling"]])
    image_size: int = Field(examples=[64])
    kind: Literal["multilabel", "multiclass"]
    dataset: str = Field(examples=["faces"])
    channels: int = Field(examples=[3])
    exclusive: list[list[str]] = Field(
        default_factory=list, examples=[[["Bald", "Bangs"]]],
        description="attribute pairs never present together: switching one on in /api/edit switches the other "
                    "off (unless the request names it), and /api/sample never draws both")
    edit_strength: float = Field(1.0, examples=[1.5], description="the default `strength` of /api/edit")
    attribute_strength: dict[str, float] | None = Field(
        None, examples=[{"Wearing_Necklace": 2.5, "Brown_Hair": 1.0}],
        description="per-attribute default strengths (`vcn calibrate`); when present, /api/edit without "
                    "`strength` pushes each attribute's mask change by its own, not by edit_strength")
    switched_on_from: Literal["transfer", "bank", "prior"] = Field(
        "prior", description="where /api/edit and /api/resample get the capsule of an attribute they switch "
                             "on or restyle: 'transfer' = predicted from the face's own capsules (maps fitted "
                             "on rendered counterfactual pairs) plus a residual of the fit for variety, "
                             "'bank' = capsules of training faces (the aggregate posterior), 'prior' = N(0, I) "
                             "as in the paper")
    edit_blend: float = Field(0.0, description="edits that set attributes are faded into the reconstruction "
                                               "where they change the picture by less than this; 0 = off")
    style_strength: float = Field(1.0, examples=[2.5], description="the default `style_strength` of /api/resample "
                                  "and /api/edit's resample: a new style moves the capsule this many times as far "
                                  "(`vcn calibrate-styles`); above 1 the styles differ more, and the rest of the "
                                  "face keeps a little less")
    verify_strengths: list[float] = Field(
        default_factory=list, examples=[[1.0, 1.5, 2.0]],
        description="verified edits (`vcn verify`): /api/edit without `strength` decodes the edit at each of these "
                    "strengths and at the default one, and returns the first that the model's embedded reader (a "
                    "CNN trained apart, never the evaluation oracle) reads as showing every state in `set` with at "
                    "least verify_confidence, else the one it finds most convincing; so each face is pushed only "
                    "as far as it needs. Empty = off. An explicit `strength` is never verified")
    verify_confidence: float | None = Field(None, examples=[0.999], description="see verify_strengths")


class AttributePrediction(BaseModel):
    """One attribute of one image. ``kl_absent`` is null for multiclass models (no absent capsule)."""

    name: str
    present: bool
    score: float = Field(ge=0.0, le=1.0, description="probability-like confidence that it is present")
    kl_present: float | None = Field(description="KL of the 'present' capsule: small = active")
    kl_absent: float | None = Field(description="KL of the 'absent' capsule; null for multiclass")


class PredictResponse(BaseModel):
    """Predictions in model order; ``face_found`` is null when no face crop was attempted."""

    attributes: list[AttributePrediction]
    face_found: bool | None


class ImagesResponse(BaseModel):
    """Several result images as PNG data URLs, in order."""

    images: list[str] = Field(examples=[["data:image/png;base64,iVBORw0KGgo..."]])


class Health(BaseModel):
    """Liveness / readiness answer."""

    status: Literal["ok", "ready"]
