"""Weights as files and as points in weight space: safetensors written atomically and read back with a clear
error for a missing, damaged or SWA-less file; state dicts checked against each other and interpolated.

Below the models and the stages that use them (training, evaluation, inference): reading or mixing weights
loads no training code."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import MissingInput, UserError
from .io import atomic_path


def save_weights(weights: Mapping[str, torch.Tensor], path: Path, metadata: Optional[dict] = None) -> None:
    """Safetensors file written atomically (:func:`openvclip.io.atomic_path`)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})


def load_weights(path: Path) -> Dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"weights file {path} does not exist")
    try:
        weights = load_file(str(path))
    except SafetensorError as error:
        raise UserError(
            f"weights file {path} cannot be read as safetensors ({error}): it is truncated or corrupt; make it "
            "again (delete it and rerun the command or workflow step that wrote it) or copy it again"
        ) from None
    if not weights:
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("swa") == "off":
                raise UserError(
                    f"{path} holds no SWA average: its training ran with SWA off (train.swa; on by "
                    f"default for the openvclip objective only); its weights are {path.parent}/"
                    "model.safetensors"
                )
    return weights


def write_no_swa(path: Path, objective: str) -> None:
    """``swa.safetensors`` of a training without SWA: no tensors, metadata ``swa: off``. Every training writes
    the file, so the workflow declares it as an output of every training (what a rule reads, a rule declares);
    :func:`load_weights` refuses it by name."""
    save_weights({}, path, {"swa": "off", "objective": objective})


def check_compatible(
    theta0: Mapping[str, torch.Tensor], theta: Mapping[str, torch.Tensor], names: Tuple[str, str] = ("theta0", "theta")
) -> None:
    """Same keys and shapes, or a ValueError naming the differences."""
    keys0, keys1 = set(theta0), set(theta)
    if keys0 != keys1:
        only0, only1 = sorted(keys0 - keys1), sorted(keys1 - keys0)
        raise UserError(
            f"state dicts have different keys: only in {names[0]}: {only0[:5]}{' …' if len(only0) > 5 else ''} "
            f"({len(only0)}), only in {names[1]}: {only1[:5]}{' …' if len(only1) > 5 else ''} ({len(only1)}); "
            "both must come from the same architecture"
        )
    for key in theta0:
        if tuple(theta0[key].shape) != tuple(theta[key].shape):
            raise UserError(
                f"state dicts disagree on the shape of {key!r}: {names[0]} has "
                f"{tuple(theta0[key].shape)}, {names[1]} has {tuple(theta[key].shape)}"
            )


def check_ratio(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def interpolate(
    theta0: Mapping[str, torch.Tensor], theta: Mapping[str, torch.Tensor], ratio: float
) -> Dict[str, torch.Tensor]:
    """``ratio*theta0 + (1-ratio)*theta`` key by key (ratio 0 gives theta, 1 gives theta0, both exactly).

    Non-floating tensors (counters) are taken from theta0 when ratio is 1 and from theta otherwise.
    """
    ratio = check_ratio(ratio, "ratio")
    check_compatible(theta0, theta)
    out = {}
    for key, t in theta.items():
        t0 = theta0[key]
        if ratio == 0.0 or ratio == 1.0 or not torch.is_floating_point(t):
            out[key] = (t0 if ratio == 1.0 else t).detach().clone()
        else:
            # The end points are exact above; in between, compute in float32 at least for low-precision weights.
            dtype = torch.promote_types(t.dtype, torch.float32)
            mixed = ratio * t0.detach().to(dtype) + (1.0 - ratio) * t.detach().to(dtype)
            out[key] = mixed.to(t.dtype)
    return out
