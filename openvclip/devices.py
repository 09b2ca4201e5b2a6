"""Where a job runs: this process's place among the processes ``torchrun`` started (one when it did not), the
process group it joins, and its device. Training and evaluation both start here."""

from __future__ import annotations

import dataclasses
import os
from typing import Tuple

import torch
import torch.distributed as dist

from .errors import UserError


@dataclasses.dataclass(frozen=True)
class Processes:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Only the main process writes checkpoints, logs and weights."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def from_env() -> Processes:
    """The layout ``torchrun`` announces through ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (one process if unset)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise UserError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers (set by torchrun): {error}") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK={rank} must lie in [0, WORLD_SIZE={world})")
    return Processes(rank, world, local_rank)


def setup(device: str = "auto") -> Tuple[Processes, torch.device]:
    """Join the process group when started by torchrun, and pick this process's device.

    ``device``: ``auto`` (this process's GPU when CUDA is there, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    """
    procs = from_env()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", procs.local_rank if procs.distributed else torch.cuda.current_device())
        torch.cuda.set_device(device)
    if procs.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return procs, device


def teardown(procs: Processes) -> None:
    """Leave the process group (torchrun's processes end cleanly, without torch's warning at exit)."""
    if procs.distributed and dist.is_initialized():
        dist.destroy_process_group()


def current() -> Processes:
    """The process layout of the initialised process group (one process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return Processes()
