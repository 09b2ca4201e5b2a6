"""Frame stores for evaluation: uint8 frames on disk, normalised float clips out (training decodes its clips
on the fly: clips.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

# CLIP's normalisation (open_clip.constants.OPENAI_DATASET_MEAN / STD); kept here so data imports no model code.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalise(frames: torch.Tensor, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD
              ) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 -> ``(..., 3, H, W)`` float, scaled to [0, 1] and normalised per channel."""
    x = frames.movedim(-1, -3).float().div_(255.0)
    shape = (3, 1, 1)
    return (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


def load_store(path: Path):
    """The frame store folder written by ``openvclip frames`` (see :mod:`openvclip.data.frames`)."""
    from .frames import open_store

    return open_store(path)
