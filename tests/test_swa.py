"""Weight averaging equals the mean of the snapshots it saw, and survives a checkpoint round trip."""

import pytest
import torch

from openvclip.train import WeightAverage


def snapshots(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {"w": torch.randn(3, 4, generator=generator), "b": torch.randn(4, generator=generator)} for _ in range(count)
    ]


def test_average_equals_mean_of_snapshots():
    swa = WeightAverage()
    seen = snapshots(5)
    for epoch, weights in enumerate(seen, start=1):
        swa.update(weights, epoch)
    average = swa.averaged()
    for key in ("w", "b"):
        assert torch.allclose(average[key], torch.stack([s[key] for s in seen]).mean(0), atol=1e-6)
    assert int(swa.num_averaged) == 5 and swa.epochs == [1, 2, 3, 4, 5]


def test_due_epochs_follow_start_and_every():
    swa = WeightAverage(start_epoch=2, every=3)
    assert [e for e in range(1, 12) if swa.due(e)] == [2, 5, 8, 11]
    with pytest.raises(ValueError, match="every >= 1"):
        WeightAverage(every=0)


def test_state_round_trip_continues_identically():
    seen = snapshots(6, seed=1)
    full = WeightAverage()
    for weights in seen:
        full.update(weights)
    first = WeightAverage()
    for weights in seen[:3]:
        first.update(weights)
    resumed = WeightAverage(start_epoch=9)
    resumed.load_state_dict(first.state_dict())
    for weights in seen[3:]:
        resumed.update(weights)
    for key in ("w", "b"):
        assert torch.equal(resumed.averaged()[key], full.averaged()[key])


def test_average_casts_to_the_weights_dtype_and_needs_updates():
    swa = WeightAverage()
    with pytest.raises(RuntimeError, match="averaged no weights"):
        swa.averaged()
    swa.update({"w": torch.ones(2, dtype=torch.float16)})
    assert swa.averaged({"w": torch.ones(2, dtype=torch.float16)})["w"].dtype == torch.float16
