"""Video files: write them (PyAV) and decode them (decord) into a compact frame store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm


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


def sample_indices(length: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread evenly over a video of ``length`` frames (the centre of each segment)."""
    if length < 1:
        raise ValueError("video has no frames")
    return np.minimum(((np.arange(num_frames) + 0.5) * length / num_frames).astype(int), length - 1)


def read_frames(path: Path, num_frames: int, size: int) -> np.ndarray:
    """Decode ``num_frames`` evenly spaced frames with decord, resized to ``size`` x ``size``: (T, H, W, 3) uint8."""
    import decord

    reader = decord.VideoReader(str(path), width=size, height=size)
    return reader.get_batch(sample_indices(len(reader), num_frames).tolist()).asnumpy()


def extract_frames(paths: Sequence[Path], out: Path, num_frames: int, size: int, progress: bool = True) -> Path:
    """Decode every video once into one ``(N, T, H, W, 3)`` uint8 ``.npy`` store (memory-mappable).

    Disk cost: N x T x H x W x 3 bytes; at 8 frames of 32 x 32 that is 24 KiB a video, 24 MiB per 1,000 videos.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npy")
    store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), num_frames, size, size, 3))
    for i, path in enumerate(tqdm(paths, desc=f"decode {out.stem}", disable=not progress)):
        frames = read_frames(path, num_frames, size)
        if frames.shape != store.shape[1:]:
            raise ValueError(f"{path}: decoded frames have shape {frames.shape}, expected {store.shape[1:]}")
        store[i] = frames
    store.flush()
    del store
    os.replace(tmp, out)
    return out
