"""Frame store cost on real-sized videos: disk per 1,000 videos and extraction speed, raw vs JPEG.

Writes H.264 (yuv420p, crf 23, 25 fps, 10 s: like Kinetics clips) videos at 320x240 and 340x256 that pan and zoom
over a photograph (matplotlib's sample ``grace_hopper.jpg``: natural-image statistics, unlike noise or flat
colours, which make JPEG look far worse or far better than on real footage), then extracts each store the paper
configs use (3 views x 8 frames at rate 16, short side 224, centre crop) and prints bytes per video, the disk a
1,000-video set needs, and videos per second at 1 and ``--threads`` decoding threads.

    python bench/frame_store.py [--videos 12] [--threads 2]

Last line per ratio: ``ratio NAME VALUE`` (ours over the other).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from common import alternate, machine_line, pan_video, photo  # bench/common.py (scripts run as python bench/NAME.py)

CPU = torch.device("cpu")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=12, help="videos per resolution (default 12)")
    parser.add_argument("--threads", type=int, default=2, help="decoding threads for the parallel run (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, rotating order (default 3)")
    args = parser.parse_args()

    from openvclip.data.frame_writer import FrameSettings, write_store

    image = photo()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for width, height in ((320, 240), (340, 256)):
            for i in range(args.videos):
                path = tmp / f"v{width}_{i}.mp4"
                pan_video(path, image, width, height, 250, seed=i + width)
                paths.append(path)
        video_bytes = statistics.fmean(p.stat().st_size for p in paths)
        settings = dict(num_frames=8, size=224, views=3, rate=16)
        contenders = {
            "raw": FrameSettings(**settings, format="raw"),
            "jpeg q90": FrameSettings(**settings, format="jpeg", quality=90),
            "jpeg q75": FrameSettings(**settings, format="jpeg", quality=75),
        }
        sizes = {}

        def writer(name, frames, threads=1):
            def write():
                out = tmp / name.replace(" ", "_")
                write_store(paths, out, frames, progress=False, threads=threads)
                sizes[name] = folder_bytes(out)

            return write

        # Warm-up (decord and PIL load their libraries on first use), then each comparison in rotating order.
        seconds = alternate({name: writer(name, frames) for name, frames in contenders.items()}, args.repeats, CPU)
        threads_seconds = alternate(
            {threads: writer(f"threads{threads}", contenders["jpeg q90"], threads) for threads in (1, args.threads)},
            args.repeats,
            CPU,
        )

    count = len(paths)
    print(
        f"{machine_line(CPU)}, {count} videos (320x240 and 340x256, 10 s, H.264 crf 23, "
        f"mean {video_bytes / 1e6:.2f} MB each)"
    )
    print(f"store: 3 views x 8 frames at rate 16, 224x224; medians of {args.repeats} runs")
    print(f"{'store':10} {'KiB/video':>10} {'GB per 1,000 videos':>20} {'videos/s (1 thread)':>20}")
    for name in contenders:
        per_video = sizes[name] / count
        print(f"{name:10} {per_video / 1024:10.1f} {per_video * 1000 / 1e9:20.3f} {count / seconds[name]:20.2f}")
    for threads, value in threads_seconds.items():
        print(f"jpeg q90 with {threads} thread(s): {count / value:.2f} videos/s")
    print(f"ratio store_disk_jpeg90_over_raw {sizes['jpeg q90'] / sizes['raw']:.4f}")
    print(f"ratio store_disk_jpeg90_over_source_video {sizes['jpeg q90'] / count / video_bytes:.4f}")
    print(f"ratio extract_time_jpeg90_over_raw {seconds['jpeg q90'] / seconds['raw']:.3f}")
    print(
        f"ratio extract_time_{args.threads}threads_over_1thread "
        f"{threads_seconds[args.threads] / threads_seconds[1]:.3f}"
    )


if __name__ == "__main__":
    main()
