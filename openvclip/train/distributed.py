"""Data-parallel training over processes started by ``torchrun`` (one per GPU; gloo on CPU for tests).

Every process holds the whole model, sees its shard of each global batch and computes the gradient of its share
of the global mean loss; one all-reduce (sum) per step then gives every process the gradient a single process
would compute on the whole batch, so all processes take the same optimizer step and stay identical.

Why not the ``DistributedDataParallel`` wrapper: the interpolated objective runs the vision tower twice per step,
the second time functionally with ``theta_alpha = alpha*theta0 + (1-alpha)*theta`` (``torch.func.functional_call``,
no module state swapped). DDP's reducer synchronises inside the backward of a forward run through the wrapper,
which the functional pass is not; gradient accumulation over the two passes would also need ``no_sync``. One
flat all-reduce after both backward passes is what DDP computes, with one synchronisation per step.

Batches: ``train.batch_size`` is the global batch. Its composition depends only on (seed, epoch), never on the
number of processes, and each sample's clip is drawn from (seed, epoch, sample) (``data/clips.py``), so a run on N
processes follows the run on one process up to floating-point summation order, and checkpoints resume with
another process count.
"""

from __future__ import annotations

from typing import Iterator, List, Mapping, Tuple

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ..devices import Processes

ONE_PROCESS = Processes()  # a run without torchrun


def sum_gradients(params: Mapping[str, torch.Tensor], procs: Processes) -> None:
    """Sum every parameter's gradient over the processes, in place (one flat buffer, one all-reduce)."""
    if not procs.distributed:
        return
    tensors = [p for p in params.values() if p.requires_grad]
    for p in tensors:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in tensors:
        count = p.numel()
        p.grad.copy_(flat[offset : offset + count].view_as(p.grad))
        offset += count


def sum_values(values: torch.Tensor, procs: Processes) -> torch.Tensor:
    """``values`` summed over the processes (a copy; unchanged on one process)."""
    values = values.detach().clone()
    if procs.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(procs: Processes) -> None:
    if procs.distributed:
        dist.barrier()


class GlobalBatches(Sampler[List[int]]):
    """This process's shard of each global batch of one epoch.

    The epoch's order is ``torch.randperm`` seeded from (seed, epoch); global batch ``i`` is its slice
    ``[i*B, (i+1)*B)``; process ``r`` of ``W`` takes the ``r``-th of ``W`` near-equal contiguous pieces. A process
    whose piece of a short last batch is empty gets one sample to run with weight 0 (:meth:`counts`), so every
    process takes part in every all-reduce.
    """

    def __init__(
        self, size: int, batch_size: int, seed: int, epoch: int, procs: Processes = ONE_PROCESS, max_batches: int = 0
    ):
        if size < 1:
            raise ValueError("the training set is empty")
        self.size, self.batch_size, self.procs = size, batch_size, procs
        self.batches = -(-size // batch_size)
        if max_batches:
            self.batches = min(self.batches, max_batches)
        order = torch.Generator().manual_seed(seed * 100_003 + epoch)
        self.order = torch.randperm(size, generator=order).tolist()

    def __len__(self) -> int:
        return self.batches

    def _piece(self, index: int) -> Tuple[List[int], int]:
        batch = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        base, extra = divmod(len(batch), self.procs.world)
        rank = self.procs.rank
        start = rank * base + min(rank, extra)
        return batch[start : start + base + (rank < extra)], len(batch)

    def counts(self, index: int) -> Tuple[int, int]:
        """(samples of batch ``index`` this process scores, samples in the global batch)."""
        piece, total = self._piece(index)
        return len(piece), total

    def __iter__(self) -> Iterator[List[int]]:
        for index in range(self.batches):
            piece, total = self._piece(index)
            yield piece if piece else self.order[index * self.batch_size :][:1]
