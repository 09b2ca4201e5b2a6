"""Training clips decoded on the fly: the released loader's draws, decoding the right frames, and determinism
over loader workers, training processes and resumes."""

import numpy as np
import pytest
import torch

from openvclip.data.clips import ClipAugmentation, ClipDraw, VideoClips, draw, sample_generator, scale_crop_flip
from openvclip.data.sampling import clip_indices
from openvclip.data.videos import write_video
from openvclip.devices import Processes
from openvclip.train import TrainConfig
from openvclip.train.loop import training_loader

from .conftest import released_pyav_clip

RELEASED = ClipAugmentation()  # 8 frames, rate 16 at 30 fps, short side in [224, 256], crop 224, flip 0.5


def draws(count, augmentation=RELEASED, seed=0, item=0):
    return [draw(sample_generator(seed, epoch, item), augmentation) for epoch in range(count)]


@pytest.mark.parametrize("fps", [30.0, 25.0, 29.97, 60.0])
@pytest.mark.parametrize("length", [30, 120, 300, 901])
def test_a_training_clip_takes_the_released_loaders_frames(length, fps):
    for start in (0.0, 0.13, 0.5, 0.77, 0.999):
        # The released training path is its test path with random.uniform(0, delta) as the start: clip_idx /
        # num_clips = start.
        assert clip_indices(length, 8, 16, start, "released_pyav", fps).tolist() == released_pyav_clip(
            length, fps, start, num_clips=1
        ), (length, fps, start)


def test_drawn_starts_cover_the_whole_allowed_range_over_epochs():
    length, fps = 300, 30.0
    firsts = [clip_indices(length, 8, 16, d.start, "released_pyav", fps)[0] for d in draws(400)]
    room = length - 112  # the released decoder's clip: ceil(16 * 7 / 30 * fps) frames
    assert min(firsts) >= 0 and max(firsts) <= room
    assert min(firsts) <= 5 and max(firsts) >= room - 5
    # Spread over the range, not bunched: every tenth of it is drawn.
    assert len({int(10 * f / (room + 1)) for f in firsts}) == 10
    # A video shorter than one clip's span has a single start.
    assert {clip_indices(30, 8, 16, d.start, "released_pyav", fps)[0] for d in draws(50)} == {0}


def test_scales_crops_and_flips_vary_within_the_released_bounds():
    samples = draws(1000)
    scales = [d.scale for d in samples]
    assert min(scales) == 224 and max(scales) == 256 and len(set(scales)) == 33
    # 340 x 256 frames (Kinetics' short-side-256 copies): the crop offsets after scaling, as randint(0, side - 224).
    offsets = []
    for d in samples:
        height, width = d.scale, int(np.floor(340 / 256 * d.scale))
        top, left = d.offsets(height, width, 224)
        assert 0 <= top <= max(height - 225, 0) and 0 <= left <= width - 225
        offsets.append((top, left))
    assert len(set(offsets)) > 300
    assert max(left for _, left in offsets) >= 100  # reaches the far side (256 * 340 / 256 - 224 = 116 at most)
    flips = sum(d.flip for d in samples)
    assert 440 <= flips <= 560  # p = 0.5: 1000 draws lie here with probability > 0.9998
    assert not any(d.flip for d in draws(200, ClipAugmentation(flip=0.0)))


def test_draws_depend_on_seed_epoch_and_sample_only():
    first = draws(5, seed=3, item=7)
    torch.rand(10)  # the global generator moves: nothing changes
    assert draws(5, seed=3, item=7) == first
    assert draws(5, seed=4, item=7) != first and draws(5, seed=3, item=8) != first


def test_scaling_cropping_and_mirroring_of_frames():
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 256, 340, 3), dtype=np.uint8)
    plain = ClipDraw(start=0.0, scale=256, top=0.0, left=0.999, flip=False)
    out = scale_crop_flip(frames, plain, 224)
    assert out.shape == (2, 3, 224, 224)
    # Scale 256 leaves a 256-high frame unchanged (as the released transform); the crop is the last offset.
    expected = torch.from_numpy(frames[:, :224, 115:339]).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(out, expected)
    mirrored = scale_crop_flip(frames, ClipDraw(0.0, 256, 0.0, 0.999, True), 224)
    assert torch.equal(mirrored, out.flip(-1))
    smaller = scale_crop_flip(frames, ClipDraw(0.0, 224, 0.5, 0.5, False), 224)
    assert smaller.shape == (2, 3, 224, 224) and not torch.allclose(smaller, expected)


def numbered_video(path, frames, size=(48, 64), fps=30):
    """Frame t is flat grey 4 * t (lossless): a decoded clip tells which frames it holds."""
    values = (4 * np.arange(frames)).astype(np.uint8)
    write_video(path, np.broadcast_to(values[:, None, None, None], (frames, *size, 3)).copy(), fps=fps)


SMALL = ClipAugmentation(num_frames=8, rate=4, sampling="released_pyav", jitter_scales=(32, 40), crop_size=32)


def frame_numbers(clip):
    """Frame indices of a normalised clip of numbered_video frames."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    grey = clip[:, 0].mean(dim=(-1, -2)) * OPENAI_DATASET_STD[0] + OPENAI_DATASET_MEAN[0]
    return (grey * 255 / 4).round().long().tolist()


@pytest.mark.parametrize("frames", [30, 60])
def test_decoded_clips_hold_the_drawn_frames_even_of_a_short_video(tmp_path, frames):
    """30 frames are shorter than one clip's span (8 x 4 frames at 30 fps): still a valid 8-frame clip."""
    numbered_video(tmp_path / "v.mp4", frames)
    clips = VideoClips([tmp_path / "v.mp4"], [3], SMALL, seed=1)
    for epoch in range(6):
        clip, label = clips[(epoch, 0)]
        assert clip.shape == (8, 3, 32, 32) and clip.dtype == torch.float32 and label == 3
        expected = clip_indices(frames, 8, 4, clips.draw(epoch, 0).start, "released_pyav", 30.0).tolist()
        assert frame_numbers(clip) == expected
        assert max(expected) <= frames - 1


def test_a_video_that_no_longer_decodes_stops_training_with_its_name(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(RuntimeError, match="broken.mp4"):
        VideoClips([tmp_path / "broken.mp4"], [0], SMALL)[(1, 0)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = []
    for i in range(7):
        numbered_video(root / f"{i}.mp4", 40 + 13 * i, size=(48 + 16 * (i % 3), 64))  # decord: sides of 16s
        paths.append(root / f"{i}.mp4")
    return VideoClips(paths, [i % 3 for i in range(7)], SMALL, seed=5)


def epoch_batches(dataset, cfg, epochs, procs=Processes()):  # noqa: B008 (an immutable tuple)
    sampler, loader = training_loader(dataset, cfg, procs)
    out = {}
    for epoch in epochs:
        sampler.set_epoch(epoch)
        out[epoch] = [(clip, label) for clip, label in loader]
    return out


def test_the_same_clips_with_any_number_of_loader_workers_and_after_a_resume(videos):
    cfg = TrainConfig(batch_size=3, seed=5, num_frames=8)
    reference = epoch_batches(videos, cfg, [1, 2])
    assert [len(b) for b in reference.values()] == [3, 3]  # 7 videos in batches of 3
    assert not torch.equal(reference[1][0][0], reference[2][0][0])  # a fresh clip (and order) each epoch
    for workers in (1, 8):
        # Persistent workers: the epoch travels inside each sample's key, not in the workers' copies.
        other = epoch_batches(videos, TrainConfig(batch_size=3, seed=5, num_frames=8, num_workers=workers), [1, 2])
        for epoch in (1, 2):
            for (a, la), (b, lb) in zip(reference[epoch], other[epoch]):
                assert torch.equal(a, b) and torch.equal(la, lb), (workers, epoch)
    # A run resumed at epoch 2 draws what the uninterrupted run drew there.
    resumed = epoch_batches(videos, TrainConfig(batch_size=3, seed=5, num_frames=8, num_workers=2), [2])
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(reference[2], resumed[2]))


def test_two_training_processes_share_out_the_single_process_clips(videos):
    cfg = TrainConfig(batch_size=4, seed=5, num_frames=8)
    single = epoch_batches(videos, cfg, [3])[3]
    shards = [epoch_batches(videos, cfg, [3], Processes(rank, 2, rank))[3] for rank in range(2)]
    for index, (clips, _labels) in enumerate(single):
        scored = []
        for rank, shard in enumerate(shards):
            count = len(clips) - len(clips) // 2 if rank == 0 else len(clips) // 2
            scored.append(shard[index][0][:count])
        assert torch.equal(torch.cat(scored), clips)


def test_bad_augmentation_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="jitter scales"):
        ClipAugmentation(jitter_scales=(200, 256), crop_size=224)
    with pytest.raises(ValueError, match="sampling"):
        ClipAugmentation(sampling="released_torchvision")
    with pytest.raises(ValueError, match="train.jitter_scales"):
        TrainConfig(jitter_scales=[256, 224]).validate()
    with pytest.raises(ValueError, match="train.flip"):
        TrainConfig(flip=1.5).validate()
