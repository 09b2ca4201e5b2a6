"""Frame-store datasets: normalisation, flips, consistency checks."""

import numpy as np
import pytest
import torch

from openvclip.data.loader import CLIP_MEAN, CLIP_STD, FrameClips, normalise


def store(n=3, frames=4):
    return np.random.default_rng(0).integers(0, 256, size=(n, frames, 8, 8, 3), dtype=np.uint8)


def test_normalise_layout_and_values():
    frames = torch.from_numpy(store()[0])
    out = normalise(frames)
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.float32
    expected = (frames[1, 2, 5, 0].item() / 255 - CLIP_MEAN[0]) / CLIP_STD[0]
    assert out[1, 0, 2, 5].item() == pytest.approx(expected, abs=1e-6)


def test_flips_are_mirror_images_and_none_is_identity():
    data = store()
    plain = FrameClips(data, [0, 1, 2], [1])
    base, label = plain[0]
    assert label == 1
    mirrors = {"none": [base], "horizontal": [base, base.flip(-1)],
               "both": [base, base.flip(-1), base.flip(-2), base.flip([-1, -2])]}
    for mode, allowed in mirrors.items():
        seen = set()
        clips = FrameClips(data, [0, 1, 2], [1], flips=mode)
        for epoch in range(40):
            clips.set_epoch(epoch, seed=3)
            clip, _ = clips[0]
            matches = [i for i, m in enumerate(allowed) if torch.equal(clip, m)]
            assert matches, mode
            seen.add(matches[0])
            # Draws depend on (seed, epoch, sample) only: the same again, whatever the global RNG did meanwhile.
            torch.rand(5)
            assert torch.equal(clips[0][0], clip)
        assert seen == set(range(len(allowed))), mode  # every mirror happens


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="flips must be one of"):
        FrameClips(store(), [0, 1, 2], [0], flips="vertical")
    with pytest.raises(ValueError, match="frame store holds 3 videos but the manifest lists 2"):
        FrameClips(store(), [0, 1], [0])
