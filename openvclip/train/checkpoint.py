"""Epoch checkpoints: ``checkpoints/epoch-NNNN/`` with the weights (safetensors) and the optimizer, scheduler, SWA,
scaler and RNG state (a torch file); the fingerprint of settings a run must share with a checkpoint to resume it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import List, Optional

import torch

from ..io import atomic_path
from ..weights import load_weights, save_weights
from .config import TrainConfig
from .rng import rng_state, set_rng_state

# Settings that do not change the training trajectory: a resumed run may differ in them.
_RESUMABLE_DIFFERENCES = ("num_workers", "keep_checkpoints")


def training_fingerprint(cfg: TrainConfig, metadata: Optional[dict], dataset_size: int) -> dict:
    """What a checkpoint must share with the current run to be resumed."""
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE_DIFFERENCES}
    values.update({f"data.{k}": v for k, v in (metadata or {}).items() if k != "versions"})
    values["data.size"] = dataset_size
    return values


def fingerprint_differences(ours: dict, theirs: Optional[dict]) -> List[str]:
    theirs = theirs or {}
    return sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))


def _checkpoint_dirs(root: Path):
    # A folder still named epoch-NNNN.tmp (atomic_path's temporary) is one a killed run left half written.
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith("epoch-") and not p.name.endswith(".tmp") and (p / "state.pt").is_file()
    )


def latest_checkpoint(out_dir: Path) -> Optional[Path]:
    dirs = _checkpoint_dirs(Path(out_dir) / "checkpoints")
    return dirs[-1] if dirs else None


def read_state(checkpoint: Path) -> dict:
    # Tensors and plain values only: a state file (perhaps from a shared file system) runs no code.
    return torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)


def save_checkpoint(
    out_dir: Path,
    epoch: int,
    step: int,
    params,
    optimizer,
    scheduler,
    swa,
    scaler,
    alpha_rng,
    keep: int,
    fingerprint: Optional[dict] = None,
) -> Path:
    """Write ``checkpoints/epoch-NNNN/`` in one rename, then remove all but the last ``keep`` checkpoints."""
    root = out_dir / "checkpoints"
    final = root / f"epoch-{epoch:04d}"
    with atomic_path(final) as tmp:
        tmp.mkdir()
        save_weights(params, tmp / "model.safetensors", {"epoch": epoch, "step": step})
        torch.save(
            {
                "epoch": epoch,
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "swa": swa.state_dict() if swa is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "alpha_rng": alpha_rng.get_state(),
                "rng": rng_state(),
                "fingerprint": fingerprint,
            },
            tmp / "state.pt",
        )
        shutil.rmtree(final, ignore_errors=True)  # a folder cannot be renamed onto a non-empty one
    for old in _checkpoint_dirs(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def restore_checkpoint(checkpoint: Path, state: dict, params, optimizer, scheduler, swa, scaler, alpha_rng) -> None:
    """Put the weights and every state :func:`save_checkpoint` wrote (``state``: :func:`read_state`'s) back."""
    weights = load_weights(checkpoint / "model.safetensors")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(weights[k])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if swa is not None:
        swa.load_state_dict(state["swa"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    alpha_rng.set_state(state["alpha_rng"])
    set_rng_state(state["rng"])
