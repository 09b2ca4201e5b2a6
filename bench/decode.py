"""Decoding for evaluation: clips per second with decord, from our frame store, and with PyAV (the released code's).

Every contender produces the evaluation sampling of a video: 3 temporal views x 8 frames, 16 frames apart
(``openvclip.data.sampling.view_indices``), short side resized to 224 and centre-cropped to 224x224
(``openvclip.data.transform.resize_crop``), as a ``(24, 224, 224, 3)`` uint8 array.

- ``decord``: ``openvclip.data.videos.decode_views`` straight from the video file (one decoding thread).
- ``store``: reading the rows of a JPEG (quality 90) frame store written beforehand with
  ``openvclip.data.frame_writer.write_store`` (its writing is not timed; it is decord's work done once) through
  ``openvclip.data.frame_store.open_store``: JPEG decoding only, the frames are already resized and cropped.
- ``pyav``: PyAV, the backend of the released Open-VCLIP code (PySlowFast), one decoding thread like decord:
  the video is opened, its frame count read from the container, frames decoded in order up to the last index
  the views need and only those converted to RGB (``to_ndarray("rgb24")``), then resized and cropped the same
  way. One pass per video; no seeking, because the views of these videos (3 s and 10 s) reach the last frame
  and the encoder's keyframe interval (250 frames) puts every seek back at the first frame anyway. The released
  code decodes each test view separately (3 opens and decodes per video), so its own cost is higher than this
  contender's. A sanity check compares PyAV's frames with decord's (same indices: mean |difference| is printed,
  and asserted small).

The videos are written first into a temporary folder: H.264 (libx264, yuv420p, crf 23) panning and zooming over a
photograph (matplotlib's sample ``grace_hopper.jpg``: natural-image statistics), at 320x240 and 340x256
(UCF/Kinetics-like), 10 s and 3 s long at 25 and 30 fps.

A "clip" is one temporal view of 8 frames, so a video gives 3 clips; clips/s = 3 x videos/s. Every contender
goes over all the videos once per repetition; the contenders rotate order between repetitions, after a
warm-up pass (``bench/common.alternate``); medians of ``--repeats`` repetitions. With ``--device cuda`` every
sample is also copied to the GPU (synchronised before the timer is read): decoding itself stays on the CPU.

    python bench/decode.py [--videos 8] [--repeats 5] [--device cpu]

Last lines: ``ratio NAME VALUE`` (clips/s of the first contender named over the second: > 1 means the first is
faster): ``decode_clips_decord_over_pyav`` (decord vs PyAV) and ``decode_clips_store_over_decord`` (store vs
decord).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import (
    add_device_args,
    alternate,
    pan_video,
    photo,
    start,
)  # bench/common.py (scripts run as python bench/NAME.py)

NUM_FRAMES, RATE, VIEWS, SIZE = 8, 16, 3, 224
# (width, height, fps, seconds)
SHAPES = ((320, 240, 25, 10), (340, 256, 30, 10), (320, 240, 30, 3), (340, 256, 25, 3))


def pyav_views(path: Path) -> np.ndarray:
    """``(views * num_frames, SIZE, SIZE, 3)`` uint8: the same frames as ``decode_views``, decoded with PyAV."""
    import av

    from openvclip.data.sampling import view_indices
    from openvclip.data.transform import resize_crop

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        length = stream.frames
        if length <= 0:  # no count in the container: count by decoding, then decode again
            length = sum(1 for _ in container.decode(stream))
            container.seek(0, stream=stream)
        indices = view_indices(length, NUM_FRAMES, RATE, VIEWS).reshape(-1)
        unique, inverse = np.unique(indices, return_inverse=True)
        wanted = set(unique.tolist())
        last = int(unique[-1])
        picked = {}
        for number, frame in enumerate(container.decode(stream)):
            if number in wanted:
                picked[number] = frame.to_ndarray(format="rgb24")
            if number >= last:
                break
    frames = np.stack([picked[i] for i in unique.tolist()])
    return resize_crop(frames, SIZE)[inverse]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--videos", type=int, default=8, help=f"videos per (size, fps, length) kind, {len(SHAPES)} kinds (default 8)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions, alternating (default 5)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the frame store (default 90)")
    add_device_args(parser)
    args = parser.parse_args()
    device = start(parser, args)

    from openvclip.data.frame_store import open_store
    from openvclip.data.frame_writer import FrameSettings, write_store
    from openvclip.data.videos import decode_views

    image = photo()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for width, height, fps, seconds in SHAPES:
            for i in range(args.videos):
                path = tmp / f"v{width}x{height}_{fps}fps_{seconds}s_{i}.mp4"
                pan_video(path, image, width, height, fps * seconds, fps=fps, seed=1000 * width + 10 * fps + i)
                paths.append(path)
        video_mb = statistics.fmean(p.stat().st_size for p in paths) / 1e6
        began = time.perf_counter()
        frames = FrameSettings(NUM_FRAMES, SIZE, VIEWS, RATE, format="jpeg", quality=args.quality)
        write_store(paths, tmp / "store", frames, progress=False)
        store_seconds = time.perf_counter() - began
        store = open_store(tmp / "store")
        store_kib = sum(f.stat().st_size for f in (tmp / "store").iterdir()) / len(paths) / 1024

        # Same frames from both decoders (a wrong index would differ by far more on this moving content).
        diffs = [
            np.abs(
                decode_views(p, NUM_FRAMES, RATE, VIEWS, SIZE).astype(np.int16) - pyav_views(p).astype(np.int16)
            ).mean()
            for p in (paths[0], paths[-1])
        ]
        assert max(diffs) < 4.0, f"PyAV and decord frames differ: mean |diff| {diffs}"
        store_diff = np.abs(
            store[0].astype(np.int16) - decode_views(paths[0], NUM_FRAMES, RATE, VIEWS, SIZE).astype(np.int16)
        ).mean()

        def to_device(clip: np.ndarray) -> None:
            if device.type == "cuda":
                torch.from_numpy(clip).to(device)

        def run_decord():
            for path in paths:
                to_device(decode_views(path, NUM_FRAMES, RATE, VIEWS, SIZE))

        def run_store():
            rows = open_store(tmp / "store")
            for i in range(len(rows)):
                to_device(rows[i])

        def run_pyav():
            for path in paths:
                to_device(pyav_views(path))

        contenders = {"decord": run_decord, "store": run_store, "pyav": run_pyav}
        # Warm-up (libraries, page cache), then the contenders in rotating order (bench/common.py).
        seconds = alternate(contenders, args.repeats, device)

    count = len(paths)
    clips = {name: count * VIEWS / value for name, value in seconds.items()}
    print(
        f"{count} videos: {', '.join(f'{w}x{h} {fps} fps {s} s' for w, h, fps, s in SHAPES)} "
        f"({args.videos} each), H.264 yuv420p crf 23, mean {video_mb:.2f} MB"
    )
    print(
        f"sampling: {VIEWS} views x {NUM_FRAMES} frames at rate {RATE}, short side {SIZE}, centre crop {SIZE}; "
        f"a clip = one view; median of {args.repeats} passes over all videos"
    )
    print(
        f"check: mean |PyAV - decord| {max(diffs):.2f}, mean |store (JPEG q{args.quality}) - decord| "
        f"{store_diff:.2f} (0-255 levels)"
    )
    print(
        f"store: JPEG q{args.quality}, {store_kib:.0f} KiB per video, written once in {store_seconds:.1f} s "
        "(not in the timings)"
    )
    print(f"{'contender':<10} {'s/pass':>8} {'videos/s':>9} {'clips/s':>9}")
    for name, value in seconds.items():
        print(f"{name:<10} {value:8.3f} {clips[name] / VIEWS:9.2f} {clips[name]:9.2f}")
    tag = "_cuda" if device.type == "cuda" else ""
    print(f"ratio decode_clips{tag}_decord_over_pyav {clips['decord'] / clips['pyav']:.3f}")
    print(f"ratio decode_clips{tag}_store_over_decord {clips['store'] / clips['decord']:.3f}")


if __name__ == "__main__":
    main()
