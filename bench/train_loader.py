"""Training input: clips per second of our on-the-fly loader against the released code's, and the cost of the
re-encoding that feeds it.

Both contenders make the released training input from the same H.264 files: 8 frames at a sampling rate of 16
at 30 fps from a random start, the short side scaled to a size drawn in [224, 256], a random 224 crop, a mirror
half the time, CLIP normalisation: a ``(8, 3, 224, 224)`` float clip per video, batches of ``--batch``, through a
``torch.utils.data.DataLoader`` with ``--workers`` persistent workers each.

- ``ours``: ``openvclip.data.clips.VideoClips`` (decord, only the clip's frames converted to RGB) through
  ``openvclip.train.loop.training_loader``, as training runs it.
- ``released``: PySlowFast's pyav path as Open-VCLIP trained with it (``decoder.pyav_decode`` /
  ``pyav_decode_stream``, ``kinetics.py``, ``utils.spatial_sampling``), written out here: open the container,
  read its frame count, duration and rate, draw the start with ``random.uniform(0, delta)``, seek to the start's
  timestamp less 1024, decode up to the clip's end keeping the frames in range (and one past it), convert every
  kept frame to RGB, take 8 of them with ``linspace``, normalise, then scale, crop and mirror.

The videos: ``--videos`` H.264 clips panning and zooming over a photograph at 340x256, 10 s at 30 fps (crf 23),
then re-encoded by ``openvclip.data.train_videos.reencode`` with its defaults (short side 256, so the size
stays; a keyframe every 16 frames); both contenders read the re-encoded copies. Order rotates between
repetitions, after a warm-up epoch (``bench/common.alternate_samples``); medians of ``--repeats`` epochs.

Re-encoding cost: ``--sources`` videos of 10 s at 1280x720 (30 fps, crf 23: CVDF-like originals) re-encoded
one at a time on one thread; seconds and MB per video, scaled to 1,000 videos.

    python bench/train_loader.py [--videos 24] [--workers 2] [--repeats 3] [--sources 3]

Last lines: ``ratio train_clips_ours_over_released VALUE`` (> 1: ours faster) and
``figure train_clips_per_s_per_worker_ours VALUE``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import alternate_samples, pan_video, photo, start  # bench/common.py (scripts run as python bench/NAME.py)
from torch.utils.data import DataLoader, Dataset

NUM_FRAMES, RATE, TARGET_FPS, SCALES, CROP = 8, 16, 30, (224, 256), 224


class ReleasedClips(Dataset):
    """PySlowFast's training path with the pyav backend, for one clip per video."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        import av
        from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

        with av.open(str(self.paths[index])) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate)
            frames_length, duration = stream.frames, stream.duration
            clip_size = max(1.0, math.ceil(RATE * (NUM_FRAMES - 1) / TARGET_FPS * fps))
            delta = max(frames_length - clip_size, 0)
            start_idx = random.uniform(0, delta)
            end_idx = start_idx + clip_size - 1
            timebase = duration / frames_length
            start_pts, end_pts = int(start_idx * timebase), int(end_idx * timebase)
            container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=stream)
            kept = []
            for frame in container.decode(stream):
                if frame.pts < start_pts:
                    continue
                kept.append(frame)
                if frame.pts > end_pts:  # buffer_size 0: the first frame past the end is kept, then stop
                    break
            video = torch.as_tensor(np.stack([frame.to_rgb().to_ndarray() for frame in kept]))
        sample_size = max(1.0, RATE * NUM_FRAMES / TARGET_FPS * fps)
        index_ = torch.clamp(torch.linspace(0, sample_size - 1, NUM_FRAMES), 0, video.shape[0] - 1).long()
        video = torch.index_select(video, 0, index_).float() / 255.0
        video = (video - torch.tensor(OPENAI_DATASET_MEAN)) / torch.tensor(OPENAI_DATASET_STD)
        video = video.permute(0, 3, 1, 2)  # T, C, H, W
        size = int(round(np.random.uniform(*SCALES)))
        height, width = video.shape[-2:]
        if min(height, width) != size:
            if width < height:
                new_h, new_w = int(math.floor(height / width * size)), size
            else:
                new_h, new_w = size, int(math.floor(width / height * size))
            video = F.interpolate(video, size=(new_h, new_w), mode="bilinear", align_corners=False)
        height, width = video.shape[-2:]
        top = int(np.random.randint(0, height - CROP)) if height > CROP else 0
        left = int(np.random.randint(0, width - CROP)) if width > CROP else 0
        video = video[:, :, top : top + CROP, left : left + CROP]
        if np.random.uniform() < 0.5:
            video = video.flip(-1)
        return video, 0


def make_videos(folder: Path, count: int):
    from openvclip.data.train_videos import Reencoding, reencode

    image = photo()
    copies = []
    for i in range(count):
        source = folder / f"source{i}.mp4"
        pan_video(source, image, 340, 256, 300, seed=i, fps=30)
        copies.append(folder / f"copy{i}.mp4")
        reencode(source, copies[-1], Reencoding())
    return copies


def epoch_clips(loader, sampler=None, epoch=1) -> int:
    """Reads one epoch; returns its clip count."""
    if sampler is not None:
        sampler.set_epoch(epoch)
    clips = 0
    for video, _ in loader:
        assert video.shape[1:] == (NUM_FRAMES, 3, CROP, CROP), video.shape
        clips += video.shape[0]
    return clips


def reencoding_cost(folder: Path, count: int):
    from openvclip.data.train_videos import Reencoding, probe, reencode

    image = photo()
    seconds, sizes, source_sizes = [], [], []
    for i in range(count):
        source = folder / f"hd{i}.mp4"
        pan_video(source, image, 1280, 720, 300, seed=100 + i, fps=30)
        began = time.perf_counter()
        reencode(source, folder / f"hd_copy{i}.mp4", Reencoding())
        seconds.append(time.perf_counter() - began)
        sizes.append((folder / f"hd_copy{i}.mp4").stat().st_size)
        source_sizes.append(source.stat().st_size)
        shape = probe(folder / f"hd_copy{i}.mp4")
        assert (shape["height"], shape["width"]) == (256, 456), shape
    return statistics.mean(seconds), statistics.mean(sizes), statistics.mean(source_sizes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sources", type=int, default=3, help="1280x720 videos for the re-encoding cost")
    args = parser.parse_args()
    args.device, args.threads = "cpu", 1
    cpu = start(parser, args)

    from openvclip.data.clips import VideoClips
    from openvclip.train import TrainConfig
    from openvclip.train.loop import training_loader

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        copies = make_videos(folder, args.videos)
        cfg = TrainConfig(batch_size=args.batch, num_workers=args.workers, seed=0)
        ours = VideoClips(copies, [0] * len(copies), cfg.augmentation(), seed=0)
        sampler, our_loader = training_loader(ours, cfg)
        released_loader = DataLoader(
            ReleasedClips(copies),
            batch_size=args.batch,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
            prefetch_factor=4 if args.workers else None,
        )
        epochs = itertools.count(1)  # each epoch of ours a fresh shuffle, as in training
        clips = {}

        def epoch(name, read):
            def run():
                clips[name] = read()

            return run

        contenders = {
            "ours": epoch("ours", lambda: epoch_clips(our_loader, sampler, next(epochs))),
            "released": epoch("released", lambda: epoch_clips(released_loader)),
        }
        # Warm-up (workers start, files enter the page cache), then the two in rotating order (bench/common.py).
        seconds = alternate_samples(contenders, args.repeats, cpu)
        rates = {name: [clips[name] / value for value in values] for name, values in seconds.items()}
        medians = {name: statistics.median(values) for name, values in rates.items()}
        for name, value in medians.items():
            print(
                f"{name}: {value:.2f} clips/s with {args.workers} workers ({value / max(args.workers, 1):.2f} per "
                f"worker; runs {', '.join(f'{v:.2f}' for v in rates[name])})"
            )
        seconds, size, source_size = reencoding_cost(folder, args.sources)
        print(
            f"re-encoding 1280x720 10 s originals to short side 256 (one thread): {seconds:.2f} s and "
            f"{size / 1e6:.2f} MB per video (source {source_size / 1e6:.2f} MB); per 1,000 videos: "
            f"{seconds * 1000 / 3600:.2f} h on one core, {size * 1000 / 1e9:.2f} GB"
        )
        print(f"ratio train_clips_ours_over_released {medians['ours'] / medians['released']:.3f}")
        print(f"figure train_clips_per_s_per_worker_ours {medians['ours'] / max(args.workers, 1):.2f}")


if __name__ == "__main__":
    main()
