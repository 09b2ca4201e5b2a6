"""Writing a frame store (:mod:`.frame_store`): every video of a list decoded once, in shards kept in
``<name>.partial/`` until the store is complete, so an extraction killed after hours resumes with its shards."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import logging
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..config import from_mapping
from ..errors import UserError
from ..io import atomic_path, write_json
from .frame_store import FORMATS
from .jpeg import encode_jpeg
from .parts import part as part_range
from .sampling import SAMPLINGS
from .videos import Unreadable, decode_views

log = logging.getLogger(__name__)


def _decode_one(
    path: Path, num_frames: int, rate: int, views: int, size: int, fmt: str, quality: int, sampling: str = "spread"
):
    """One video's frames (raw array, or a list of JPEG bytes), or why the video is unreadable. Only the video's
    own faults count (:class:`~openvclip.data.videos.Unreadable`); any other error is a bug and propagates."""
    try:
        clip = decode_views(path, num_frames, rate, views, size, sampling)
    except Unreadable as error:
        return error
    return clip if fmt == "raw" else [encode_jpeg(frame, quality) for frame in clip]


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
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


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
                    header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shapes[name[: -len(".npy")]] = header(member)[0]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        log.info("%s: unreadable (%s); decoding its videos again", path, error)
        return False
    frames = ("frames",) if fmt == "raw" else ("blob", "offsets")
    expected = (rows, count) if fmt == "raw" else (rows, count + 1)
    if (
        any(k not in shapes for k in frames + ("unreadable", "errors"))
        or shapes["errors"] != shapes["unreadable"]
        or shapes[frames[-1]][:2] != expected
    ):
        log.info("%s: not a shard of this store; decoding its videos again", path)
        return False
    return True


@dataclasses.dataclass(frozen=True)
class FrameSettings:
    """How each video becomes a store row: ``views`` clips of ``num_frames`` frames ``rate`` apart (0: spread over
    the video) picked by ``sampling``, resized and centre-cropped to ``size``, kept as ``format`` (raw, or jpeg at
    ``quality``). The workflow's: :meth:`openvclip.plan.JobArgs.frame_settings`, from the config's data sets. The
    defaults are the schema's for a real data set's ``frames:`` (the evaluation protocol's JPEG views; a test holds
    them equal); the demo's synthetic sets are stored raw, one view spread over the clip, as the workflow says."""

    num_frames: int
    size: int
    views: int = 3
    rate: int = 16
    format: str = "jpeg"
    quality: int = 90
    sampling: str = "spread"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UserError(f"frame store format must be one of {FORMATS}, got {self.format!r}")
        if self.sampling not in SAMPLINGS:
            raise UserError(f"frame sampling must be one of {SAMPLINGS}, got {self.sampling!r}")

    @classmethod
    def from_dict(cls, values: Mapping) -> "FrameSettings":
        """From a settings mapping (the ``openvclip frames --settings`` JSON), unknown keys and wrong types
        refused by name."""
        missing = {"num_frames", "size"} - set(values)
        if missing:
            raise UserError(f"frame settings lack key(s) {sorted(missing)}; given: {dict(values)}")
        return from_mapping(cls, values, "frames")


def store_settings(paths: Sequence[Path], frames: FrameSettings, skip: Sequence[int] = ()) -> dict:
    """What a store's shards depend on (``<out>.partial/settings.json``): shards written under other settings
    are never reused."""
    skipped = sorted(set(int(i) for i in skip))
    return {
        "videos": [str(p) for p in paths],
        "skip": skipped,
        **dataclasses.asdict(frames),
        "shard_videos": shard_size(len(paths) - len(skipped)),
    }


def write_store(
    paths: Sequence[Path],
    out: Path,
    frames: FrameSettings,
    *,
    progress: bool = True,
    threads: int = 1,
    skip: Sequence[int] = (),
    part: Optional[Tuple[int, int]] = None,
) -> dict:
    """Decode every video of ``paths`` into the store folder ``out``, ``threads`` videos at a time. Rows in
    ``skip`` are not decoded (videos only training reads, which decodes its own clips): they hold no frames, are
    listed as ``skipped`` and are not valid.

    Videos are decoded in shards saved under ``<out>.partial/`` as they finish; the store is assembled from them
    beside ``out`` and renamed when complete. A run that was killed leaves its finished shards, and the next run
    with the same videos and settings checks and reuses them instead of decoding the set again.

    ``part=(k, n)``: decode only the ``k``-th of ``n`` contiguous ranges of those shards and stop there, without
    assembling (one shard job of :mod:`.shards`; the unsharded call that follows them finds every shard done and
    only assembles). Returns what the part decoded."""
    fmt, quality = frames.format, frames.quality
    out = Path(out)
    count = frames.views * frames.num_frames
    shape = (len(paths), count, frames.size, frames.size, 3)
    settings = store_settings(paths, frames, skip)
    skipped, per_shard = settings["skip"], settings["shard_videos"]
    shards = [range(start, min(start + per_shard, len(paths))) for start in range(0, len(paths), per_shard)]
    partial = out.with_name(out.name + ".partial")
    with _locked(out.with_name(out.name + ".lock")):  # part jobs of one store may start together
        if partial.is_dir() and not _same_settings(partial / "settings.json", settings):
            shutil.rmtree(partial)  # an earlier run of other videos or settings: nothing of it applies
        partial.mkdir(parents=True, exist_ok=True)
        write_json(partial / "settings.json", settings)
    shard_file = [partial / f"shard-{k:05d}.npz" for k in range(len(shards))]
    mine = range(len(shards)) if part is None else part_range(len(shards), *part)
    done = {k for k in mine if _shard_is_complete(shard_file[k], len(shards[k]), count, fmt)}
    if done:
        log.info(
            "%s: reusing %d of %d shards an earlier run decoded (%d of %d videos)",
            out.name,
            len(done),
            len(mine),
            sum(len(shards[k]) for k in done),
            sum(len(shards[k]) for k in mine),
        )
    _decode_shards(
        paths,
        [(shards[k], shard_file[k]) for k in mine if k not in done],
        shape[1:],
        set(skipped),
        fmt,
        quality,
        progress,
        threads,
        out.name,
        functools.partial(
            _decode_one,
            num_frames=frames.num_frames,
            rate=frames.rate,
            views=frames.views,
            size=frames.size,
            fmt=fmt,
            quality=quality,
            sampling=frames.sampling,
        ),
    )
    if part is not None:
        return {
            "part": list(part),
            "store_shards": [mine.start, mine.stop],
            "videos": sum(len(shards[k]) for k in mine),
            "reused": sum(len(shards[k]) for k in done),
        }
    meta = _assemble(
        out,
        shards,
        shard_file,
        shape,
        fmt,
        {
            "num_frames": frames.num_frames,
            "views": frames.views,
            "rate": frames.rate,
            "sampling": frames.sampling,
            "size": frames.size,
            "quality": quality if fmt == "jpeg" else None,
            "skipped": skipped,
            "videos": settings["videos"],
        },
    )
    shutil.rmtree(partial)
    out.with_name(out.name + ".lock").unlink(missing_ok=True)  # every part job ran before this one
    return meta


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on the file ``path`` (created if needed) while the block runs."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _same_settings(path: Path, settings: dict) -> bool:
    try:
        return json.loads(path.read_text()) == settings
    except (OSError, ValueError):
        return False


def _decode_shards(
    paths, pending, frame_shape, skipped: set, fmt: str, quality: int, progress: bool, threads: int, name: str, decode
) -> None:
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
                    clip = black if fmt == "raw" else [encode_jpeg(frame, quality) for frame in black]
                clips.append(clip)
            _save_shard(
                file,
                {
                    **_pack(clips, frame_shape, fmt),
                    "unreadable": np.asarray(unreadable, np.int64),
                    "errors": np.asarray(errors, dtype=str),
                },
            )


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
    unreadable: List[int] = []
    errors: List[str] = []
    with atomic_path(out) as tmp:
        tmp.mkdir()
        # One shard in memory at a time (a K400 val store is several GB); np.load reads a member when asked.
        if fmt == "raw":
            frames = np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=shape)
        else:
            ends = []
            for file in files:
                with np.load(file, allow_pickle=False) as shard:
                    ends.append(int(shard["offsets"].max(initial=0)))  # the shard's blob length
            # Saved as .npy so it memory-maps as a flat byte array without reading it.
            frames = np.lib.format.open_memmap(tmp / "frames.bin.npy", mode="w+", dtype=np.uint8, shape=(sum(ends),))
            offsets = np.zeros((shape[0], shape[1] + 1), np.int64)
        position = 0
        for rows, file in zip(shards, files):
            with np.load(file, allow_pickle=False) as shard:
                if fmt == "raw":
                    frames[rows.start : rows.stop] = shard["frames"]
                else:
                    blob = shard["blob"]
                    frames[position : position + len(blob)] = blob
                    offsets[rows.start : rows.stop] = shard["offsets"] + position
                    position += len(blob)
                unreadable += [rows.start + int(r) for r in shard["unreadable"]]
                errors += [str(e) for e in shard["errors"]]
        frames.flush()
        del frames
        if fmt == "jpeg":
            np.save(tmp / "offsets.npy", offsets)
        meta = {"format": fmt, "shape": list(shape), **settings, "unreadable": unreadable, "errors": errors}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if out.exists():  # a folder is not replaced by a rename: the old store goes first
            shutil.rmtree(out)
    return meta
