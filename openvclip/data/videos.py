"""Video files: write them losslessly (PyAV), open them and decode their frames (decord), and tell a video's
own faults (:class:`Unreadable`) from our bugs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_path
from .sampling import TARGET_FPS, view_indices
from .transform import resize_crop


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

    # An MP4 whatever the name's suffix, as PyAV would otherwise choose the container from the temporary name.
    with atomic_path(path, keep_suffix=True) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": "0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())


def read_frames(path: Path, num_frames: int, size: int) -> np.ndarray:
    """Decode ``num_frames`` evenly spread frames with decord, resized to ``size`` x ``size``: (T, H, W, 3) uint8."""
    import decord

    reader = decord.VideoReader(str(path), width=size, height=size)
    return reader.get_batch(view_indices(len(reader), num_frames, 0, 1)[0].tolist()).asnumpy()


def decode_views(path: Path, num_frames: int, rate: int, views: int, size: int, sampling: str = "spread") -> np.ndarray:
    """``(views * num_frames, size, size, 3)`` uint8 frames of the protocol's temporal views, resized and
    centre-cropped (:func:`~openvclip.data.transform.resize_crop`), or :class:`Unreadable`."""
    reader = open_video(path)
    fps = reader.get_avg_fps() if sampling != "spread" else TARGET_FPS
    indices = view_indices(len(reader), num_frames, rate, views, sampling, fps).reshape(-1)
    unique, inverse = np.unique(indices, return_inverse=True)  # overlapping views decode each frame once
    try:
        frames = reader.get_batch(unique.tolist()).asnumpy()
    except decoder_errors() as error:
        raise Unreadable(described(error)) from error
    return resize_crop(frames, size, released=sampling != "spread")[inverse]
