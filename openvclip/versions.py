"""The versions recorded beside every result, trained model and pretraining metric."""

from __future__ import annotations

import platform
from typing import Dict


def versions() -> Dict[str, str]:
    import open_clip
    import torch

    from . import __version__

    return {
        "openvclip": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    }
