"""The training loop: `vcn train`. One file, top to bottom: data, model, step, checkpoints, logging.

- Data lives as uint8 tensors on the training device (rendered faces with counterfactual pairs, MNIST),
  and batches are drawn by index from a seeded generator, so a resumed run draws exactly the batches the
  uninterrupted one would have. (CelebA, too large for that, goes through a DataLoader.)
- Checkpoints: `last.safetensors` (model, optimisers, step, RNG states; resumable) and `model.safetensors`
  (the VCN alone, what `vcn eval` and the server load), both written atomically every `ckpt_every`
  steps, at `max_time` and at the end.
- Learning rate: constant (the paper) or a half cosine over the run (`TrainConfig.lr_schedule`), the run
  being `steps` or `max_time`, whichever ends first. A resumed timed run measures time from its restart,
  so its decay starts again from where its step count stands.
- Multi-GPU / multi-process: launch with `torchrun --nproc_per_node=N -m model.cli train ...`; each rank
  draws its own batches, DistributedDataParallel averages gradients, only rank 0 writes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor

from model.augment import random_affine
from model.capsules import exclusive_pairs
from model.checkpoint import (
    flatten_optimizer,
    load_state,
    read_checkpoint,
    save_checkpoint,
    save_vcn,
    unflatten_optimizer,
)
from model.config import TrainConfig, VCNConfig
from model.devices import autocast, pick_device
from model.losses import lsgan_discriminator_loss
from model.networks import MultiScaleDiscriminator
from model.recipe import Batch, VCNObjective
from model.vcn import VCN

# ----------------------------------------------------------------------------------------------------
# Data


@dataclass
class TensorData:
    """Whole training set as tensors: images uint8 (N, C, H, W), targets (N, A) uint8 or (N,) long, and
    optionally counterfactual images/targets of the same faces with one attribute flipped or restyled, and
    cf_changed (N,) the attribute each counterfactual changes (None: read the change off the targets)."""

    images: Tensor
    targets: Tensor
    cf_images: Tensor | None = None
    cf_targets: Tensor | None = None
    cf_changed: Tensor | None = None

    def to(self, device: torch.device) -> TensorData:
        move = {k: (v.to(device) if v is not None else None) for k, v in vars(self).items()}
        return TensorData(**move)

    def batch(self, idx: Tensor, counterfactual: bool, shift: int = 0,
              generator: torch.Generator | None = None, rotate: float = 0.0, scale: float = 0.0) -> Batch:
        x = self.images[idx].float().div_(255)
        tgt = self.targets[idx]
        pairs = counterfactual and self.cf_images is not None
        if pairs:  # stacked along channels so that both images of a pair get the same shift
            x = torch.cat([x, self.cf_images[idx].float().div_(255)], dim=1)
        if shift > 0 or rotate > 0 or scale > 0:
            x = random_affine(x, shift, rotate, scale, generator)
        if pairs:
            x, x_cf = x.chunk(2, dim=1)
            changed = self.cf_changed[idx] if self.cf_changed is not None else None
            return Batch(x, tgt, x_cf, self.cf_targets[idx], changed)
        return Batch(x, tgt)


def face_pairs(n: int, seed: int, size: int, workers: int = 0, style_share: float = 0.0) -> TensorData:
    """Render n faces of `seed` and, for each, a counterfactual: the same face with one random attribute
    flipped, or (for a share `style_share` of the faces that wear a style attribute) the same face with
    one of its present style attributes in another style (other glasses, another hat). cf_changed (N,)
    names the attribute each counterfactual changes."""
    import numpy as np

    from model.data import faces

    batch = faces.sample_faces(seed, 0, n)
    rng = np.random.default_rng([seed, 7])
    which = rng.integers(0, len(faces.ATTRIBUTES), size=n)
    cf = faces.FaceBatch(batch.attrs.copy(), batch.styles.copy(), batch.nuisance)
    style_cols = np.array([faces.ATTRIBUTES.index(a) for a in faces.STYLE_ATTRIBUTES])
    present = batch.attrs[:, style_cols] > 0  # (n, S)
    restyle = (rng.random(n) < style_share) & present.any(1)
    for i in np.flatnonzero(restyle):  # one present style attribute, any other style id of it
        s = rng.choice(np.flatnonzero(present[i]))
        count = faces.STYLE_COUNTS[faces.STYLE_ATTRIBUTES[s]]
        cf.styles[i, s] = (batch.styles[i, s] + rng.integers(1, count)) % count
        which[i] = style_cols[s]
    for a in range(len(faces.ATTRIBUTES)):
        rows = np.flatnonzero((which == a) & ~restyle)
        if rows.size:
            cf.attrs[rows] = faces.flip(batch.take(rows), a).attrs
    images = faces.render(batch, size=size, workers=workers)
    cf_images = faces.render(cf, size=size, workers=workers)

    def chw(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()

    return TensorData(chw(images), torch.from_numpy(batch.attrs.copy()), chw(cf_images), torch.from_numpy(cf.attrs),
                      torch.from_numpy(which.astype(np.int64)))


def load_face_pairs(n: int, seed: int, size: int, cache: Path | None, workers: int = 0,
                    style_share: float = 0.0) -> TensorData:
    """face_pairs, cached as a safetensors file (rendering 100k faces takes minutes on two cores). A cache that
    holds other faces is kept: these are read from, or written to, a file beside it named for what they are."""
    want = (n, seed, size, style_share)
    if cache is not None and cache.is_file():
        t, meta = read_checkpoint(cache, role="face_cache")
        held = (meta.get("n"), meta.get("seed"), meta.get("size"), meta.get("style_share", 0.0))
        if held == want:
            return TensorData(t["images"], t["targets"], t["cf_images"], t["cf_targets"], t.get("cf_changed"))
        # Another run's faces (session 27 nearly replaced the hour's 60,000 pairs with a continuation's --seed 1).
        beside = cache.with_name(f"{cache.stem}_n{n}_seed{seed}_size{size}_style{style_share:g}{cache.suffix}")
        if beside.is_file():
            return load_face_pairs(n, seed, size, beside, workers, style_share)
        # Said out loud: the faces' seed is the run's --seed, so a replicate at another seed renders its own
        # faces here, single-process by default (minutes) before the first step (session 15's stalled call)
        print(f"{cache}: holds n, seed, size, style_share = {held}; rendering {want} into {beside}",
              file=sys.stderr, flush=True)
        cache = beside
    data = face_pairs(n, seed, size, workers, style_share)
    if cache is not None:
        save_checkpoint(cache, {k: v for k, v in vars(data).items() if v is not None}, role="face_cache", n=n,
                        seed=seed, size=size, style_share=style_share)
    return data


def mnist_data(root: str | None) -> TensorData:
    from model.data.mnist import load_mnist

    images, labels = load_mnist(root, "train")
    return TensorData(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long())


def load_training_data(vcfg: VCNConfig, tcfg: TrainConfig, data_root: str | None, cache: Path | None,
                       workers: int) -> TensorData:
    if vcfg.dataset == "mnist":
        return mnist_data(data_root)
    if vcfg.dataset == "faces":
        return load_face_pairs(tcfg.train_size, tcfg.seed, vcfg.image_size, cache, workers, tcfg.style_share)
    if vcfg.dataset == "celeba":
        from model.data.celeba import CelebADataset

        ds = CelebADataset(data_root, "train", vcfg.image_size)
        loader = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=workers)
        imgs, tgts = zip(*[(x.mul(255).round().to(torch.uint8), y.to(torch.uint8)) for x, y in loader],
                         strict=True)
        return TensorData(torch.cat(imgs), torch.cat(tgts))
    raise ValueError(f"unknown dataset {vcfg.dataset!r}")


# ----------------------------------------------------------------------------------------------------
# Train state: everything a resumed run needs, in one safetensors file


def save_train_state(path: Path, model: VCN, opt: torch.optim.Optimizer, step: int, gens: dict,
                     vcfg: VCNConfig, tcfg: TrainConfig, disc=None, d_opt=None) -> None:
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_t, opt_groups = flatten_optimizer(opt, "opt")
    tensors.update(opt_t)
    meta = {"step": step, "config": json.loads(vcfg.to_json()), "train_config": json.loads(tcfg.to_json()),
            "opt": opt_groups}
    if disc is not None:
        tensors.update({f"disc/{k}": v for k, v in disc.state_dict().items()})
        d_t, d_groups = flatten_optimizer(d_opt, "d_opt")
        tensors.update(d_t)
        meta["d_opt"] = d_groups
    for name, g in gens.items():
        tensors[f"rng/{name}"] = g.get_state()
    save_checkpoint(path, tensors, role="train_state", **meta)


def load_train_state(path: Path, model: VCN, opt, gens: dict, disc=None, d_opt=None) -> int:
    t, meta = read_checkpoint(path, role="train_state")
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model/")})
    unflatten_optimizer(opt, t, "opt", meta["opt"])
    if disc is not None and "d_opt" in meta:
        disc.load_state_dict({k[5:]: v for k, v in t.items() if k.startswith("disc/")})
        unflatten_optimizer(d_opt, t, "d_opt", meta["d_opt"])
    for name, g in gens.items():
        g.set_state(t[f"rng/{name}"])
    return int(meta["step"])


# ----------------------------------------------------------------------------------------------------
# The loop


def train(vcfg: VCNConfig, tcfg: TrainConfig, out_dir: str | os.PathLike, *, device: str = "auto",
          max_time: float | None = None, resume: bool = False, data_root: str | None = None,
          data_cache: str | None = None, judge_path: str | None = None, style_judge_path: str | None = None,
          ckpt_every: int = 1000,
          sample_every: int = 2000, log_every: int = 50, workers: int = 0, progress: bool = True,
          data: TensorData | None = None, init: str | None = None,
          init_parts: tuple[str, ...] | None = None) -> Path:
    """Train a VCN; returns the path of model.safetensors. See the module docstring. One run: a recipe in phases
    (TrainConfig.phased) trains through model.phases.train_in_phases, which calls this once per phase."""
    if tcfg.phased:
        raise ValueError("this recipe trains in phases (encoder_share, finish_share): use "
                         "model.phases.train_in_phases")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    dev = pick_device(device)
    if distributed:
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    out = Path(out_dir)
    if rank == 0:
        (out / "samples").mkdir(parents=True, exist_ok=True)

    torch.manual_seed(tcfg.seed)  # same initial weights on every rank
    model = VCN(vcfg).to(dev)
    if init is not None:  # fine-tune: start from a trained VCN of the same shape (a new recipe, say)
        tensors = read_checkpoint(init, role="vcn")[0]
        # A capsule bank, transfer maps and their style clusters describe the old encoder's capsules; the
        # fine-tuned model gets new ones later (`vcn bank`, `vcn transfer`, `vcn style-clusters`), and its edit
        # verifier too (`vcn verify`).
        tensors = {k: v for k, v in tensors.items()
                   if k not in ("bank", "bank_count", "ctx_bank", "transfer_weight", "transfer_residual",
                                "style_cluster")
                   and not k.startswith("verifier.")}
        if init_parts:  # only these parts from the file (the rest may differ in shape); the others start fresh
            own = model.state_dict()
            tensors = {**{k: v for k, v in own.items() if k.split(".")[0] not in init_parts},
                       **{k: v for k, v in tensors.items() if k.split(".")[0] in init_parts}}
        load_state(model, tensors, init)
    for part in tcfg.freeze:
        getattr(model, part).requires_grad_(False)
    if dev.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    # One frozen network trained on real renders serves both levers: its verdict (judge) and its trunk's
    # activations (perceptual).
    judge_net = _load_judge(judge_path, dev, vcfg) if tcfg.judge_weight > 0 or tcfg.perceptual_weight > 0 else None
    judge = _Reading(judge_net, "attribute_logits") if judge_net is not None and tcfg.judge_weight > 0 else None
    perceptual = _Reading(judge_net, "stages") if judge_net is not None and tcfg.perceptual_weight > 0 else None
    style = None
    if tcfg.style_weight > 0:
        from model.data.faces_attributes import STYLE_ATTRIBUTES

        reader = _load_judge(style_judge_path, dev, vcfg, DEFAULT_STYLE_JUDGE, "--style-judge")
        if reader.cfg.style_names != STYLE_ATTRIBUTES:  # the objective reads its heads in this order
            raise ValueError(f"--style-judge reads styles {reader.cfg.style_names}, not {STYLE_ATTRIBUTES}")
        style = _Reading(reader, "style_logits")
    disc = MultiScaleDiscriminator(vcfg).to(dev) if tcfg.adv_weight > 0 else None
    objective = VCNObjective(model, tcfg, judge, disc, perceptual, style)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=tcfg.lr, betas=tcfg.betas,
                           weight_decay=tcfg.weight_decay)
    d_opt = torch.optim.Adam(disc.parameters(), lr=tcfg.lr, betas=tcfg.betas) if disc is not None else None
    gens = {"data": torch.Generator().manual_seed(tcfg.seed * 1000 + rank),
            "noise": torch.Generator(device=dev).manual_seed(tcfg.seed * 1000 + rank + 1)}

    step = 0
    last = out / "last.safetensors"
    if resume and last.is_file():
        step = load_train_state(last, model, opt, gens, disc, d_opt)
        if rank > 0:  # the file holds rank 0's generators: give this rank streams of its own again
            for i, g in enumerate(gens.values()):
                g.manual_seed((tcfg.seed * 1000 + rank) * 1_000_003 + 2 * step + i)
    if data is None:
        cache = Path(data_cache) if data_cache else None
        data = load_training_data(vcfg, tcfg, data_root, cache, workers)
    data = data.to(dev)
    if vcfg.kind == "multilabel" and not vcfg.attribute_rates:
        # Stored in the checkpoint so `sample` draws unspecified attributes as often as training saw them,
        # and edits and samples never ask for a pair the data never shows together.
        vcfg = dataclasses.replace(vcfg, attribute_rates=tuple(data.targets.float().mean(0).tolist()),
                                   exclusive=exclusive_pairs(vcfg.capsule_names, data.targets.cpu()))
        model.cfg = vcfg
    runner = torch.nn.parallel.DistributedDataParallel(objective) if distributed else objective
    counterfactual = tcfg.swap_weight > 0

    log_path = out / "log.csv"
    # A resumed run appends to its log, minus the rows of steps it will redo (logged after the checkpoint it
    # resumes from); a run from step 0 starts a new one (no stale rows, one header).
    if rank == 0 and step > 0:
        _drop_log_rows_after(log_path, step)
    log_file = open(log_path, "a" if step > 0 else "w", newline="") if rank == 0 else None
    writer = None
    t0, seen, last_log = time.time(), 0, time.time()
    bar = _progress(tcfg.steps, step, progress and rank == 0)
    done = step / tcfg.steps  # share of the run behind us, for the learning-rate schedule
    _train_mode(model, tcfg.freeze)
    while step < tcfg.steps:
        for group in opt.param_groups:
            group["lr"] = tcfg.lr_at(done)
        idx = torch.randint(data.images.shape[0], (tcfg.batch_size,), generator=gens["data"]).to(dev)
        batch = data.batch(idx, counterfactual, tcfg.augment_shift, gens["data"], tcfg.augment_rotate,
                           tcfg.augment_scale)
        with autocast(dev, tcfg.cpu_bf16):
            losses = runner(batch, gens["noise"])
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        if disc is not None:
            with autocast(dev, tcfg.cpu_bf16):
                d_loss = lsgan_discriminator_loss(disc(batch.x), disc(objective.last_fakes))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            if distributed:  # the discriminator is outside DDP: average its gradients by hand
                for p in disc.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad.div_(dist.get_world_size())
            d_opt.step()
            losses["disc"] = d_loss.detach()
        step += 1
        seen += tcfg.batch_size * (2 if counterfactual else 1)

        elapsed = time.time() - t0
        out_of_time = max_time is not None and elapsed > max_time
        if distributed:  # every rank must stop on the same step (rank 0 saves on it) and use the same lr
            flags = torch.tensor([float(out_of_time), elapsed], device=dev)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            out_of_time, elapsed = bool(flags[0].item()), float(flags[1].item())
        done = max(step / tcfg.steps, elapsed / max_time if max_time else 0.0)
        if rank == 0:
            if step % log_every == 0 or step == tcfg.steps:
                now = time.time()
                losses = {k: v.detach() for k, v in losses.items()}
                if not math.isfinite(float(losses["total"])):  # checked here: .item() syncs the GPU
                    raise FloatingPointError(f"loss became {float(losses['total'])} at step {step}")
                row = {"step": step, "time_s": round(now - t0, 2), "img_per_s": round(seen / (now - last_log), 1)}
                if tcfg.lr_schedule != "constant":
                    row["lr"] = opt.param_groups[0]["lr"]
                row.update({k: round(float(v), 5) for k, v in losses.items()})
                if writer is None:
                    writer = csv.DictWriter(log_file, fieldnames=list(row))
                    if log_file.tell() == 0:
                        writer.writeheader()
                writer.writerow(row)
                log_file.flush()
                bar.set_postfix(loss=row["total"], img_s=row["img_per_s"])
                seen, last_log = 0, now
            if step % sample_every == 0:
                _sample_grid(model, batch, out / "samples" / f"step_{step:06d}.png")
                _train_mode(model, tcfg.freeze)
            if step % ckpt_every == 0 or step == tcfg.steps or out_of_time:
                save_train_state(last, model, opt, step, gens, vcfg, tcfg, disc, d_opt)
                save_vcn(out / "model.safetensors", model, tcfg, metrics={"step": step})
        bar.update(1)
        if out_of_time:
            break
    bar.close()
    if log_file is not None:
        log_file.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return out / "model.safetensors"


def _train_mode(model: VCN, frozen: tuple[str, ...]) -> None:
    """Training mode, except the frozen parts: their BatchNorm statistics must not move either."""
    model.train()
    for part in frozen:
        getattr(model, part).eval()


def _drop_log_rows_after(path: Path, step: int) -> None:
    """Rewrite the CSV log at path without the rows whose step is past `step` (atomically)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
    if len(kept) < len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)


DEFAULT_JUDGE = Path(__file__).resolve().parent.parent / "weights" / "judge.safetensors"
# The judge has no trained style heads; the calibration reader (trained on seed 4: neither the eval oracle's
# faces, seed 3, nor the VCN's, seed 0) reads styles at 91 % on real renders.
DEFAULT_STYLE_JUDGE = DEFAULT_JUDGE.with_name("reader.safetensors")


def _load_judge(path: str | None, dev: torch.device, vcfg: VCNConfig, default: Path = DEFAULT_JUDGE,
                flag: str = "--judge"):
    """A frozen reader for the judge, perceptual or style levers: `path`, else (64x64 rendered faces) the
    bundled `default`. A judge file (role "judge") or a reader trained like the oracle on other faces;
    never the eval oracle (refused by its training seed), which must not see what it will judge."""
    if path is None and vcfg.dataset == "faces" and vcfg.image_size == 64 and default.is_file():
        path = str(default)
    if path is None:
        raise ValueError(f"this lever needs {flag} PATH (a reader trained on real renders only)")
    from model.evaluate import DEFAULT_ORACLE
    from model.oracle import load_oracle

    reader = load_oracle(path, dev).eval()
    if reader.metadata["role"] == "oracle" and DEFAULT_ORACLE.is_file():
        seed = reader.metadata.get("metrics", {}).get("train_seed")
        if seed == read_checkpoint(DEFAULT_ORACLE)[1].get("metrics", {}).get("train_seed"):
            raise ValueError(f"{path} was trained on the eval oracle's faces (seed {seed}); training must not "
                             "read through the oracle")
    return reader


class _Reading(torch.nn.Module):
    """Adapter: one reading of a frozen reader as a module's forward: "attribute_logits" (the judge lever),
    "stages", its trunk activations per resolution (the perceptual lever), or "style_logits" (the style
    lever)."""

    def __init__(self, oracle: torch.nn.Module, reading: str):
        super().__init__()
        self.oracle, self.reading = oracle, reading

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        return getattr(self.oracle, self.reading)(x)


@torch.no_grad()
def _sample_grid(model: VCN, batch: Batch, path: Path) -> None:
    """Rows: inputs, reconstructions, and prior edits, written as one PNG."""
    from torchvision.utils import save_image

    was_training = model.training
    model.eval()
    x = batch.x[:8].float()
    rows = [x, model.reconstruct(x)]
    if model.cfg.kind == "multilabel":
        names = model.cfg.capsule_names  # Eyeglasses on faces; any model: its first attribute
        rows.append(model.edit(x, {"Eyeglasses" if "Eyeglasses" in names else names[0]: True}, seed=0))
    else:
        rows.append(model.sample_states(torch.arange(8) % model.cfg.num_names, seed=0))
    save_image(torch.cat(rows).float().cpu(), path, nrow=x.shape[0])  # one row per kind, even if B < 8
    model.train(was_training)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True)
