"""K400 data preparation on 1, 8 and 64 nodes, projected from per-video costs measured here, beside today's
single-job figure.

Measured on this machine, one thread: ``--videos`` CVDF-like originals (10 s at 1280x720, 30 fps, H.264 crf 23,
panning over a photograph) are (1) packed into a tar.gz and unpacked by ``openvclip.data.archives.extract``
(MB/s), (2) re-encoded by ``openvclip.data.train_videos.reencode`` with the paper config's settings (s/video),
(3) decoded into a frame store by ``openvclip.data.frame_writer.write_store`` with the paper's evaluation views
(3 x 8 frames at rate 16, 224 px JPEG; s/video).

Assumed, and printed: K400's training list of 242 archives and validation list of 20 (CVDF), 1,000 videos an
archive, 1.45 GB an archive (436 GB for all 301 of train, val and test); a node of 32 cores running 4 data jobs
of 8 threads (the paper config's resources.threads); each node downloading at ``--node-mb-s`` (default 100 MB/s,
a 1 Gbit/s link), shared by the download jobs on it, and the host never the bottleneck; shards of
``--archives-per-job`` archives (the config's shards.archives_per_job). A stage runs its shard jobs in waves
of (4 x nodes) jobs; the gathers (parsing the annotations, joining the part indexes, assembling the store)
are not modelled: they read the shards' outputs once. Today's single job: each stage one job of 8 threads,
downloads one at a time at the node's rate.

    python bench/data_projection.py [--videos 3] [--archives-per-job 12] [--node-mb-s 100]

Last lines: ``ratio hours_<stage>_<nodes> VALUE`` for the table's cells.
"""

from __future__ import annotations

import argparse
import math
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from common import machine_line, pan_video, photo  # bench/common.py (scripts run as python bench/NAME.py)

TRAIN_ARCHIVES, VAL_ARCHIVES, VIDEOS_PER_ARCHIVE, GB_PER_ARCHIVE = 242, 20, 1000, 1.45
CORES_PER_NODE, JOB_THREADS = 32, 8
PAPER_FRAMES = {"format": "jpeg", "size": 224, "views": 3, "rate": 16, "num_frames": 8, "sampling": "released_pyav"}


def measure(videos: int, folder: Path) -> dict:
    from openvclip.data.archives import extract
    from openvclip.data.frame_writer import FrameSettings, write_store
    from openvclip.data.train_videos import Reencoding, reencode

    image = photo()
    sources = []
    for i in range(videos):
        sources.append(folder / f"original{i}.mp4")
        pan_video(sources[-1], image, 1280, 720, 300, seed=200 + i, fps=30)
    megabytes = sum(p.stat().st_size for p in sources) / 1e6
    with tarfile.open(folder / "part_0.tar.gz", "w:gz") as archive:
        for path in sources:
            archive.add(path, arcname=path.name)
    start = time.perf_counter()
    extract(folder / "part_0.tar.gz", folder / "unpacked", progress=False)
    unpack_mb_s = megabytes / (time.perf_counter() - start)
    start = time.perf_counter()
    for i, path in enumerate(sources):
        reencode(path, folder / f"copy{i}.mp4", Reencoding(**{"short_side": 256, "crf": 23, "preset": "veryfast"}))
    reencode_s = (time.perf_counter() - start) / videos
    start = time.perf_counter()
    write_store(sources, folder / "store", FrameSettings.from_dict(PAPER_FRAMES), progress=False, threads=1)
    frames_s = (time.perf_counter() - start) / videos
    return {
        "mb_per_video": megabytes / videos,
        "unpack_mb_s": unpack_mb_s,
        "reencode_s": reencode_s,
        "frames_s": frames_s,
    }


def stage_hours(shards: int, job_hours: float, nodes: int) -> float:
    """Wall hours of a stage of ``shards`` equal jobs on ``nodes`` nodes running 4 jobs each at a time."""
    return math.ceil(shards / (nodes * CORES_PER_NODE // JOB_THREADS)) * job_hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--archives-per-job", type=int, default=12)
    parser.add_argument("--node-mb-s", type=float, default=100.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine_line(torch.device("cpu")))
    with tempfile.TemporaryDirectory() as tmp:
        cost = measure(args.videos, Path(tmp))
    print(
        f"measured, one thread: unpack {cost['unpack_mb_s']:.0f} MB/s; re-encode {cost['reencode_s']:.2f} s/video; "
        f"frame store {cost['frames_s']:.2f} s/video (originals of {cost['mb_per_video']:.2f} MB)"
    )
    per = args.archives_per_job
    shards = math.ceil(TRAIN_ARCHIVES / per) + math.ceil(VAL_ARCHIVES / per)
    train_videos, val_videos = TRAIN_ARCHIVES * VIDEOS_PER_ARCHIVE, VAL_ARCHIVES * VIDEOS_PER_ARCHIVE
    archives = TRAIN_ARCHIVES + VAL_ARCHIVES
    gigabytes = archives * GB_PER_ARCHIVE
    unpack_h = gigabytes * 1e3 / cost["unpack_mb_s"] / 3600  # one thread, all archives

    def fetch_job_hours(jobs_on_node: int) -> float:
        mb_s = args.node_mb_s / jobs_on_node
        return per * GB_PER_ARCHIVE * 1e3 / mb_s / 3600 + unpack_h * per / archives

    single = {
        "download and unpack": gigabytes * 1e3 / args.node_mb_s / 3600 + unpack_h,
        "re-encode training videos": train_videos * cost["reencode_s"] / JOB_THREADS / 3600,
        "frame store (val)": val_videos * cost["frames_s"] / JOB_THREADS / 3600,
    }
    rows = {name: [hours] for name, hours in single.items()}
    for nodes in (1, 8, 64):
        jobs_on_node = min(CORES_PER_NODE // JOB_THREADS, math.ceil(shards / nodes))
        rows["download and unpack"].append(stage_hours(shards, fetch_job_hours(jobs_on_node), nodes))
        for name in ("re-encode training videos", "frame store (val)"):
            rows[name].append(stage_hours(shards, single[name] / shards, nodes))
    rows["total"] = [sum(col) for col in zip(*rows.values())]
    print(
        f"\nassumed: {archives} archives ({TRAIN_ARCHIVES} train, {VAL_ARCHIVES} val) of {VIDEOS_PER_ARCHIVE} "
        f"videos and {GB_PER_ARCHIVE} GB; nodes of {CORES_PER_NODE} cores running "
        f"{CORES_PER_NODE // JOB_THREADS} jobs of {JOB_THREADS} threads; {args.node_mb_s:.0f} MB/s a node; "
        f"{per} archives a shard: {shards} shards a stage\n"
    )
    print("| stage | today: one job (8 threads) | 1 node | 8 nodes | 64 nodes |")
    print("| --- | --- | --- | --- | --- |")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(f"{h:.1f} h" for h in cells) + " |")
    for name, cells in rows.items():
        key = name.split()[0].replace("-", "")
        for label, hours in zip(("today", "1", "8", "64"), cells):
            print(f"ratio hours_{key}_{label} {hours:.2f}")


if __name__ == "__main__":
    main()
