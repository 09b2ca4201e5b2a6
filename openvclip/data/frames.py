"""Frame stores: every video decoded once (decord) into a folder the loaders read quickly.

A store is a folder ``<name>/`` with ``meta.json`` and either

- ``frames.npy``: one ``(N, F, H, W, 3)`` uint8 array, memory-mapped (``format: raw``; the demo's 32 px videos:
  8 frames cost 24 KiB a video, 24 MiB per 1,000 videos), or
- ``frames.bin.npy`` + ``offsets.npy``: every frame JPEG-encoded back to back (a flat, memory-mapped byte
  array), with ``(N, F + 1)`` byte offsets (``format: jpeg``, for real videos: raw, the 3 views x 8 frames of
  the evaluation protocol at 224 x 224 would cost 3.6 GB per 1,000 videos; JPEG at quality 90 takes a
  content-dependent fraction of that).

``F`` frames per video are ``views`` temporal clips of ``num_frames`` frames ``rate`` frames apart (the
protocol's 3 x 8 at rate 16 for evaluation), resized so the short side is ``size`` and centre-cropped square.
Videos that cannot be decoded are listed in ``meta.json`` (``unreadable``) and kept as black frames, so rows stay
aligned with the manifest; loaders skip them. A store is decoded in shards kept in ``<name>.partial/`` until it
is complete, so an extraction killed after hours resumes with the shards it finished.
"""

from __future__ import annotations

import collections
import functools
import io
import json
import os
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..errors import MissingInput, UserError

FORMATS = ("raw", "jpeg")


SAMPLINGS = ("spread", "released_pyav", "released_torchvision")
TARGET_FPS = 30.0  # the released loader's DATA.TARGET_FPS: `rate` counts frames of a 30 fps video


def view_indices(length: int, num_frames: int, rate: int, views: int, sampling: str = "spread",
                 fps: float = TARGET_FPS) -> np.ndarray:
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


def clip_indices(length: int, num_frames: int, rate: int, start: float, sampling: str = "spread",
                 fps: float = TARGET_FPS) -> np.ndarray:
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


def _released_indices(length: int, num_frames: int, rate: int, views: int, backend: str, fps: float,
                      starts: Optional[Sequence[float]] = None) -> np.ndarray:
    import math

    if rate <= 0 or fps <= 0:
        raise ValueError(f"released sampling needs rate > 0 and the video's fps, got rate={rate}, fps={fps}")
    span = rate * num_frames / TARGET_FPS * fps          # the clip, in the video's frames
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


def resize_crop(frames: np.ndarray, size: int, released: bool = False) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 -> ``(F, size, size, 3)``: short side to ``size`` (antialiased bilinear), centre crop.
    ``released``: as the released test transform does it (bilinear without antialiasing, the long side floored,
    crop offsets rounded up: PySlowFast's ``transform.py``).

    Done in torch rather than by decord's resizing, which fails on some frame sizes (buffer size mismatch).
    """
    import math

    import torch
    import torch.nn.functional as F

    height, width = frames.shape[1:3]
    if released:
        if min(height, width) == size:
            new_h, new_w = height, width
        elif width < height:
            new_h, new_w = int(math.floor(height / width * size)), size
        else:
            new_h, new_w = size, int(math.floor(width / height * size))
    else:
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    if (new_h, new_w) != (height, width):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=not released, align_corners=False)
    if released:
        top, left = math.ceil((new_h - size) / 2), math.ceil((new_w - size) / 2)
    else:
        top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top:top + size, left:left + size]
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def decode_views(path: Path, num_frames: int, rate: int, views: int, size: int, sampling: str = "spread"
                 ) -> np.ndarray:
    """``(views * num_frames, size, size, 3)`` uint8 frames of the protocol's temporal views (decord)."""
    from .videos import Unreadable, decoder_errors, described, open_video

    reader = open_video(path)
    fps = reader.get_avg_fps() if sampling != "spread" else TARGET_FPS
    indices = view_indices(len(reader), num_frames, rate, views, sampling, fps).reshape(-1)
    unique, inverse = np.unique(indices, return_inverse=True)  # overlapping views decode each frame once
    try:
        frames = reader.get_batch(unique.tolist()).asnumpy()
    except decoder_errors() as error:
        raise Unreadable(described(error)) from error
    return resize_crop(frames, size, released=sampling != "spread")[inverse]


class FrameStore:
    """Read side of a store folder: ``store[i]`` -> ``(F, H, W, 3)`` uint8; slices and index arrays stack."""

    def __init__(self, path: Path):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise MissingInput(f"frame store {self.path} does not exist or is incomplete (run the frame "
                               "extraction rule first)")
        self.meta = json.loads(meta_file.read_text())
        self.format = self.meta["format"]
        self.shape = tuple(self.meta["shape"])
        if self.format == "raw":
            self._frames = np.load(self.path / "frames.npy", mmap_mode="r")
        else:
            self._blob = np.load(self.path / "frames.bin.npy", mmap_mode="r")
            self._offsets = np.load(self.path / "offsets.npy")
        self.unreadable = set(self.meta.get("unreadable", []))
        self.skipped = set(self.meta.get("skipped", []))

    def __len__(self) -> int:
        return self.shape[0]

    def _one(self, i: int) -> np.ndarray:
        if self.format == "raw":
            return np.asarray(self._frames[i])
        bounds = self._offsets[i]
        return np.stack([_decode_jpeg(self._blob[bounds[f]:bounds[f + 1]]) for f in range(len(bounds) - 1)])

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._one(int(key))
        if isinstance(key, slice):
            if self.format == "raw":
                return np.asarray(self._frames[key])
            key = range(*key.indices(len(self)))
        indices = list(key)
        if self.format == "raw":
            return np.asarray(self._frames[np.asarray(indices, dtype=int)])
        if not indices:
            return np.zeros((0,) + self.shape[1:], np.uint8)
        return np.stack([self._one(int(i)) for i in indices])

    def valid(self) -> np.ndarray:
        """``(N,)`` bool: the videos that decoded (not those skipped)."""
        mask = np.ones(len(self), bool)
        mask[sorted(self.unreadable | self.skipped)] = False
        return mask


class StoreRows:
    """A lazy view of some rows of a store (nothing is decoded until a batch is asked for)."""

    def __init__(self, store, rows):
        self.store, self.rows = store, np.asarray(rows, dtype=int)
        self.shape = (len(self.rows),) + tuple(store.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.store[int(self.rows[key])]
        return self.store[self.rows[key]]


def _decode_one(path: Path, num_frames: int, rate: int, views: int, size: int, fmt: str, quality: int,
                sampling: str = "spread"):
    """One video's frames (raw array, or a list of JPEG bytes), or why the video is unreadable. Only the video's
    own faults count (:class:`~openvclip.data.videos.Unreadable`); any other error is a bug and propagates."""
    from .videos import Unreadable

    try:
        clip = decode_views(path, num_frames, rate, views, size, sampling)
    except Unreadable as error:
        return error
    return clip if fmt == "raw" else [_encode_jpeg(frame, quality) for frame in clip]


def _decoded_in_order(paths: Sequence[Path], work, threads: int):
    """``work(path)`` for every path, yielded in order; up to ``threads`` run at once (decord, torch and PIL release
    the GIL) with a bounded look-ahead, so memory stays flat however long the list."""
    if threads <= 1:
        yield from (work(path) for path in paths)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = collections.deque()
        for path in paths:
            pending.append(pool.submit(work, path))
            if len(pending) >= 4 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


MAX_SHARD_VIDEOS = 256  # videos per shard of a store being written (a killed extraction keeps finished shards)


def shard_size(decoded: int) -> int:
    """Videos per shard: about 16 shards for a small set, shards of at most ``MAX_SHARD_VIDEOS`` for a large one
    (K400 val: 78 shards of 256, each a few minutes of decoding)."""
    return max(1, min(MAX_SHARD_VIDEOS, -(-decoded // 16)))


def _save_shard(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _shard_is_complete(path: Path, rows: int, count: int, fmt: str) -> bool:
    """Whether ``path`` is a finished shard of this store: every member passes its CRC check (a shard cut short by
    a full disk or a kill does not) and the arrays have this store's shape. Reads the file once, keeps nothing."""
    if not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                raise ValueError("a member fails its CRC check")
            shapes = {}
            for name in archive.namelist():
                with archive.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shapes[name[:-len(".npy")]] = header(member)[0]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        print(f"{path}: unreadable ({error}); decoding its videos again")
        return False
    frames = ("frames",) if fmt == "raw" else ("blob", "offsets")
    expected = (rows, count) if fmt == "raw" else (rows, count + 1)
    if any(k not in shapes for k in frames + ("unreadable", "errors")) or \
            shapes["errors"] != shapes["unreadable"] or shapes[frames[-1]][:2] != expected:
        print(f"{path}: not a shard of this store; decoding its videos again")
        return False
    return True


def store_settings(paths: Sequence[Path], num_frames: int, size: int, views: int = 1, rate: int = 0,
                   fmt: str = "raw", quality: int = 90, sampling: str = "spread", skip: Sequence[int] = ()) -> dict:
    """What a store's shards depend on (``<out>.partial/settings.json``): shards written under other settings
    are never reused."""
    skipped = sorted(set(int(i) for i in skip))
    return {"videos": [str(p) for p in paths], "skip": skipped, "num_frames": num_frames, "size": size,
            "views": views, "rate": rate, "format": fmt, "quality": quality, "sampling": sampling,
            "shard_videos": shard_size(len(paths) - len(skipped))}


def write_store(paths: Sequence[Path], out: Path, num_frames: int, size: int, views: int = 1, rate: int = 0,
                fmt: str = "raw", quality: int = 90, progress: bool = True, threads: int = 1,
                sampling: str = "spread", skip: Sequence[int] = ()) -> dict:
    """Decode every video of ``paths`` into the store folder ``out``, ``threads`` videos at a time. Rows in
    ``skip`` are not decoded (videos only training reads, which decodes its own clips): they hold no frames, are
    listed as ``skipped`` and are not valid.

    Videos are decoded in shards saved under ``<out>.partial/`` as they finish; the store is assembled from them
    beside ``out`` and renamed when complete. A run that was killed leaves its finished shards, and the next run
    with the same videos and settings checks and reuses them instead of decoding the set again."""
    if fmt not in FORMATS:
        raise UserError(f"frame store format must be one of {FORMATS}, got {fmt!r}")
    if sampling not in SAMPLINGS:
        raise UserError(f"frame sampling must be one of {SAMPLINGS}, got {sampling!r}")
    out = Path(out)
    count = views * num_frames
    shape = (len(paths), count, size, size, 3)
    settings = store_settings(paths, num_frames, size, views, rate, fmt, quality, sampling, skip)
    skipped, per_shard = settings["skip"], settings["shard_videos"]
    shards = [range(start, min(start + per_shard, len(paths))) for start in range(0, len(paths), per_shard)]
    partial = out.with_name(out.name + ".partial")
    if partial.is_dir() and not _same_settings(partial / "settings.json", settings):
        shutil.rmtree(partial)  # an earlier run of other videos or settings: nothing of it applies
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "settings.json").write_text(json.dumps(settings))
    shard_file = [partial / f"shard-{k:05d}.npz" for k in range(len(shards))]
    done = {k for k, rows in enumerate(shards) if _shard_is_complete(shard_file[k], len(rows), count, fmt)}
    if done:
        print(f"{out.name}: reusing {len(done)} of {len(shards)} shards an earlier run decoded "
              f"({sum(len(shards[k]) for k in done)} of {len(paths)} videos)", flush=True)
    _decode_shards(paths, [(shards[k], shard_file[k]) for k in range(len(shards)) if k not in done], shape[1:],
                   set(skipped), fmt, quality, progress, threads, out.name,
                   functools.partial(_decode_one, num_frames=num_frames, rate=rate, views=views, size=size,
                                     fmt=fmt, quality=quality, sampling=sampling))
    meta = _assemble(out, shards, shard_file, shape, fmt, {
        "num_frames": num_frames, "views": views, "rate": rate, "sampling": sampling, "size": size,
        "quality": quality if fmt == "jpeg" else None, "skipped": skipped, "videos": settings["videos"]})
    shutil.rmtree(partial)
    return meta


def _same_settings(path: Path, settings: dict) -> bool:
    try:
        return json.loads(path.read_text()) == settings
    except (OSError, ValueError):
        return False


def _decode_shards(paths, pending, frame_shape, skipped: set, fmt: str, quality: int, progress: bool,
                   threads: int, name: str, decode) -> None:
    """Decode the rows of the ``pending`` shards ``(rows, file)`` in order, saving each shard as it completes."""
    rows = [i for shard_rows, _ in pending for i in shard_rows]
    decoded = _decoded_in_order(rows, lambda i: None if i in skipped else decode(paths[i]), threads)
    with tqdm(total=len(rows), desc=f"decode {name}", disable=not progress, unit="video") as bar:
        for shard_rows, file in pending:
            clips, unreadable, errors = [], [], []
            for local, i in enumerate(shard_rows):
                clip = next(decoded)
                bar.update()
                if isinstance(clip, Exception):  # kept as black frames, so rows stay aligned with the manifest
                    unreadable.append(local)
                    errors.append(f"{paths[i]}: {clip}")
                    black = np.zeros(frame_shape, np.uint8)
                    clip = black if fmt == "raw" else [_encode_jpeg(frame, quality) for frame in black]
                clips.append(clip)
            _save_shard(file, {**_pack(clips, frame_shape, fmt), "unreadable": np.asarray(unreadable, np.int64),
                               "errors": np.asarray(errors, dtype=str)})


def _pack(clips, frame_shape, fmt: str) -> dict:
    """A shard's frames: ``frames`` (raw), or ``blob`` + ``offsets`` relative to the shard (jpeg). A skipped
    row (None) holds zeros (raw) or an empty byte range (jpeg)."""
    if fmt == "raw":
        return {"frames": np.stack([np.zeros(frame_shape, np.uint8) if c is None else c for c in clips])}
    count = frame_shape[0]
    offsets = np.zeros((len(clips), count + 1), np.int64)
    parts, position = [], 0
    for r, clip in enumerate(clips):
        if clip is None:
            offsets[r, :] = position
            continue
        for f, data in enumerate(clip):
            offsets[r, f] = position
            parts.append(data)
            position += len(data)
        offsets[r, count] = position
    return {"blob": np.frombuffer(b"".join(parts), np.uint8), "offsets": offsets}


def _assemble(out: Path, shards, files, shape, fmt: str, settings: dict) -> dict:
    """Write the store beside ``out`` from its shards and rename it into place; returns its meta (``settings``
    and what decoding found)."""
    tmp = out.with_name(out.name + ".writing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    unreadable: List[int] = []
    errors: List[str] = []
    try:
        # One shard in memory at a time (a K400 val store is several GB); np.load reads a member when asked.
        if fmt == "raw":
            frames = np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=shape)
        else:
            ends = []
            for file in files:
                with np.load(file, allow_pickle=False) as shard:
                    ends.append(int(shard["offsets"].max(initial=0)))  # the shard's blob length
            # Saved as .npy so it memory-maps as a flat byte array without reading it.
            frames = np.lib.format.open_memmap(tmp / "frames.bin.npy", mode="w+", dtype=np.uint8,
                                               shape=(sum(ends),))
            offsets = np.zeros((shape[0], shape[1] + 1), np.int64)
        position = 0
        for rows, file in zip(shards, files):
            with np.load(file, allow_pickle=False) as shard:
                if fmt == "raw":
                    frames[rows.start:rows.stop] = shard["frames"]
                else:
                    blob = shard["blob"]
                    frames[position:position + len(blob)] = blob
                    offsets[rows.start:rows.stop] = shard["offsets"] + position
                    position += len(blob)
                unreadable += [rows.start + int(r) for r in shard["unreadable"]]
                errors += [str(e) for e in shard["errors"]]
        frames.flush()
        del frames
        if fmt == "jpeg":
            np.save(tmp / "offsets.npy", offsets)
        meta = {"format": fmt, "shape": list(shape), **settings, "unreadable": unreadable, "errors": errors}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode_jpeg(data: np.ndarray) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data.tobytes())) as image:
        return np.asarray(image.convert("RGB"))


def open_store(path: Path) -> FrameStore:
    return FrameStore(path)
