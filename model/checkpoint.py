"""Checkpoints: safetensors files with JSON metadata. Nothing here ever unpickles.

Every file carries {"format": "vcn", "role": ..., plus JSON-encoded entries such as "config"}; a VCN
file's "config" rebuilds the network, so a weights file is all a server needs. Writes are atomic
(temporary file in the same folder, fsync, rename): a crash mid-write never leaves a corrupt file under
the real name. Every failure to read is a CheckpointError whose one-line message names the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from model.config import TrainConfig, VCNConfig

FORMAT = "vcn"


class CheckpointError(RuntimeError):
    """A checkpoint could not be used; the message is one line and names the file."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], role: str,
                    **metadata: Any) -> Path:
    """Write tensors + metadata atomically. Metadata values are JSON-encoded (safetensors wants str), strings
    too, so a string that looks like a number comes back as the string it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "role": role}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = st_save(tensors, metadata=meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; weights must be readable by e.g. a container's user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike, role: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by save_checkpoint: (tensors on CPU, metadata with JSON values decoded)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    raw = path.read_bytes()
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, OSError, UnicodeDecodeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a valid safetensors file (truncated or foreign: {reason})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a safetensors file, but not a vcn checkpoint (no format=vcn metadata)")
    if role is not None and meta.get("role") != role:
        raise CheckpointError(f"{path}: holds a {meta.get('role')!r} checkpoint, expected {role!r}")
    decoded = {"format": meta["format"], "role": meta.get("role")}
    for k, v in meta.items():
        if k in decoded:
            continue
        try:
            decoded[k] = json.loads(v)
        except json.JSONDecodeError:  # files written before strings were JSON-encoded too
            decoded[k] = v
    return tensors, decoded


def load_state(module: nn.Module, tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """load_state_dict(strict) that turns a mismatch into a one-line CheckpointError."""
    own = module.state_dict()
    # Empty buffers (e.g. a VCN without a capsule bank) may be absent from files written before they existed.
    missing = sorted(k for k in set(own) - set(tensors) if own[k].numel() > 0)
    unexpected = sorted(set(tensors) - set(own))
    bad = [k for k in own if k in tensors and own[k].shape != tensors[k].shape]
    if missing or unexpected or bad:
        raise CheckpointError(f"{path}: weights do not fit the config (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}, wrong shape {bad[:3]})")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=False)


def save_model(path: str | os.PathLike, model: nn.Module, role: str, train_config: TrainConfig | None = None,
               metrics: dict | None = None, dtype: torch.dtype | None = None, **extra: Any) -> Path:
    """Save a network built from a config (model.cfg, with to_json) with that config (and recipe, metrics) in the
    metadata. dtype=torch.float16 halves the file for shipping; loading (load_state) casts back to float32."""
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
             for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"config": json.loads(model.cfg.to_json()), "metrics": metrics or {}, **extra}
    if train_config is not None:
        meta["train_config"] = json.loads(train_config.to_json())
    return save_checkpoint(path, state, role=role, **meta)


def save_vcn(path: str | os.PathLike, model: nn.Module, train_config: TrainConfig | None = None,
             metrics: dict | None = None, dtype: torch.dtype | None = None, **extra: Any) -> Path:
    """Save a VCN with its config (and recipe, metrics) in the metadata (save_model)."""
    return save_model(path, model, "vcn", train_config, metrics, dtype, **extra)


def resave_vcn(path: str | os.PathLike, model: nn.Module, dtype: torch.dtype | None = None,
               **extra: Any) -> Path:
    """Save a VCN loaded with load_vcn (whose config or buffers a tool changed, e.g. a new capsule bank)
    keeping its recipe, metrics and other metadata; `extra` adds or replaces metadata entries."""
    meta = {k: v for k, v in getattr(model, "metadata", {}).items() if k not in ("config", "format", "role")}
    recipe = meta.pop("train_config", None)
    meta.update(extra)
    train_config = TrainConfig.from_json(json.dumps(recipe)) if recipe is not None else None
    return save_vcn(path, model, train_config, dtype=dtype, **meta)


def load_vcn(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """A ready VCN (eval mode, on `device`) from a checkpoint file; CheckpointError if it is unusable."""
    from model.vcn import VCN  # late import: vcn imports networks, which need nothing from here

    tensors, meta = read_checkpoint(path, role="vcn")
    try:
        cfg = VCNConfig.from_json(json.dumps(meta["config"]))
        model = VCN(cfg)  # a config the networks reject (e.g. celeba256 with a context) is also unusable
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path}: bad or missing config in metadata ({e})") from None
    load_state(model, tensors, path)
    model.metadata = meta
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------------
# Optimiser state, flattened to tensors + JSON so resumable training checkpoints need no pickle either.


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """optimizer.state_dict() -> tensors {prefix/param/key: tensor} and JSON-able param_groups."""
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}/{pid}/{key}"] = t
    return tensors, {"param_groups": sd["param_groups"]}


def unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str,
                        groups: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if name.startswith(prefix + "/"):
            pid, key = name[len(prefix) + 1 :].split("/", 1)  # the prefix itself may contain "/"
            state.setdefault(int(pid), {})[key] = t
    opt.load_state_dict({"state": state, "param_groups": groups["param_groups"]})
