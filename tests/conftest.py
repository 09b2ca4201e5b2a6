"""The tests' shared fixtures and builders, in-process (commands run as a user types them: tests/shell.py): tiny
open_clip models built from a config dict (no downloads), a seeded video set and training settings small enough
for a step to take milliseconds, and the released code's file formats and frame choices written out as
references. Test files import from here and tests/shell.py, never from one another."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from openvclip.models import build_clip
from openvclip.train import TrainConfig

torch.set_num_threads(2)


def tiny_config(head_width: int = 16, width: int = 64, layers: int = 2, image_size: int = 32, patch: int = 8):
    return {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": image_size,
            "patch_size": patch,
            "width": width,
            "layers": layers,
            "head_width": head_width,
        },
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }


def make_clip(seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return build_clip({"config": tiny_config(**kwargs)})


@pytest.fixture
def clip_pair():
    """An image CLIP and an identical deep copy (the copy gets patched by the tests)."""
    model = make_clip()
    return model, copy.deepcopy(model)


@pytest.fixture
def http_server():
    """A started loopback :class:`tests.http_server.FileServer` (in-memory files, ranges, scripted failures)."""
    from tests.http_server import FileServer

    with FileServer() as server:
        yield server


# -- A training problem small enough for a step to take milliseconds ------------------------------------------

FRAMES = 4


class MovingSquares(Dataset):
    """A bright square moving sideways (0), up and down (1) or standing still (2); seeded per index."""

    def __init__(self, size=24, seed=0):
        self.size, self.seed = size, seed

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(self.seed * 10_000 + index)
        label = index % 3
        video = 0.1 * torch.randn(FRAMES, 3, 32, 32, generator=generator)
        x, y = (int(v) for v in torch.randint(4, 20, (2,), generator=generator))
        for t in range(FRAMES):
            dx, dy = [(3 * t, 0), (0, 3 * t), (0, 0)][label]
            video[t, :, y + dy : y + dy + 8, x + dx : x + dx + 8] += 2.0
        return video, label


def classifier_for(model):
    """A fixed classifier for MovingSquares' 3 classes (seeded; the same for every model of the tiny size)."""
    return F.normalize(torch.randn(32, 3, generator=torch.Generator().manual_seed(7)), dim=0)


def train_config(**overrides):
    """Open-VCLIP's training settings at the tiny problem's size, with ``overrides``."""
    values = dict(
        objective="openvclip",
        epochs=3,
        batch_size=8,
        num_frames=FRAMES,
        lr=2e-3,
        warmup_epochs=1.0,
        warmup_start_lr=1e-5,
        end_lr=1e-5,
        swa_start_epoch=1,
        seed=3,
    )
    values.update(overrides)
    return TrainConfig.from_dict(values)


# -- The released code's formats and choices, as references -------------------------------------------------


def released_checkpoint(path, model, **extra):
    """What PySlowFast's save_checkpoint writes for Open-VCLIP: the wrapped CLIP's state under `model.`."""
    state = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            "epoch": 22,
            "model_state": state,
            "optimizer_state": {"state": {}, "param_groups": []},
            "cfg": "TRAIN:\n  BATCH_SIZE: 64\n",
            **extra,
        },
        path,
    )


def released_pyav_clip(frames_length, fps, clip_idx, num_clips=3, sampling_rate=16, num_frames=8, target_fps=30):
    """Step by step as the released pyav path: the clip to decode (no offset sampling on this path), the frames
    whose index lies in it plus the one after (its buffer), then temporal_sampling over the decoded frames."""
    import math

    clip_size = max(1.0, math.ceil(sampling_rate * (num_frames - 1) / target_fps * fps))
    delta = max(frames_length - clip_size, 0)
    start_idx = delta * clip_idx / num_clips
    end_idx = start_idx + clip_size - 1
    decoded = [i for i in range(frames_length) if start_idx <= i <= end_idx]
    if decoded[-1] + 1 < frames_length:
        decoded.append(decoded[-1] + 1)
    sample_size = max(1.0, sampling_rate * num_frames / target_fps * fps)
    start, end = 0, sample_size - 1  # get_start_end_idx over the decoded frames, one clip: from the first
    index = torch.clamp(torch.linspace(start, end, num_frames), 0, len(decoded) - 1).long()
    return [decoded[i] for i in index.tolist()]


def released_torchvision_clip(frames_length, fps, clip_idx, num_clips=3, sampling_rate=16, num_frames=8, target_fps=30):
    """The released torchvision path (HMDB51): offset sampling, and the whole video when it is short."""
    import math

    clip_size = max(1.0, sampling_rate * num_frames / target_fps * fps)
    if frames_length > sampling_rate * num_frames:
        delta = max(frames_length - clip_size, 0)
        start_idx = clip_idx * math.floor(delta / (num_clips - 1))
        end_idx = start_idx + clip_size - 1
        decoded = [i for i in range(frames_length) if start_idx <= i <= end_idx]
    else:
        decoded = list(range(frames_length))
    index = torch.clamp(torch.linspace(0, clip_size - 1, num_frames), 0, len(decoded) - 1).long()
    return [decoded[i] for i in index.tolist()]
