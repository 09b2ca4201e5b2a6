"""Video files: write them losslessly (PyAV) and read frames back (decord)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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
