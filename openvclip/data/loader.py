"""Datasets over a frame store: uint8 frames on disk, normalised float clips out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

# CLIP's normalisation (open_clip.constants.OPENAI_DATASET_MEAN / STD); kept here so data imports no model code.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
FLIPS = ("none", "horizontal", "both")


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


class FrameClips(Dataset):
    """Clips ``(T, 3, H, W)`` and labels for the rows ``indices`` of a frame store.

    A store holding several temporal views per video (``views`` clips of ``num_frames``) gives one view drawn at
    random per sample: temporal jitter for training.

    ``flips`` (training augmentation): ``"horizontal"`` mirrors each clip left-right with probability 1/2,
    ``"both"`` also up-down, independently. Each sample's draws come from a generator seeded by (seed, epoch,
    sample) (:meth:`set_epoch`), so they do not depend on the number of training processes or loader workers,
    and a resumed run draws the same views and flips.
    """

    def __init__(self, store, labels: Sequence[int], indices: Sequence[int], flips: str = "none",
                 num_frames: Optional[int] = None):
        if flips not in FLIPS:
            raise ValueError(f"flips must be one of {FLIPS}, got {flips!r}")
        if len(labels) != len(store):
            raise ValueError(f"frame store holds {len(store)} videos but the manifest lists {len(labels)}")
        self.store, self.labels, self.indices, self.flips = store, list(labels), list(indices), flips
        self.num_frames = num_frames or store.shape[1]
        if store.shape[1] % self.num_frames:
            raise ValueError(f"frame store holds {store.shape[1]} frames per video, not a whole number of "
                             f"{self.num_frames}-frame views")
        self.views = store.shape[1] // self.num_frames
        self.seed, self.epoch = 0, 0

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Seed the next epoch's per-sample draws (the training loop calls it before each epoch)."""
        self.epoch, self.seed = int(epoch), int(seed)

    def _generator(self, item: int) -> torch.Generator:
        return torch.Generator().manual_seed(((self.seed * 1_000_003 + self.epoch) * 10_000_019 + item) % 2**63)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        row = self.indices[item]
        frames = np.array(self.store[row])
        draws = self._generator(item)
        if self.views > 1:
            view = int(torch.randint(self.views, (), generator=draws))
            frames = frames[view * self.num_frames:(view + 1) * self.num_frames]
        clip = normalise(torch.from_numpy(frames))
        if self.flips != "none":
            axes = (-1, -2) if self.flips == "both" else (-1,)
            dims = [d for d, flip in zip(axes, torch.rand(len(axes), generator=draws) < 0.5) if flip]
            clip = clip.flip(dims) if dims else clip
        return clip, self.labels[row]
