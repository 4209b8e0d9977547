"""The REST API under /api: attribute prediction and the VCN's image operations.

Images travel as the multipart field ``image`` (and ``image_b``), options as form fields; JSON-valued
fields (``set``, ``resample``, ``attributes``) are JSON text. The single-image calls without options
(/api/predict, /api/reconstruct) also take the image as the whole request body, sent with an ``image/*`` or
``application/octet-stream`` Content-Type (no multipart: less to build for a client, less to parse here).
One result image is answered as ``image/png``; several as ``{"images": [data URLs]}``. Same inputs and seed
give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import StrictBool, TypeAdapter, ValidationError

from app import imaging
from app.batching import AttributeRow, EditParams, Engine
from app.deps import AdmittedEngine, EngineDep, PolicyDep, limit_form_parts
from app.errors import AppError, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.schemas import AttributesInfo, ErrorResponse, ImagesResponse, PredictResponse

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(limit_form_parts)])

MAX_SEED = 2**32 - 1
MAX_IMAGES = 16

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Malformed request (e.g. broken multipart body, too many fields for the parser)",
        413: "Upload too large (bytes or pixels)",
        415: "Not a supported image type",
        422: "Not an image, truncated, or a malformed / out-of-range field",
        429: "Too many requests in flight; retry shortly",
        503: "Model not loaded yet",
    }.items()
}
_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "The result as a PNG image"},
    **_ERRORS,
}

_EDIT_PNG: dict[int | str, dict[str, Any]] = {
    **_PNG,
    200: {**_PNG[200], "headers": {
        "X-Face-Found": {"description": "true / false: a face was detected and cropped to; none: no detection ran",
                         "schema": {"type": "string"}},
        "X-Edit-Confidence": {"description": "verified edits only: how sure the model's own reader (never the "
                                             "evaluation oracle) is that the image shows what `set` asks, 0-1",
                              "schema": {"type": "number"}},
        "X-Edit-Verified": {"description": "verified edits only: true when X-Edit-Confidence reaches the "
                                           "model's verify_confidence (/api/attributes); false: the most "
                                           "convincing try is returned, and another seed may take",
                            "schema": {"type": "string"}},
    }},
}

ImageField = Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF image")]
#: The same, for the calls that also take the image as the raw body (then the multipart field is absent).
SingleImageField = Annotated[UploadFile | None, File(
    description="PNG, JPEG, GIF, WebP, BMP or TIFF image (or send it as the whole body, Content-Type image/*)")]
#: Raw-body request types in the OpenAPI document, beside multipart/form-data (the bytes decide the format).
_RAW_BODY: dict[str, Any] = {"requestBody": {"content": {
    media: {"schema": {"type": "string", "format": "binary"}} for media in ("image/*", "application/octet-stream")}}}
SeedField = Annotated[int, Form(ge=0, le=MAX_SEED, description="random seed: same seed, same bytes")]
CountField = Annotated[int, Form(ge=1, le=MAX_IMAGES, description="how many images")]
PasteField = Annotated[bool | None, Form(
    description="keep the uploaded image's own pixels wherever the result barely changes the picture (it is "
                "blended into the image itself rather than into the model's reconstruction of it); default: true "
                "for a model that blends its edits (edit_blend > 0 in /api/attributes), which it needs (422 "
                "otherwise)")]
StrengthField = Annotated[float | None, Form(
    gt=0, le=4, description="extrapolate the mask change: 1 = plain edit, more = edits take more often "
                            "and keep a little less, the same for every attribute; default: the model's own "
                            "(attribute_strength per attribute if calibrated, else edit_strength; "
                            "verified per face when the model has verify_strengths; /api/attributes)")]
StyleStrengthField = Annotated[float | None, Form(
    gt=0, le=4, description="how far a new style moves the capsule: 1 = the drawn style as it is, more = styles "
                            "differ more and the rest keeps a little less; default: the model's own "
                            "(style_strength in /api/attributes)")]

_FLAGS = TypeAdapter(dict[str, StrictBool])
_NAMES = TypeAdapter(list[str])


@dataclass(frozen=True)
class _Prediction:
    """PredictResponse's document, from the engine's rows as they are."""

    attributes: list[AttributeRow]
    face_found: bool | None


_PREDICTION_JSON = TypeAdapter(_Prediction)


# ------------------------------------------------------------------------------------------- helpers
def parse_flags(raw: str, field: str, known: tuple[str, ...]) -> dict[str, bool]:
    """A JSON object of attribute name -> true/false, names checked against the model (422 otherwise)."""
    try:
        flags = _FLAGS.validate_json(raw)
    except ValidationError:
        raise InvalidInput(
            f'{field}: expected a JSON object of attribute name -> true/false, e.g. {{"{known[0]}": true}}'
        ) from None
    check_names(flags, field, known)
    return flags


def parse_names(raw: str, field: str, known: tuple[str, ...]) -> list[str]:
    """A JSON list of attribute names, checked against the model (422 otherwise)."""
    try:
        names = _NAMES.validate_json(raw)
    except ValidationError:
        raise InvalidInput(f'{field}: expected a JSON list of attribute names, e.g. ["{known[0]}"]') from None
    check_names(names, field, known)
    return names


def check_names(names: Any, field: str, known: tuple[str, ...]) -> None:
    """422 naming the unknown attribute names, if any."""
    unknown = sorted({str(n) for n in names} - set(known))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise InvalidInput(f"{field}: unknown attribute(s) {shown}; see GET /api/attributes")


def check_one_class(flags: dict[str, bool], field: str, engine: Engine) -> None:
    """Digit (multiclass) models: ``field`` may name at most one class, set to true."""
    if engine.cfg.kind != "multiclass":
        return
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1 or len(chosen) < len(flags):
        raise InvalidInput(f'{field}: a digit model takes one class set to true, e.g. {{"{engine.names[0]}": true}}')


async def read_image(upload: UploadFile, policy: imaging.ImagePolicy, field: str = "image") -> bytes:
    """The upload's bytes, read with a bound (413 naming the field)."""
    return await imaging.read_upload(upload, policy.max_upload_bytes, field)


def prepare_field(data: bytes, policy: imaging.ImagePolicy, field: str = "image") -> imaging.Prepared:
    """Decode and validate (blocking: a worker thread's job); errors name the field."""
    try:
        return imaging.prepare(data, policy)
    except AppError as exc:
        if not exc.detail.startswith(f"{field}:"):
            exc.detail = f"{field}: {exc.detail}"
        raise


def media_type(content_type: str | None) -> str:
    """A Content-Type header without its parameters, lower case ("" when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_raw_image(media: str) -> bool:
    """Whether a request of this media type carries the image itself as its body (``image/*`` or octet-stream)."""
    return media.startswith("image/") or media == "application/octet-stream"


async def single_image(request: Request, upload: UploadFile | None, policy: imaging.ImagePolicy) -> bytes:
    """The image of a single-image call: the multipart field ``image``, or the raw body (`is_raw_image`).
    Bounded like an upload: the middleware caps the body, the upload limit applies to the image (413)."""
    if upload is not None:
        return await read_image(upload, policy)
    media = media_type(request.headers.get("content-type"))
    if not is_raw_image(media):
        how = "as the multipart field 'image' or as the whole body with an image/* Content-Type"
        if media in ("", "multipart/form-data", "application/x-www-form-urlencoded"):
            raise InvalidInput(f"image: required, {how}")
        raise UnsupportedMediaType(f"image: a {media[:60]} body is not an image; send it {how}")
    data = await request.body()
    if len(data) > policy.max_upload_bytes:
        raise PayloadTooLarge(f"image: file larger than the {policy.max_upload_bytes} byte limit")
    return data


async def load_image(upload: UploadFile, policy: imaging.ImagePolicy, field: str = "image") -> imaging.Prepared:
    """Bounded read, then decode and validate off the event loop; errors name the field."""
    data = await read_image(upload, policy, field)
    return await run_in_threadpool(prepare_field, data, policy, field)


def _face_header(face_found: bool | None) -> dict[str, str]:
    return {"X-Face-Found": "none" if face_found is None else str(face_found).lower()}


async def png_response(image: torch.Tensor, headers: dict[str, str] | None = None) -> Response:
    """One (C, H, W) or (1, C, H, W) image as an ``image/png`` response."""
    return Response(await run_in_threadpool(imaging.to_png, image), media_type="image/png", headers=headers)


async def images_response(images: torch.Tensor) -> ImagesResponse:
    """(N, C, H, W) images as ``{"images": [data URLs]}``."""
    pngs = await run_in_threadpool(imaging.to_pngs, images)
    return ImagesResponse(images=[imaging.data_url(p) for p in pngs])


# ----------------------------------------------------------------------------------------- endpoints
@router.get("/attributes", response_model=AttributesInfo, responses={503: _ERRORS[503]})
async def attributes(engine: EngineDep) -> AttributesInfo:
    """The model's attribute (or class) names in model order, and the image format it works in."""
    cfg = engine.cfg
    return AttributesInfo(
        attributes=list(engine.names),
        image_size=int(cfg.image_size),
        kind=cfg.kind,
        dataset=str(cfg.dataset),
        channels=int(cfg.channels),
        exclusive=[list(pair) for pair in getattr(cfg, "exclusive", ())],
        edit_strength=float(getattr(cfg, "edit_strength", 1.0)),
        attribute_strength=dict(zip(engine.names, cfg.attribute_strength, strict=True))
        if getattr(cfg, "attribute_strength", ()) else None,
        switched_on_from="transfer" if getattr(cfg, "transfer_maps", 0)
        else "bank" if getattr(cfg, "bank_size", 0) else "prior",
        edit_blend=float(getattr(cfg, "edit_blend", 0.0)),
        style_strength=float(getattr(cfg, "style_strength", 1.0)),
        verify_strengths=list(getattr(cfg, "verify_strengths", ())),
        verify_confidence=float(cfg.verify_confidence) if getattr(cfg, "verify_strengths", ()) else None,
    )


@router.post("/predict", response_model=PredictResponse, responses=_ERRORS, openapi_extra=_RAW_BODY)
async def predict(request: Request, engine: AdmittedEngine, policy: PolicyDep, image: SingleImageField = None
                  ) -> Response:
    """Which attributes the image shows: per attribute, present or not, a score and both capsules' KL."""
    data = await single_image(request, image, policy)
    prepared, rows = await engine.predict_upload(partial(prepare_field, data, policy))
    # The dataclasses straight to JSON bytes: the same document as PredictResponse, without building and
    # re-validating 40 pydantic models per answer (~0.5 ms; BENCHMARKS.md 2c).
    return Response(_PREDICTION_JSON.dump_json(_Prediction(rows, prepared.face_found)), media_type="application/json")


@router.post("/reconstruct", response_class=Response, responses=_PNG, openapi_extra=_RAW_BODY)
async def reconstruct(request: Request, engine: AdmittedEngine, policy: PolicyDep, image: SingleImageField = None
                      ) -> Response:
    """The image passed through the network unchanged (what the model 'sees')."""
    data = await single_image(request, image, policy)
    prepared, png = await engine.reconstruct_upload(partial(prepare_field, data, policy), imaging.to_png)
    return Response(png, media_type="image/png", headers=_face_header(prepared.face_found))


@router.post("/edit", response_class=Response, responses=_EDIT_PNG)
async def edit(
    engine: AdmittedEngine,
    policy: PolicyDep,
    image: ImageField,
    set_: Annotated[str, Form(alias="set", description='JSON object name -> bool, e.g. {"Eyeglasses": true}')],
    resample: Annotated[str, Form(description="JSON list of names whose style is redrawn")] = "[]",
    seed: SeedField = 0,
    resolve_conflicts: Annotated[bool, Form(
        description="switch off the exclusive partners (see /api/attributes) of what `set` switches on")] = True,
    strength: StrengthField = None,
    style_strength: StyleStrengthField = None,
    paste: PasteField = None,
) -> Response:
    """Switch attributes on or off (and optionally draw a new style for some), keeping the rest."""
    flags = parse_flags(set_, "set", engine.names)
    check_one_class(flags, "set", engine)
    redraw = parse_names(resample, "resample", engine.names)
    prepared = await load_image(image, policy)
    params = EditParams(tuple(flags.items()), tuple(redraw), resolve_conflicts, strength, style_strength,
                        engine.pasting(paste))
    out, sure = await engine.edit(prepared.tensor, params, seed)
    return await png_response(out, _verified_headers(prepared.face_found, sure, engine))


def _verified_headers(face_found: bool | None, sure: float | None, engine: Engine) -> dict[str, str]:
    """The face header, plus for a verified edit or swap how sure the model's own reader is that it took."""
    headers = _face_header(face_found)
    if sure is not None:
        headers["X-Edit-Confidence"] = f"{sure:.4f}"
        headers["X-Edit-Verified"] = str(sure >= engine.cfg.verify_confidence).lower()
    return headers


@router.post("/resample", response_model=ImagesResponse, responses=_ERRORS)
async def resample(
    engine: AdmittedEngine,
    policy: PolicyDep,
    image: ImageField,
    attribute: Annotated[str, Form(description="the attribute whose style is redrawn")],
    n: CountField = 6,
    seed: SeedField = 0,
    style_strength: StyleStrengthField = None,
    paste: PasteField = None,
) -> ImagesResponse:
    """``n`` new styles of one attribute (e.g. different glasses), everything else kept. The ``n`` draws of one
    request take different clusters of the model's styles in turn (up to 10), so they differ more than ``n``
    independent draws would (for most style attributes of the shipped faces model, each cluster is one style, fitted
    to be drawn: ``vcn style-fit``); the same seed gives the same styles. Pasted (the default for the shipped faces
    model), a resample the model's reader sees lose its new style to the upload's own takes, within the attribute's
    region, every pixel where it differs from the upload (``vcn paste-regions``: Bangs, the hair colours, ...)."""
    check_names([attribute], "attribute", engine.names)
    prepared = await load_image(image, policy)
    return await images_response(await engine.call("resample", "resample", prepared.tensor, attribute, n, seed=seed,
                                                   style_strength=style_strength, paste=engine.pasting(paste)))


@router.post("/swap", response_class=Response, responses=_PNG)
async def swap(
    engine: AdmittedEngine,
    policy: PolicyDep,
    image: ImageField,
    image_b: ImageField,
    attributes: Annotated[str, Form(description='JSON list of names taken from image_b, e.g. ["Smiling"]')],
    resolve_conflicts: Annotated[bool, Form(
        description="switch off the exclusive partners (see /api/attributes) of what the swap switches on")] = True,
    style_strength: StyleStrengthField = None,
    paste: PasteField = None,
) -> Response:
    """``image`` with the named attributes (state and style) taken from ``image_b``: an edit to image_b's states
    of them, pushed, verified and blended as /api/edit's are (the same X-Edit-* headers)."""
    names = parse_names(attributes, "attributes", engine.names)
    prepared = await load_image(image, policy)
    other = await load_image(image_b, policy, "image_b")
    out, sure = await engine.swap(prepared.tensor, other.tensor, names, paste=engine.pasting(paste),
                                  resolve_conflicts=resolve_conflicts, style_strength=style_strength)
    return await png_response(out, _verified_headers(prepared.face_found, sure, engine))


@router.post("/interpolate", response_model=ImagesResponse, responses=_ERRORS)
async def interpolate(
    engine: AdmittedEngine,
    policy: PolicyDep,
    image: ImageField,
    attribute: Annotated[str | None, Form(description="morph this attribute present <-> absent")] = None,
    image_b: Annotated[UploadFile | None, File(description="or morph towards this image")] = None,
    steps: Annotated[int, Form(ge=2, le=MAX_IMAGES, description="frames, ends included")] = 8,
    seed: SeedField = 0,
    strength: StrengthField = None,
    paste: PasteField = None,
) -> ImagesResponse:
    """Frames morphing one attribute between present and absent (the last frame: the edit at ``strength``, never
    verified), or the image into ``image_b``."""
    if (attribute is None) == (image_b is None):
        raise InvalidInput("give exactly one of 'attribute' (a name) or 'image_b' (an image)")
    if attribute is not None:
        check_names([attribute], "attribute", engine.names)
    prepared = await load_image(image, policy)
    other = await load_image(image_b, policy, "image_b") if image_b is not None else None
    frames = await engine.call(
        "interpolate", "interpolate", prepared.tensor, steps,
        attribute=attribute, x_b=None if other is None else other.tensor, seed=seed,
        paste=engine.pasting(paste), strength=strength,
    )  # fmt: skip
    return await images_response(frames)


@router.post("/sample", response_model=ImagesResponse, responses=_ERRORS)
async def sample(
    engine: AdmittedEngine,
    attributes: Annotated[str, Form(description="JSON object name -> bool; others drawn at random")] = "{}",
    n: CountField = 4,
    seed: SeedField = 0,
) -> ImagesResponse:
    """New images with the chosen attributes on or off: every capsule drawn from the model's capsule bank (capsules
    its encoder gave training faces) or, without one, from the prior N(0, I). A model with verified samples (`vcn
    verify --sample-tries T`) draws each image T times and returns the draw its embedded reader reads closest to
    the attributes asked (and those drawn at random)."""
    flags = parse_flags(attributes, "attributes", engine.names)
    check_one_class({k: v for k, v in flags.items() if v}, "attributes", engine)
    return await images_response(await engine.call("sample", "sample", flags, n, seed=seed))


@router.get("/random-face", response_class=Response, responses=_PNG)
async def random_face(
    engine: AdmittedEngine,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED, description="which face")] = 0,
) -> Response:
    """A face from the synthetic face renderer (faces models) or a prior sample (digit models)."""
    return await png_response(await engine.run("random_face", _random_image, engine, seed))


def _random_image(engine: Engine, seed: int) -> torch.Tensor:
    """Runs on the model thread: a rendered face at model size, or one prior sample."""
    cfg = engine.cfg
    if cfg.channels == 3 and cfg.kind == "multilabel":
        try:
            from model.data import faces
        except ImportError:
            faces = None
        if faces is not None:
            pixels = faces.render(faces.sample_faces(seed, 0, 1), int(cfg.image_size))
            return imaging.uint8_to_tensor(pixels)
    return engine.model.sample({}, 1, seed=seed).cpu()
