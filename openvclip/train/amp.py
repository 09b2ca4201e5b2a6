"""Automatic mixed precision: which mode ``train.amp`` means on a device, its autocast context and grad scaler."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager, Optional, Tuple

import torch

from ..errors import UserError
from .config import TrainConfig


def amp_mode(cfg: TrainConfig, device: torch.device) -> str:
    return ("fp16" if device.type == "cuda" else "off") if cfg.amp == "auto" else cfg.amp


def autocast_and_scaler(
    cfg: TrainConfig, device: torch.device
) -> Tuple[Callable[[], ContextManager], Optional[torch.amp.GradScaler]]:
    """(a factory of the forward pass's autocast context, the gradient scaler; None unless fp16)."""
    mode = amp_mode(cfg, device)
    if mode == "off":
        return nullcontext, None
    if device.type != "cuda":
        raise UserError(f"train.amp={cfg.amp!r} needs a CUDA device; on {device.type} use amp: off (or auto)")
    dtype = torch.float16 if mode == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler
