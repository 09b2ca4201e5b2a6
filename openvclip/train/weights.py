"""Weights files: safetensors written atomically, read back with a clear error for a missing or SWA-less file."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import MissingInput, UserError
from ..io import atomic_path


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
