"""CLIP's input normalisation: uint8 frames (evaluation's frame stores, pretraining's stills) or [0, 1] clips
(training's, decoded on the fly in clips.py) to the normalised floats the vision tower takes."""

from __future__ import annotations

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
