"""Stochastic weight averaging over named weights, with state that goes into checkpoints."""

from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
from torch.optim.swa_utils import get_swa_multi_avg_fn


class WeightAverage:
    """Running mean of named weights (the trainable ones), updated at chosen epochs.

    torch's ``AveragedModel`` deep-copies a whole module; here only the trained tensors are averaged, keyed by
    their open_clip names so the average interpolates with theta0 like any state dict. The update itself is
    torch's SWA averaging function.
    """

    def __init__(self, start_epoch: int = 1, every: int = 1):
        if start_epoch < 0 or every < 1:
            raise ValueError(f"SWA needs start_epoch >= 0 and every >= 1, got start_epoch={start_epoch}, every={every}")
        self.start_epoch = start_epoch
        self.every = every
        self.average: Dict[str, torch.Tensor] = {}
        self.num_averaged = torch.zeros((), dtype=torch.long)
        self.epochs: list = []
        self._update = get_swa_multi_avg_fn()

    def due(self, epoch: int) -> bool:
        """Whether the weights after ``epoch`` (1-based) enter the average."""
        return epoch >= self.start_epoch and (epoch - self.start_epoch) % self.every == 0

    @torch.no_grad()
    def update(self, weights: Mapping[str, torch.Tensor], epoch: Optional[int] = None) -> None:
        if not self.average:
            self.average = {k: v.detach().float().clone() for k, v in weights.items()}
        else:
            if set(weights) != set(self.average):
                raise ValueError("SWA update got weights with other names than the running average")
            keys = list(self.average)
            self._update(
                [self.average[k] for k in keys], [weights[k].detach().float() for k in keys], self.num_averaged
            )
        self.num_averaged += 1
        if epoch is not None:
            self.epochs.append(int(epoch))

    def averaged(self, like: Optional[Mapping[str, torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """The average, cast to the dtypes of ``like`` if given."""
        if not self.average:
            raise RuntimeError("SWA has averaged no weights yet (check swa.start_epoch against train.epochs)")
        return {k: v.to(like[k].dtype) if like is not None else v.clone() for k, v in self.average.items()}

    def state_dict(self) -> dict:
        return {
            "average": self.average,
            "num_averaged": self.num_averaged,
            "epochs": list(self.epochs),
            "start_epoch": self.start_epoch,
            "every": self.every,
        }

    def load_state_dict(self, state: dict) -> None:
        self.average = {k: v.clone() for k, v in state["average"].items()}
        self.num_averaged = state["num_averaged"].clone()
        self.epochs = list(state["epochs"])
        self.start_epoch, self.every = state["start_epoch"], state["every"]
