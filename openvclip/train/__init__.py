"""Training: the interpolated objective, weight averaging, the training loop (weights files and weight-space
interpolation: :mod:`openvclip.weights`)."""

from .checkpoint import latest_checkpoint
from .config import TrainConfig
from .loop import fit, weight_decay_split
from .objective import GRADIENTS, interpolated_backward, interpolated_loss, interpolated_params
from .schedule import warmup_cosine
from .swa import WeightAverage

__all__ = [
    "GRADIENTS",
    "TrainConfig",
    "WeightAverage",
    "fit",
    "interpolated_backward",
    "interpolated_loss",
    "interpolated_params",
    "latest_checkpoint",
    "warmup_cosine",
    "weight_decay_split",
]
