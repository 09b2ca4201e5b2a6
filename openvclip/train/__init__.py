"""Training: the interpolated objective, weight averaging, weight-space interpolation, the training loop."""

from .checkpoint import latest_checkpoint
from .config import TrainConfig
from .loop import fit, weight_decay_split
from .objective import (
    GRADIENTS,
    check_compatible,
    interpolate,
    interpolated_backward,
    interpolated_loss,
    interpolated_params,
)
from .schedule import warmup_cosine
from .swa import WeightAverage
from .weights import load_weights, save_weights

__all__ = [
    "GRADIENTS",
    "TrainConfig",
    "WeightAverage",
    "check_compatible",
    "fit",
    "interpolate",
    "interpolated_backward",
    "interpolated_loss",
    "interpolated_params",
    "latest_checkpoint",
    "load_weights",
    "save_weights",
    "warmup_cosine",
    "weight_decay_split",
]
