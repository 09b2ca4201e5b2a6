"""JPEG encoding of single frames, as a ``jpeg`` frame store keeps them (PIL)."""

from __future__ import annotations

import io

import numpy as np


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode_jpeg(data: np.ndarray) -> np.ndarray:
    """A frame's bytes (a slice of a store's byte array) -> ``(H, W, 3)`` uint8 RGB."""
    from PIL import Image

    with Image.open(io.BytesIO(data.tobytes())) as image:
        return np.asarray(image.convert("RGB"))
