"""Normalisation of frame-store clips."""

import numpy as np
import pytest
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from openvclip.data.normalisation import normalise


def store(n=3, frames=4):
    return np.random.default_rng(0).integers(0, 256, size=(n, frames, 8, 8, 3), dtype=np.uint8)


def test_normalise_layout_and_values():
    frames = torch.from_numpy(store()[0])
    out = normalise(frames)
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.float32
    expected = (frames[1, 2, 5, 0].item() / 255 - OPENAI_DATASET_MEAN[0]) / OPENAI_DATASET_STD[0]
    assert out[1, 0, 2, 5].item() == pytest.approx(expected, abs=1e-6)
