"""`vcn` subcommands for the stages after training: each reads a trained file and writes a copy with a bank, transfer
maps, calibrated strengths, style clusters or fitted residuals, paste regions, an embedded verifier or class evidence
(model/cli.py registers them with add_stage_commands)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cmd_bank(a: argparse.Namespace) -> None:
    import torch

    from model.bank import build_capsule_bank
    from model.checkpoint import load_vcn, resave_vcn

    model = load_vcn(a.weights)
    if model.cfg.dataset == "mnist":
        from model.data.mnist import load_mnist

        images = torch.from_numpy(load_mnist(a.data_root, "train")[0][: a.n]).unsqueeze(1)
    else:  # the model's own training faces (seed 0), never the test set
        from model.data import faces

        batch = faces.sample_faces(0, 0, a.n)
        images = torch.from_numpy(faces.render(batch, model.cfg.image_size, workers=a.workers)).permute(0, 3, 1, 2)
    banked = build_capsule_bank(model, images, size=a.size)
    if model.cfg.kind == "multilabel" and not model.cfg.exclusive and model.cfg.dataset == "faces":
        # Older checkpoints: learn the rules from the attributes of the training faces (no rendering needed).
        from model.capsules import exclusive_pairs

        n_train = (getattr(model, "metadata", {}).get("train_config") or {}).get("train_size", 100_000)
        attrs = torch.as_tensor(faces.sample_faces(0, 0, n_train).attrs)
        banked.cfg = dataclasses.replace(banked.cfg, exclusive=exclusive_pairs(banked.cfg.capsule_names, attrs))
    if a.edit_strength is not None:
        banked.cfg = dataclasses.replace(banked.cfg, edit_strength=a.edit_strength)
    resave_vcn(a.out, banked, dtype=torch.float16 if a.half else None,
               bank={"size": a.size, "images": a.n, "source": f"{model.cfg.dataset} training images"})
    counts = banked.bank_count.tolist()
    print(f"wrote {a.out}: bank of {a.size} per capsule (fewest filled: {min(counts)})")


def cmd_transfer(a: argparse.Namespace) -> None:
    import torch

    from model.checkpoint import load_vcn, resave_vcn
    from model.devices import pick_device
    from model.transfer import fit_transfer, rendered_flip_pairs, with_transfer

    model = load_vcn(a.weights, pick_device(a.device))
    if model.cfg.kind != "multilabel" or model.cfg.dataset != "faces":
        raise SystemExit("vcn transfer: needs counterfactual pairs, which only the procedural faces have")
    pairs = rendered_flip_pairs(a.n, model.cfg.image_size, workers=a.workers, device=model.device,
                                cache=Path(a.pairs_cache) if a.pairs_cache else None)
    weight, residual, r2 = fit_transfer(model, pairs, ridge=a.ridge)
    fitted = r2[~r2.isnan()]
    if len(fitted) == 0:
        raise SystemExit(f"vcn transfer: the model read no attribute as switched in {a.n} faces' flips "
                         "(is it trained?); nothing written")
    out = with_transfer(model, weight, residual, variety=a.variety)
    if a.blend is not None:
        out.cfg = dataclasses.replace(out.cfg, edit_blend=a.blend)
    resave_vcn(a.out, out, dtype=torch.float16 if a.half else None,
               transfer={"faces": a.n, "seed": 0, "ridge": a.ridge, "source": "rendered counterfactual pairs"})
    print(f"wrote {a.out}: transfer maps for {len(fitted)} of {len(r2)} capsule slots; R² on the fitting pairs "
          f"median {fitted.median():.2f}, min {fitted.min():.2f}")


def _faces_model(a: argparse.Namespace):
    """`--weights` on `--device`, refused unless it is an attribute (faces) model: what the calibrations read."""
    from model.checkpoint import load_vcn
    from model.devices import pick_device

    model = load_vcn(a.weights, pick_device(a.device))
    if model.cfg.kind != "multilabel":
        raise SystemExit(f"vcn {a.command}: for attribute (faces) models")
    return model


def cmd_calibrate(a: argparse.Namespace) -> None:
    import torch

    from model.calibrate import calibrate_strengths
    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle

    model = _faces_model(a)
    if a.blend is not None:  # strengths are chosen for the edits as they will be made
        model.cfg = dataclasses.replace(model.cfg, edit_blend=a.blend)
    reader = load_oracle(a.reader)
    chosen, success = calibrate_strengths(model, reader, n=a.n, strengths=a.strengths, target=a.target, log=print)
    for name, s in zip(model.cfg.capsule_names, chosen, strict=True):
        row = "  ".join(f"{success[float(t)][name]:.3f}" for t in a.strengths)
        print(f"  {name:22s} {row}   -> {s}")
    model.cfg = dataclasses.replace(model.cfg, attribute_strength=chosen)
    resave_vcn(a.out, model, dtype=torch.float16 if a.half else None,
               calibration={"reader": Path(a.reader).name, "faces": a.n, "target": a.target,
                            "strengths": list(a.strengths), "edit_blend": model.cfg.edit_blend})
    print(f"wrote {a.out}")


def cmd_calibrate_styles(a: argparse.Namespace) -> None:
    import torch

    from model.calibrate import calibrate_style_strength
    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle

    model = _faces_model(a)
    chosen, table = calibrate_style_strength(model, load_oracle(a.reader), n=a.n, strengths=a.strengths, log=print)
    model.cfg = dataclasses.replace(model.cfg, style_strength=chosen)
    resave_vcn(a.out, model, dtype=torch.float16 if a.half else None,
               style_calibration={"reader": Path(a.reader).name, "faces": a.n, "chosen": chosen,
                                  "by_strength": {str(k): {m: round(v, 4) for m, v in row.items()}
                                                  for k, row in table.items()}})
    print(f"style_strength {chosen}; wrote {a.out}")


def cmd_style_clusters(a: argparse.Namespace) -> None:
    import torch

    from model.calibrate import style_faces
    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle
    from model.style_clusters import N_FACES, reader_style_clusters, with_style_clusters

    model = _faces_model(a)
    if not model.cfg.transfer_maps:
        raise SystemExit("vcn style-clusters: the model has no transfer maps (vcn transfer) whose residuals to group")
    images, attrs = style_faces(a.n, model.cfg.image_size)
    clusters = reader_style_clusters(model, load_oracle(a.reader, model.device).eval(), images, attrs)
    resave_vcn(a.out, with_style_clusters(model, clusters), dtype=torch.float16 if a.half else None,
               style_clusters={"reader": Path(a.reader).name, "faces": a.n, "drawn_onto": N_FACES})
    print(f"wrote {a.out}: resamples take the styles the reader sees in turn")


def cmd_style_fit(a: argparse.Namespace) -> None:
    import torch

    from model.calibrate import style_faces
    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle
    from model.style_fit import FACES, PER_STYLE, PRESENT_SLACK, with_fitted_styles

    model = _faces_model(a)
    images, attrs = style_faces(a.n, model.cfg.image_size)
    slack = PRESENT_SLACK if a.present_slack is None else a.present_slack
    try:
        out = with_fitted_styles(model, load_oracle(a.reader, model.device).eval(), images, attrs, log=print,
                                 names=a.names, present_slack=slack, steps=a.steps)
    except ValueError as e:
        raise SystemExit(f"vcn style-fit: {e}") from None
    resave_vcn(a.out, out, dtype=torch.float16 if a.half else None,
               style_fit={"reader": Path(a.reader).name, "faces": a.n, "fitted_on": FACES, "per_style": PER_STYLE,
                          "steps": a.steps, "names": a.names or "all", "present_slack": slack})
    print(f"wrote {a.out}: resamples take residuals fitted per style, the styles in turn")


def cmd_paste_regions(a: argparse.Namespace) -> None:
    import torch

    from model.calibrate import style_faces
    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle
    from model.paste_regions import FACES, with_paste_regions

    model = _faces_model(a)
    images, attrs = style_faces(a.n, model.cfg.image_size)
    try:
        out = with_paste_regions(model, load_oracle(a.reader, model.device).eval(), images, attrs, log=print)
    except ValueError as e:
        raise SystemExit(f"vcn paste-regions: {e}") from None
    kept = [n for i, n in enumerate(out.cfg.capsule_names) if bool(out.paste_region[i].any())]
    resave_vcn(a.out, out, dtype=torch.float16 if a.half else None,
               paste_regions={"reader": Path(a.reader).name, "faces": a.n, "mapped_on": FACES, "regions": kept})
    print(f"wrote {a.out}: pasted resamples of {', '.join(kept) or 'no attribute'} show the style they drew")


def cmd_verify(a: argparse.Namespace) -> None:
    import torch

    from model.checkpoint import resave_vcn
    from model.oracle import load_oracle
    from model.verify import with_verifier

    model = _faces_model(a)
    try:
        out = with_verifier(model, load_oracle(a.reader, model.device), a.strengths, a.confidence, a.sample_tries)
    except ValueError as e:
        raise SystemExit(f"vcn verify: {e}") from None
    resave_vcn(a.out, out, dtype=torch.float16 if a.half else None,
               verification={"reader": Path(a.reader).name, "strengths": list(a.strengths), "confidence": a.confidence,
                             "sample_tries": a.sample_tries})
    print(f"wrote {a.out}: verified edits " + (f"at {a.strengths} then the calibrated strength, confidence "
                                                f"{a.confidence}" if a.strengths else "off")
          + (f"; each new face the best of {a.sample_tries} draws" if a.sample_tries > 1 else ""))


def cmd_class_evidence(a: argparse.Namespace) -> None:
    import dataclasses

    import torch

    from model.checkpoint import load_vcn, resave_vcn

    model = load_vcn(a.weights)
    recipe = getattr(model, "metadata", {}).get("train_config") or {}
    weight = a.weight if a.weight is not None else float(recipe.get("recon_weight", 0.0))
    recon = a.recon or str(recipe.get("recon", "bce"))
    try:
        model.cfg = dataclasses.replace(model.cfg, class_evidence_weight=weight, class_evidence_recon=recon)
    except ValueError as e:
        raise SystemExit(f"vcn class-evidence: {e}") from None
    resave_vcn(a.out, model, dtype=torch.float16 if a.half else None)
    print(f"wrote {a.out}: the class chosen between the two of smallest KL by KL + {weight} x {recon} loss"
          if weight else f"wrote {a.out}: the class of smallest KL")


def cmd_stages(a: argparse.Namespace) -> None:
    from model.stage_chain import run_stages

    print(f"wrote {run_stages(a.weights, a.out, reader=a.reader, device=a.device, resume=a.resume)}")


def _calibration_parser(sub, name: str, what: str, n: int | None, n_help: str = "",
                        strengths: tuple[float, ...] | None = (1.0, 1.5, 2.0, 2.5, 3.0)) -> argparse.ArgumentParser:
    """The flags the reader's stages share (`vcn calibrate`, `calibrate-styles`, `style-clusters`, `style-fit`,
    `paste-regions`, `verify`): a model in, a model out, the reader, the strengths it reads at (None: no strengths)."""
    p = sub.add_parser(name, help=f"{what}, read by a calibration reader")
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reader", default=str(REPO / "weights" / "reader.safetensors"),
                   help="a reader (attributes, styles) that is neither the eval oracle nor the model's training judge")
    if n is not None:
        p.add_argument("--n", type=int, default=n, help=n_help)
    if strengths is not None:
        p.add_argument("--strengths", type=float, nargs="*" if n is None else "+", default=list(strengths))
    p.add_argument("--half", action="store_true", help="store float16 weights (smaller file)")
    p.add_argument("--device", default="auto")
    return p


def add_stage_commands(sub) -> None:
    """Register the stage commands on `vcn`'s subparsers, in the order `vcn -h` lists them."""
    c = _calibration_parser(sub, "calibrate", "per-attribute edit strengths", 150,
                            "unseen training-seed faces, every attribute flipped on each")
    c.add_argument("--target", type=float, default=0.97, help="share of edits the reader must see take")
    c.add_argument("--blend", type=float, default=None,
                   help="store this edit_blend (0 = off) and calibrate with it (default: the model's)")
    c.set_defaults(func=cmd_calibrate)
    cs = _calibration_parser(sub, "calibrate-styles", "the style strength of resamples", 2000,
                             "unseen training-seed faces to take the style faces from")
    cs.set_defaults(func=cmd_calibrate_styles)
    sc = _calibration_parser(sub, "style-clusters", "resamples that take the styles the reader sees drawn in turn",
                             400, "unseen training-seed faces to draw each residual onto", strengths=None)
    sc.set_defaults(func=cmd_style_clusters)
    sf = _calibration_parser(sub, "style-fit", "resamples that take residuals fitted per style, the styles in turn",
                             2000, "unseen training-seed faces to fit on (each style attribute's first 64 wearers)",
                             strengths=None)
    sf.add_argument("--steps", type=int, default=150, help="Adam steps per style attribute")
    sf.add_argument("--names", nargs="+", default=None, help="fit only these style attributes (default: every one)")
    sf.add_argument("--present-slack", type=float, default=None,
                    help="the guard: share of resamples a fit may lose the attribute from, by the reader "
                         "(default: model/style_fit.py's PRESENT_SLACK)")
    sf.set_defaults(func=cmd_style_fit)
    pr = _calibration_parser(sub, "paste-regions", "pasted resamples that show the style they drew", 2000,
                             "unseen training-seed faces (each style attribute's first 60 wearers map its region)",
                             strengths=None)
    pr.set_defaults(func=cmd_paste_regions)
    v = _calibration_parser(sub, "verify", "verified edits: embed a reader that stops each edit at the first "
                            "of these strengths it believes (none: off)", None, strengths=(1.0, 1.5, 2.0))
    v.add_argument("--confidence", type=float, default=0.995,
                   help="the reader's probability the edit must reach (0.995: the shipped file's; docs/recipes.md)")
    v.add_argument("--sample-tries", type=int, default=1,
                   help="verified samples: draw each new face this many times, keep the one the reader reads "
                        "closest to the states asked (1: off)")
    v.set_defaults(func=cmd_verify)

    st = sub.add_parser("stages", help="faces: run the stages after training in turn (bank ... style-clusters), "
                                       "with the hour's settings (model/stage_chain.py)")
    st.add_argument("--weights", required=True, help="a trained faces model (vcn train's model.safetensors)")
    st.add_argument("--out", required=True, help="the servable file; each stage's file is written beside it")
    st.add_argument("--reader", default=None, help="the calibration reader (default: weights/reader.safetensors)")
    st.add_argument("--device", default=None)
    st.add_argument("--resume", action="store_true", help="skip the stages whose file is already there")
    st.set_defaults(func=cmd_stages)

    ce = sub.add_parser("class-evidence", help="digit models: decide close calls by each class's reconstruction")
    ce.add_argument("--weights", required=True)
    ce.add_argument("--out", required=True)
    ce.add_argument("--weight", type=float, default=None,
                    help="weight of the reconstruction loss (default: the file's recipe recon_weight; 0 = off)")
    ce.add_argument("--recon", choices=["bce", "mse"], default=None, help="default: the file's recipe recon")
    ce.add_argument("--half", action="store_true", help="store float16 weights (smaller file)")
    ce.set_defaults(func=cmd_class_evidence)

    b = sub.add_parser("bank", help="add a capsule bank (capsules seen in training) and inference defaults")
    b.add_argument("--weights", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--n", type=int, default=8000, help="training images to encode")
    b.add_argument("--size", type=int, default=256, help="capsules kept per capsule slot")
    b.add_argument("--data-root", default=None)
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--half", action="store_true", help="store float16 weights (smaller file)")
    b.add_argument("--edit-strength", type=float, default=None,
                   help="store this as the model's default edit strength (docs/recipes.md)")
    b.set_defaults(func=cmd_bank)

    r = sub.add_parser("transfer", help="fit transfer maps: switched-on capsules keep the face's pose and "
                                        "background (procedural faces)")
    r.add_argument("--weights", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--n", type=int, default=4000, help="training faces, each flipped once per attribute")
    r.add_argument("--ridge", type=float, default=1.0)
    r.add_argument("--variety", type=float, default=0.0, help="share of a fit residual an edit adds (0-1)")
    r.add_argument("--blend", type=float, default=None, help="also store this edit_blend (0 = off)")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--pairs-cache", default=None,
                   help="safetensors file of the rendered pairs: read if it holds these faces, else written "
                        "(2 GB for 4,000 faces at 64x64)")
    r.add_argument("--half", action="store_true", help="store float16 weights (smaller file)")
    r.add_argument("--device", default="auto")
    r.set_defaults(func=cmd_transfer)
