"""Which frames of a video are taken: the evaluation protocol's temporal views and one training clip, spread
over the video or as the released (PySlowFast) loaders take them."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ..errors import UserError

SAMPLINGS = ("spread", "released_pyav", "released_torchvision")
TARGET_FPS = 30.0  # the released loader's DATA.TARGET_FPS: `rate` counts frames of a 30 fps video


def view_indices(
    length: int, num_frames: int, rate: int, views: int, sampling: str = "spread", fps: float = TARGET_FPS
) -> np.ndarray:
    """``(views, num_frames)`` frame indices of a video of ``length`` frames at ``fps``.

    - ``spread``: clips of ``num_frames`` frames ``rate`` apart, their starts spread evenly from the first to the
      last possible one (clamped at the ends of short videos). ``rate <= 0`` spreads each clip's frames over the
      whole video instead (the demo's short synthetic clips).
    - ``released_pyav`` / ``released_torchvision``: the frames the released Open-VCLIP test loader takes with
      that decoding backend (PySlowFast's ``decoder.py``: pyav for UCF101, K400 and K600, torchvision for
      HMDB51), in frame indices: the clip spans ``rate * num_frames`` frames at 30 fps, so ``rate`` scales with
      the video's frame rate. pyav decodes ``ceil(rate * (num_frames - 1) / 30 * fps)`` frames (+1) from
      ``delta * view / views`` and samples ``linspace(0, rate * num_frames / 30 * fps - 1, num_frames)`` in them,
      clamped to the last decoded frame; torchvision starts view ``k`` at ``k * floor(delta / (views - 1))`` and
      decodes the whole video when it holds no more than ``rate * num_frames`` frames (then every view is the
      same). Exact up to the decoders' timestamp rounding.
    """
    if length < 1:
        raise ValueError("video has no frames")
    if sampling not in SAMPLINGS:
        raise UserError(f"frame sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if sampling != "spread":
        return _released_indices(length, num_frames, rate, views, sampling, fps)
    if rate <= 0:
        base = np.minimum(((np.arange(num_frames) + 0.5) * length / num_frames).astype(int), length - 1)
        return np.tile(base, (views, 1))
    span = (num_frames - 1) * rate + 1
    room = max(length - span, 0)
    fractions = np.array([0.5]) if views == 1 else np.arange(views) / (views - 1)
    starts = np.floor(room * fractions + 0.5).astype(int)  # round half up
    return np.minimum(starts[:, None] + rate * np.arange(num_frames)[None, :], length - 1)


def clip_indices(
    length: int, num_frames: int, rate: int, start: float, sampling: str = "spread", fps: float = TARGET_FPS
) -> np.ndarray:
    """``(num_frames,)`` frame indices of one training clip whose start is drawn at ``start`` in [0, 1) of the
    room the video leaves (the released training loader's ``random.uniform(0, delta)``, PySlowFast's
    ``get_start_end_idx`` with ``clip_idx = -1``).

    - ``released_pyav``: as the released training loader decodes with pyav (Kinetics): the ``start * delta`` of
      the test views' formula (:func:`view_indices`) with a drawn fraction in place of ``view / views``.
    - ``spread``: frames ``rate`` apart from ``floor(start * (room + 1))``, clamped at the end of a short video;
      ``rate <= 0`` takes frames spread over the whole video (the demo's 8-frame clips: nothing to draw).
    """
    if length < 1:
        raise ValueError("video has no frames")
    if not 0.0 <= start < 1.0:
        raise ValueError(f"a clip's start fraction lies in [0, 1), got {start}")
    if sampling == "released_pyav":
        return _released_indices(length, num_frames, rate, 1, sampling, fps, starts=[start])[0]
    if sampling != "spread":
        raise ValueError(f"training clips are sampled 'spread' or 'released_pyav', got {sampling!r}")
    if rate <= 0:
        return view_indices(length, num_frames, rate, 1)[0]
    room = max(length - ((num_frames - 1) * rate + 1), 0)
    first = int(start * (room + 1))
    return np.minimum(first + rate * np.arange(num_frames), length - 1)


def _released_indices(
    length: int,
    num_frames: int,
    rate: int,
    views: int,
    backend: str,
    fps: float,
    starts: Optional[Sequence[float]] = None,
) -> np.ndarray:
    if rate <= 0 or fps <= 0:
        raise ValueError(f"released sampling needs rate > 0 and the video's fps, got rate={rate}, fps={fps}")
    span = rate * num_frames / TARGET_FPS * fps  # the clip, in the video's frames
    out = np.empty((views, num_frames), dtype=np.int64)
    for view in range(views):
        if backend == "released_pyav":
            decoded = max(1.0, math.ceil(rate * (num_frames - 1) / TARGET_FPS * fps))
            fraction = view / views if starts is None else starts[view]
            start = max(length - decoded, 0) * fraction
            first, last = math.ceil(start), min(math.floor(start + decoded - 1), length - 1)
            available = last - first + 1 + (last + 1 < length)  # the decoder keeps one frame past the clip's end
        else:  # released_torchvision
            if length > rate * num_frames:
                first = view * math.floor(max(length - span, 0) / max(views - 1, 1))
                available = min(int(math.floor(first + span - 1)) - first + 1, length - first)
            else:
                first, available = 0, length
        relative = np.clip(np.linspace(0, span - 1, num_frames), 0, available - 1).astype(np.int64)
        out[view] = first + relative
    return np.minimum(out, length - 1)
