"""Frames to the size a store keeps: the short side resized, then a centre crop to a square."""

from __future__ import annotations

import math

import numpy as np


def resize_crop(frames: np.ndarray, size: int, released: bool = False) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 -> ``(F, size, size, 3)``: short side to ``size``, centre crop.

    - default: torchvision's ``resize`` (antialiased bilinear, the long side floored) and ``center_crop`` (offsets
      rounded half to even), in float so the result is rounded once.
    - ``released``: as the released test transform does it (bilinear without antialiasing, the long side floored,
      crop offsets rounded up: PySlowFast's ``transform.py``), kept by hand to match its arithmetic exactly.

    Done in torch rather than by decord's resizing, which fails on some frame sizes (buffer size mismatch).
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = _released_resize_crop(x, size) if released else _resize_crop(x, size)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _resize_crop(x, size: int):
    import torchvision.transforms.v2.functional as TF

    x = TF.resize(x, [size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(x, [size, size])


def _released_resize_crop(x, size: int):
    import torch.nn.functional as F

    height, width = x.shape[-2:]
    if min(height, width) == size:
        new_h, new_w = height, width
    elif width < height:
        new_h, new_w = int(math.floor(height / width * size)), size
    else:
        new_h, new_w = size, int(math.floor(width / height * size))
    if (new_h, new_w) != (height, width):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=False, align_corners=False)
    top, left = math.ceil((new_h - size) / 2), math.ceil((new_w - size) / 2)
    return x[:, :, top : top + size, left : left + size]
