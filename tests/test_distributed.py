"""Data-parallel training on CPU (gloo, 2 processes): the same weights as one process with the same global batch
and seed, only the main process writes, and checkpoints resume with another process count."""

import csv
import os
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from openvclip.data.clips import VideoClips
from openvclip.data.videos import write_video
from openvclip.devices import Processes, setup
from openvclip.models import build_tokenizer, enable_temporal_attention
from openvclip.models.descriptions import ClassText
from openvclip.train import TrainConfig, fit
from openvclip.train.distill import StepText
from openvclip.train.distributed import GlobalBatches
from openvclip.weights import load_weights

from .conftest import make_clip, tiny_config

VIDEOS, CLASSES = 9, 3  # 9 = 2 full global batches of 4 and a last batch of 1: one process gets none of it
CONFIG = dict(
    objective="openvclip",
    epochs=2,
    batch_size=4,
    num_frames=4,
    lr=2e-3,
    warmup_epochs=0.0,
    swa_start_epoch=1,
    keep_checkpoints=2,
    alpha_high=0.6,
    lam=0.5,
    seed=5,
    frame_sampling="spread",
    sampling_rate=2,
    jitter_scales=[32, 40],
    crop_size=32,
    flip=0.5,
)


@pytest.fixture
def videos(tmp_path):
    """Noise videos of 12 frames at 48 x 64: random starts, scales, crops and flips are all exercised."""
    rng = np.random.default_rng(0)
    for i in range(VIDEOS):
        write_video(tmp_path / "videos" / f"{i}.mp4", rng.integers(0, 256, size=(12, 48, 64, 3), dtype=np.uint8))
    return tmp_path / "videos"


def dataset(videos):
    augmentation = TrainConfig(**CONFIG).augmentation()
    return VideoClips(
        [videos / f"{i}.mp4" for i in range(VIDEOS)],
        [i % CLASSES for i in range(VIDEOS)],
        augmentation,
        seed=CONFIG["seed"],
    )


def train(out_dir, videos, **overrides):
    model = enable_temporal_attention(make_clip(seed=1))
    classifier = torch.nn.functional.normalize(
        torch.randn(32, CLASSES, generator=torch.Generator().manual_seed(2)), dim=0
    )
    cfg = TrainConfig(**{**CONFIG, **overrides})
    froster = {}
    if cfg.distilled:  # the frozen image CLIP, and the classes' texts its text tower re-embeds every step
        froster["teacher"] = make_clip(seed=1)
        texts = [ClassText(name, ("it moves.",)) for name in ("left", "up", "still")]
        froster["step_text"] = StepText(texts, ["a video of {}.", "{}"], build_tokenizer({"config": tiny_config()}))
    return fit(model, dataset(videos), classifier, cfg, out_dir, progress=False, **froster)


def _worker(rank, world, port, out_dir, videos, overrides=None):
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    procs, device = setup("cpu")
    assert procs == Processes(rank, world, rank) and device.type == "cpu"
    try:
        train(out_dir, videos, **(overrides or {}))
    finally:
        dist.destroy_process_group()


def train_in_processes(out_dir, videos, world=2, **overrides):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(world, port, str(out_dir), videos, overrides), nprocs=world, join=True)


def log_rows(out_dir):
    with open(out_dir / "train_log.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_same_weights(a, b, atol=2e-4):
    # Not bit-equal: summation order differs. One process on 1 vs 2 threads differs by 5e-5 here: the attention's
    # key biases get only rounding-noise gradients (softmax ignores them), which Adam scales to full-size steps.
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= atol, f"largest difference {worst}"


def test_the_processes_share_every_global_batch_exactly_once():
    for size, batch, world in ((9, 4, 2), (10, 4, 3), (5, 8, 2), (2, 4, 3)):
        views = [GlobalBatches(size, batch, seed=3, epoch=2, procs=Processes(r, world, r)) for r in range(world)]
        whole = GlobalBatches(size, batch, seed=3, epoch=2)
        for index, full in enumerate(whole):
            pieces = [list(iter(v))[index] for v in views]
            counts = [v.counts(index) for v in views]
            scored = [piece[:count] for piece, (count, _) in zip(pieces, counts)]
            assert [i for piece in scored for i in piece] == full  # in order, none twice, none lost
            assert {total for _, total in counts} == {len(full)}
            assert all(pieces)  # a process with nothing to score still runs one (weight-0) sample
    assert GlobalBatches(9, 4, 3, 1).order != GlobalBatches(9, 4, 3, 2).order  # each epoch its own order


@pytest.mark.e2e
def test_two_processes_give_the_weights_of_one(tmp_path, videos):
    single = train(tmp_path / "one", videos)
    train_in_processes(tmp_path / "two", videos)
    for name in ("model.safetensors", "swa.safetensors"):
        assert_same_weights(load_weights(tmp_path / "one" / name), load_weights(tmp_path / "two" / name))
    # Training moved the weights, so agreeing is not trivial.
    theta0 = {k: v for k, v in make_clip(seed=1).state_dict().items() if k.startswith("visual.")}
    assert (
        max((load_weights(tmp_path / "two" / "model.safetensors")[k] - theta0[k]).abs().max().item() for k in theta0)
        > 1e-3
    )
    # One log row per step (the main process alone writes), and the logged losses are the global batch's.
    one, two = log_rows(tmp_path / "one"), log_rows(tmp_path / "two")
    assert len(two) == single["steps"] == 2 * 3
    for a, b in zip(one, two):
        assert a["alpha"] == b["alpha"]
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=1e-5)
        assert float(a["loss_interpolated"]) == pytest.approx(float(b["loss_interpolated"]), abs=1e-5)
        # The summed gradient has the single process's scale (Adam alone would hide a wrong scale).
        assert float(a["grad_norm"]) == pytest.approx(float(b["grad_norm"]), rel=1e-3)


@pytest.mark.e2e
def test_froster_training_its_text_tower_in_two_processes_gives_the_weights_of_one(tmp_path, videos):
    """Every process re-embeds all classes' texts: their distillation term counts once in the summed gradient
    (weighted by each process's share of the batch; the last batch of 1 leaves one process nothing to score)."""
    froster = dict(objective="froster", train_text=True, swa=False)
    train(tmp_path / "one", videos, **froster)
    train_in_processes(tmp_path / "two", videos, **froster)
    one, two = (
        load_weights(tmp_path / "one" / "model.safetensors"),
        load_weights(tmp_path / "two" / "model.safetensors"),
    )
    assert any(k.startswith("transformer.") for k in two)  # the text tower trained, in both
    # The attention's key biases get only rounding-noise gradients (softmax ignores them), which Adam turns into
    # full-size steps; in the text tower's causal attention that reached 1e-3 here, with losses, distillation
    # terms and gradient norms equal to 1e-6 (below). Every other weight must agree.
    assert_same_weights(without_key_biases(one), without_key_biases(two))
    for a, b in zip(log_rows(tmp_path / "one"), log_rows(tmp_path / "two")):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=1e-5)
        assert float(a["loss_distill"]) == pytest.approx(float(b["loss_distill"]), abs=1e-5)
        assert float(a["grad_norm"]) == pytest.approx(float(b["grad_norm"]), rel=1e-3)


def without_key_biases(weights):
    """The weights with the key third of each attention's packed in_proj bias left out."""
    out = dict(weights)
    for k, v in weights.items():
        if k.endswith("attn.in_proj_bias"):
            third = v.shape[0] // 3
            out[k] = torch.cat([v[:third], v[2 * third :]])
    return out


@pytest.mark.e2e
def test_a_checkpoint_of_two_processes_resumes_in_one(tmp_path, videos):
    train_in_processes(tmp_path / "two", videos)
    finished = load_weights(tmp_path / "two" / "model.safetensors")
    # Back to the end of epoch 1, as if the job had been stopped there, then resumed on one process.
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "two", resumed)
    shutil.rmtree(resumed / "checkpoints" / "epoch-0002")
    for name in ("model.safetensors", "swa.safetensors", "train_info.json"):
        (resumed / name).unlink()
    result = train(resumed, videos)
    assert result["steps"] == 6 and len(log_rows(resumed)) == 6
    assert_same_weights(load_weights(resumed / "model.safetensors"), finished)
