"""Frame stores for evaluation: uint8 frames on disk, CLIP-normalised float clips out (training decodes its clips
on the fly: clips.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

# Importing open_clip.constants runs open_clip's __init__, which loads its model code, torchvision and timm (about
# 4 s after torch here); every importer of this module runs an open_clip model, so it pays that import anyway.
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD


def normalise(
    frames: torch.Tensor, mean: Sequence[float] = OPENAI_DATASET_MEAN, std: Sequence[float] = OPENAI_DATASET_STD
) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 -> ``(..., 3, H, W)`` float, scaled to [0, 1] and normalised per channel."""
    return standardise(frames.movedim(-1, -3).float().div_(255.0), mean, std)


def standardise(
    x: torch.Tensor, mean: Sequence[float] = OPENAI_DATASET_MEAN, std: Sequence[float] = OPENAI_DATASET_STD
) -> torch.Tensor:
    """``(..., 3, H, W)`` float in [0, 1] -> normalised per channel (CLIP's mean and std by default)."""
    shape = (3, 1, 1)
    return (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


def load_store(path: Path):
    """The frame store folder written by ``openvclip frames`` (see :mod:`openvclip.data.frame_store`)."""
    from .frame_store import open_store

    return open_store(path)
