"""The learning-rate schedule: linear warm-up, then cosine decay, stepped once per optimizer step."""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, total: int, warmup: int, base: float, start: float, end: float) -> float:
    """Learning rate at ``step``: linear from ``start`` to ``base`` over ``warmup`` steps, then cosine to ``end``."""
    if step < warmup:
        return start + (base - start) * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, total: int, warmup: int, base: float, start: float, end: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`warmup_cosine` for ``optimizer``, whose learning rate is ``base``."""
    # Not torch's LinearLR + CosineAnnealingLR: start=0 raises, warmup=total divides by 0, the rest drift (8e-15 rel.)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total, warmup, base, start, end) / base
    )
