"""Training clips decoded on the fly: a fresh clip of every video each epoch, augmented as the released loader does.

The released training loader (PySlowFast's ``kinetics.py`` with the pyav decoder, as Open-VCLIP trained) takes
8 frames at a sampling rate of 16 at a target of 30 fps from a start drawn uniformly over the video
(``decoder.get_start_end_idx`` with ``clip_idx = -1``), scales the short side to a size drawn in [224, 256]
(``transform.random_short_side_scale_jitter``: bilinear, long side floored, unchanged when already that size),
crops 224 x 224 at a random offset (``random_crop``: ``randint(0, side - 224)``), and mirrors the clip left-right
with probability 0.5 (``horizontal_flip``); no colour augmentation (``AUG.ENABLE: False``).

Every draw of a sample comes from a generator seeded by (seed, epoch, sample), and the epoch travels with each
sample's key ``(epoch, item)`` (:class:`EpochBatches`), so the clips do not depend on the number of loader
workers (persistent or not) or training processes, and a resumed run draws the clips the uninterrupted run would
have drawn.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from ..errors import UserError
from .normalisation import standardise
from .sampling import TARGET_FPS, clip_indices

SAMPLINGS = ("released_pyav", "spread")


@dataclasses.dataclass(frozen=True)
class ClipAugmentation:
    """How one training clip is drawn from a video (the train config's ``num_frames``, ``sampling_rate``,
    ``frame_sampling``, ``jitter_scales``, ``crop_size``, ``flip``)."""

    num_frames: int = 8
    rate: int = 16  # frames apart at TARGET_FPS (released_pyav) or in the video (spread)
    sampling: str = "released_pyav"
    jitter_scales: Tuple[int, int] = (224, 256)
    crop_size: int = 224
    flip: float = 0.5  # probability of a left-right mirror

    def __post_init__(self):
        low, high = self.jitter_scales
        if self.sampling not in SAMPLINGS:
            raise UserError(f"training frame sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if not self.crop_size <= low <= high:
            raise UserError(
                f"jitter scales {list(self.jitter_scales)} must satisfy crop size ({self.crop_size}) "
                "<= low <= high: the crop is taken inside the scaled frame"
            )
        if not 0.0 <= self.flip <= 1.0:
            raise UserError(f"flip is a probability, got {self.flip}")


@dataclasses.dataclass(frozen=True)
class ClipDraw:
    """What one sample gets: the start fraction, the short side, the crop offsets as fractions, the mirror."""

    start: float
    scale: int
    top: float
    left: float
    flip: bool

    def offsets(self, height: int, width: int, size: int) -> Tuple[int, int]:
        # floor(u * (side - size)) is uniform over 0 .. side - size - 1, as numpy's randint(0, side - size).
        return int(self.top * max(height - size, 0)), int(self.left * max(width - size, 0))


def draw(generator: torch.Generator, augmentation: ClipAugmentation) -> ClipDraw:
    start, scale, top, left, flip = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
    low, high = augmentation.jitter_scales
    return ClipDraw(
        start=start, scale=int(round(low + scale * (high - low))), top=top, left=left, flip=flip < augmentation.flip
    )


def sample_generator(seed: int, epoch: int, item: int) -> torch.Generator:
    """The generator of sample ``item``'s draws in ``epoch``: a function of the three numbers only."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 10_000_019 + item) % 2**63)


def scale_crop_flip(frames: np.ndarray, sample: ClipDraw, size: int) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(T, 3, size, size)`` float in [0, 1]: the short side scaled to ``sample.scale``
    (bilinear, no antialiasing, long side floored: the released transform), cropped, mirrored."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    height, width = x.shape[-2:]
    if min(height, width) != sample.scale:
        if width < height:
            new_h, new_w = int(math.floor(height / width * sample.scale)), sample.scale
        else:
            new_h, new_w = sample.scale, int(math.floor(width / height * sample.scale))
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        height, width = new_h, new_w
    top, left = sample.offsets(height, width, size)
    x = x[:, :, top : top + size, left : left + size]
    if x.shape[-2:] != (size, size):
        raise ValueError(f"a {height}x{width} frame cannot give a {size}x{size} crop")
    return x.flip(-1) if sample.flip else x


def decode_clip(path: Path, augmentation: ClipAugmentation, sample: ClipDraw) -> np.ndarray:
    """The clip's ``(T, H, W, 3)`` uint8 frames at the video's size (decord; each frame decoded once)."""
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    fps = reader.get_avg_fps() if augmentation.sampling == "released_pyav" else TARGET_FPS
    indices = clip_indices(
        len(reader), augmentation.num_frames, augmentation.rate, sample.start, augmentation.sampling, fps
    )
    unique, inverse = np.unique(indices, return_inverse=True)
    return reader.get_batch(unique.tolist()).asnumpy()[inverse]


class VideoClips(Dataset):
    """Training clips ``(T, 3, crop, crop)`` (CLIP-normalised) and labels, decoded from ``paths`` on the fly.

    Keys are ``(epoch, item)`` pairs (:class:`EpochBatches` makes them). The videos were checked when the
    training videos were indexed (:mod:`openvclip.data.train_videos`): one that fails now raises, naming it,
    rather than be replaced by another clip.
    """

    takes_epoch = True

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], augmentation: ClipAugmentation, seed: int = 0):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} videos but {len(labels)} labels")
        self.paths, self.labels = [Path(p) for p in paths], list(labels)
        self.augmentation, self.seed = augmentation, int(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def draw(self, epoch: int, item: int) -> ClipDraw:
        return draw(sample_generator(self.seed, epoch, item), self.augmentation)

    def __getitem__(self, key: Tuple[int, int]):
        epoch, item = key
        sample = self.draw(epoch, item)
        try:
            frames = decode_clip(self.paths[item], self.augmentation, sample)
        except Exception as error:
            raise RuntimeError(
                f"training video {self.paths[item]} could not be decoded although it was indexed "
                "as readable; was it changed after the training-video rule ran?"
            ) from error
        clip = scale_crop_flip(frames, sample, self.augmentation.crop_size)
        return standardise(clip), self.labels[item]


class EpochBatches(Sampler[List]):
    """A batch sampler whose batches come from ``make(epoch)`` for the epoch set last (:meth:`set_epoch`), each
    index paired with that epoch when the dataset ``takes_epoch``. Iterated in the main process, so persistent
    loader workers receive the epoch with every key."""

    def __init__(self, make, keyed: bool):
        self.make, self.keyed, self.epoch, self.batches = make, keyed, None, None

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.batches = epoch, self.make(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[List]:
        for batch in self.batches:
            yield [(self.epoch, i) for i in batch] if self.keyed else batch
