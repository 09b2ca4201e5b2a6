"""Training videos: each video of a training split re-encoded once for fast random access, and indexed.

The released run trained on a "compress" copy of Kinetics-400 whose short side was reduced to 256; the CVDF
originals are up to 1080p and decoding them on the fly would starve the GPUs. ``reencode_videos`` writes, for every
row of the manifest's ``train`` split, an H.264 copy with the short side at most ``short_side`` (never enlarged)
and a keyframe every ``keyframe_interval`` frames (a clip's first frame is then at most that many decodes away),
``threads`` videos at a time. Each copy is written under a temporary name and renamed when complete, so a killed
job redoes only the videos it had not finished. ``short_side: 0`` keeps the videos as they are (the demo's
lossless 32-pixel clips: hard-linked or copied, and checked), so training always reads one self-contained
folder that DVC can version.

The index (CSV, one row per training video) gives the file training decodes, its frame count, fps and size, or
why it is unreadable: missing on disk, or a decoder error. Training skips unreadable videos and counts them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from tqdm.auto import tqdm

from ..errors import UserError
from ..io import atomic_path, read_csv, write_csv
from .manifest import read_manifest
from .parts import part as part_range
from .sets import in_split
from .videos import Unreadable, decoder_errors, described, open_video

INDEX_COLUMNS = ("row", "source", "path", "frames", "fps", "height", "width", "status", "error")


@dataclasses.dataclass(frozen=True)
class Reencoding:
    """The ``train_videos:`` config section."""

    short_side: int = 256  # 0: keep the videos as they are
    crf: int = 23  # x264 quality (lower: better, larger)
    preset: str = "veryfast"
    keyframe_interval: int = 16  # frames between keyframes

    @classmethod
    def from_dict(cls, values: Optional[Mapping]) -> "Reencoding":
        from ..config import from_mapping

        return from_mapping(cls, values, "train_videos")


def probe(path: Path) -> Dict[str, object]:
    """Frame count, fps and size of a video that decodes to its last frame (decord)."""
    reader = open_video(path)
    frames = len(reader)
    try:
        height, width = reader[frames - 1].shape[:2]  # a truncated file fails here
    except decoder_errors() as error:
        raise Unreadable(described(error)) from error
    fps = reader.get_avg_fps()
    if not fps > 0:
        raise Unreadable(f"no frame rate ({fps})")
    return {"frames": frames, "fps": round(float(fps), 4), "height": height, "width": width}


def _decoded(source: Path):
    """The source's video stream and its frames; a decoder error (the file's fault) becomes Unreadable, while
    errors of our own writing side propagate with their traceback."""
    import av

    try:
        reader = av.open(str(source))
    except av.error.FFmpegError as error:
        raise Unreadable(described(error)) from error
    with reader:
        if not reader.streams.video:
            raise Unreadable("no video stream")
        video = reader.streams.video[0]
        video.thread_count = 1
        frames = reader.decode(video)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                raise Unreadable(described(error)) from error
            yield video, frame


def reencode(source: Path, out: Path, settings: Reencoding) -> None:
    """Write ``out``: ``source`` as H.264 (yuv420p) with the short side at most ``settings.short_side`` (even
    sides), the source's frame rate, a keyframe every ``settings.keyframe_interval`` frames, no audio."""
    import av

    with atomic_path(out, keep_suffix=True) as tmp:
        writer = stream = None
        count = 0
        try:
            for video, frame in _decoded(source):
                if writer is None:  # sized from the first frame: stream headers may lie
                    shrink = min(1.0, settings.short_side / min(frame.height, frame.width))
                    new_h, new_w = (max(2, 2 * round(side * shrink / 2)) for side in (frame.height, frame.width))
                    rate = video.average_rate or video.guessed_rate or 30
                    writer = av.open(str(tmp), "w", format="mp4")
                    stream = writer.add_stream("libx264", rate=rate)
                    time_base = Fraction(1) / Fraction(rate)  # one tick a frame: a constant frame rate
                    stream.width, stream.height, stream.pix_fmt = new_w, new_h, "yuv420p"
                    stream.thread_count = 1
                    stream.options = {
                        "crf": str(settings.crf),
                        "preset": settings.preset,
                        "x264-params": f"keyint={settings.keyframe_interval}:"
                        f"min-keyint={settings.keyframe_interval}:scenecut=0",
                    }
                frame = frame.reformat(
                    width=stream.width, height=stream.height, format="yuv420p", interpolation="BILINEAR"
                )
                frame.pts, frame.time_base = count, time_base
                writer.mux(stream.encode(frame))
                count += 1
            if writer is None:
                raise Unreadable("no frames")
            writer.mux(stream.encode())
        finally:
            if writer is not None:
                writer.close()


def copy_as_is(source: Path, target: Path) -> None:
    """A hard link when the file system allows one, else a copy; complete or absent."""
    import shutil

    with atomic_path(target, keep_suffix=True) as tmp:
        tmp.unlink(missing_ok=True)  # a killed run's leftover: os.link does not overwrite
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def copy_name(source: Path) -> str:
    """Where a source's copy goes inside the videos folder: sharded by a hash of its path (no two sources
    collide, and 240k files do not share one folder)."""
    digest = hashlib.sha1(str(source).encode()).hexdigest()
    return f"{digest[:2]}/{Path(source).stem}-{digest[:10]}.mp4"


def _one(job) -> Dict[str, object]:
    row, source, videos, settings = job
    source = Path(source)
    entry = {
        "row": row,
        "source": str(source),
        "path": "",
        "frames": "",
        "fps": "",
        "height": "",
        "width": "",
        "status": "ok",
        "error": "",
    }
    target = Path(videos) / copy_name(source)
    entry["kept"] = target.is_file()  # done by an earlier (killed) run: kept, only checked
    try:
        if not entry["kept"]:
            if not source.is_file():
                raise Unreadable("missing on disk")
            if settings.short_side <= 0:
                copy_as_is(source, target)
            else:
                reencode(source, target, settings)
        entry.update(probe(target), path=str(target))
    except Unreadable as error:
        entry.update(status="unreadable", error=str(error))
    return entry


def _train_rows(manifest: Path, rows: Optional[List[Dict[str, str]]] = None) -> List[int]:
    """The manifest rows of the training split, in order (``rows``: the manifest, already read)."""
    rows = read_manifest(manifest) if rows is None else rows
    train = [i for i, r in enumerate(rows) if in_split(r["split"], "train")]
    if not train:
        raise UserError(f"manifest {manifest} has no video in a 'train' split")
    return train


def reencode_videos(
    manifest: Path,
    videos: Path,
    index: Path,
    settings: Reencoding,
    threads: int = 1,
    progress: bool = True,
    part: Optional[Tuple[int, int]] = None,
) -> dict:
    """Re-encode (or check) every ``train``-split video of ``manifest`` into ``videos``; write ``index``.

    ``part=(k, n)``: only the ``k``-th of ``n`` contiguous ranges of those videos (one shard job of
    :mod:`.shards`), indexed in a part that :func:`merge_parts` joins with the others."""
    rows = read_manifest(manifest)
    train = _train_rows(manifest, rows)
    if part is not None:
        train = [train[i] for i in part_range(len(train), *part)]
    jobs = [(i, rows[i]["path"], str(videos), settings) for i in train]
    entries: List[Dict[str, object]] = []
    bar = tqdm(total=len(jobs), desc=f"training videos of {Path(manifest).stem}", unit="video", disable=not progress)
    if threads <= 1:
        for job in jobs:
            entries.append(_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(threads) as pool:
            for entry in pool.map(_one, jobs, chunksize=4):
                entries.append(entry)
                bar.update()
    bar.close()
    return {**_write_index(index, entries), "kept": sum(bool(e["kept"]) for e in entries)}


def _write_index(index: Path, entries: Sequence[Mapping]) -> dict:
    """Write the index; returns its counts for the log: videos, unreadable ones and a few of their errors."""
    write_csv(index, entries, INDEX_COLUMNS)
    lost = [e for e in entries if e["status"] != "ok"]
    return {
        "videos": len(entries),
        "unreadable": len(lost),
        "examples": [f"{e['source']}: {e['error']}" for e in lost[:10]],
    }


def merge_parts(manifest: Path, parts: Sequence[Path], index: Path) -> dict:
    """Join the part indexes of the shard jobs (in part order) into ``index``, the file the unsharded job
    writes; refuses parts that do not cover the manifest's training videos exactly once, in order."""
    entries = [e for p in parts for e in read_csv(p, f"part index {p} does not exist (run its shard job)")]
    expected = _train_rows(manifest)
    got = [int(e["row"]) for e in entries]
    if got != expected:
        raise UserError(
            f"the {len(parts)} part indexes hold {len(got)} rows, not the {len(expected)} training videos of "
            f"{manifest} in order: they were made from another manifest or shard count; rerun the shard jobs"
        )
    return {**_write_index(index, entries), "parts": len(parts)}


def read_index(index: Path) -> List[Dict[str, str]]:
    return read_csv(index, f"training-video index {index} does not exist (run the train_videos rule first)")
