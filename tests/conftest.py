"""Shared fixtures: tiny open_clip models built from a config dict (no downloads)."""

import copy

import pytest
import torch

from openvclip.models import build_clip

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
