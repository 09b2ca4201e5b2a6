"""Video files: write them losslessly (PyAV), open them for reading (decord), and tell a video's own faults
(:class:`Unreadable`) from our bugs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class Unreadable(Exception):
    """The video's own fault: missing, no video stream, no frames, or its decoder failed on it. Only this counts a
    video as lost; any other error is a bug and stops the job with its traceback."""


def decoder_errors() -> tuple:
    """The exception types of the decoders (PyAV's, decord's): raised for a file they cannot decode."""
    import av
    import decord

    return (av.error.FFmpegError, decord.DECORDError)


def described(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200] if text else ''}"


def open_video(path: Path):
    """A decord reader (one thread) of a video with at least one frame, or :class:`Unreadable`."""
    import decord

    path = Path(path)
    if not path.is_file():
        raise Unreadable("missing on disk")
    try:
        reader = decord.VideoReader(str(path), num_threads=1)
    except RuntimeError as error:  # decord's "Error reading <file>...": it found no decodable stream
        if not str(error).startswith("Error reading"):
            raise
        raise Unreadable("not a video decord can open") from error
    except decoder_errors() as error:
        raise Unreadable(described(error)) from error
    if len(reader) < 1:
        raise Unreadable("no frames")
    return reader


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> None:
    """Write ``(T, H, W, 3)`` uint8 RGB frames losslessly (H.264 RGB, crf 0: decodes back bit-exactly)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": "0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)


def read_frames(path: Path, num_frames: int, size: int) -> np.ndarray:
    """Decode ``num_frames`` evenly spread frames with decord, resized to ``size`` x ``size``: (T, H, W, 3) uint8."""
    import decord

    from .frames import view_indices

    reader = decord.VideoReader(str(path), width=size, height=size)
    return reader.get_batch(view_indices(len(reader), num_frames, 0, 1)[0].tolist()).asnumpy()
