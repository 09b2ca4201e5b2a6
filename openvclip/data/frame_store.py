"""Reading a frame store: the folder of every video's frames decoded once (:mod:`.frame_writer`), which the
evaluation loaders read quickly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import MissingInput
from .jpeg import decode_jpeg

FORMATS = ("raw", "jpeg")


class FrameStore:
    """Read side of a store folder: ``store[i]`` -> ``(F, H, W, 3)`` uint8; slices and index arrays stack.

    A store is a folder ``<name>/`` with ``meta.json`` and either

    - ``frames.npy``: one ``(N, F, H, W, 3)`` uint8 array, memory-mapped (``format: raw``; the demo's 32 px
      videos: 8 frames cost 24 KiB a video, 24 MiB per 1,000 videos), or
    - ``frames.bin.npy`` + ``offsets.npy``: every frame JPEG-encoded back to back (a flat, memory-mapped byte
      array), with ``(N, F + 1)`` byte offsets (``format: jpeg``, for real videos: raw, the 3 views x 8 frames of
      the evaluation protocol at 224 x 224 would cost 3.6 GB per 1,000 videos; JPEG at quality 90 takes a
      content-dependent fraction of that).

    ``F`` frames per video are ``views`` temporal clips of ``num_frames`` frames ``rate`` frames apart (the
    protocol's 3 x 8 at rate 16 for evaluation), resized so the short side is ``size`` and centre-cropped square.
    Videos that could not be decoded are listed in ``meta.json`` (``unreadable``) and kept as black frames, so
    rows stay aligned with the manifest; loaders skip them (:meth:`valid`).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise MissingInput(
                f"frame store {self.path} does not exist or is incomplete (run the frame extraction rule first)"
            )
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
        return np.stack([decode_jpeg(self._blob[bounds[f] : bounds[f + 1]]) for f in range(len(bounds) - 1)])

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


def open_store(path: Path) -> FrameStore:
    return FrameStore(path)
