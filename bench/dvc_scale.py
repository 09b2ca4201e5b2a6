"""DVC at the data stage's size: its commit and status on a stage whose outputs hold many files.

K400's data stage writes some 240,000 files (re-encoded training videos, frame store rows). This script builds a
git + DVC repository in a temporary folder with one stage (`cmd: true`) whose outputs hold ``--files`` files of
``--kib`` KiB each (random bytes, so nothing deduplicates), laid out three ways, each in its own repository:

- ``one folder``: a single output folder of all the files (what a stage tracking ``data/train_videos`` does);
- ``shard folders``: ``--shards`` output folders of equal share (one per shard job);
- ``shard archives``: ``--shards`` output files, each an uncompressed tar of its shard's files.

For each layout it times, in order: a forced commit (hash everything and fill the cache), a status with
nothing changed (DVC's state database answers from file stats), a status after one file's content changed,
and a forced commit after that change. The layouts run one after another, rotating the order between
``--repeats`` rounds; medians.

    python bench/dvc_scale.py [--files 20000] [--kib 16] [--shards 20] [--repeats 1]

Last lines: ``ratio NAME VALUE``: each layout's no-change status and recommit over the one folder's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from common import machine_line  # bench/common.py (scripts run as python bench/NAME.py)

LAYOUTS = ("one folder", "shard folders", "shard archives")
STEPS = ("commit", "status, unchanged", "status, one file changed", "commit, one file changed")


def run(cwd: Path, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - began


def write_files(folder: Path, names, kib: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(rng.randbytes(kib * 1024))


def build(root: Path, layout: str, files: int, kib: int, shards: int, seed: int) -> Path:
    """A git + DVC repository whose stage `data` outputs the files in ``layout``; returns the file to change."""
    import random

    rng = random.Random(seed)
    root.mkdir()
    for args in (("git", "init", "-q"), ("dvc", "init", "-q"), ("dvc", "config", "core.autostage", "false")):
        run(root, *args)
    names = [f"video{i:06d}.mp4" for i in range(files)]
    per_shard = [names[k::shards] for k in range(shards)]
    if layout == "one folder":
        write_files(root / "out", names, kib, rng)
        outs, changed = ["out"], root / "out" / names[0]
    elif layout == "shard folders":
        for k, shard in enumerate(per_shard):
            write_files(root / "out" / f"shard{k:03d}", shard, kib, rng)
        outs, changed = [f"out/shard{k:03d}" for k in range(shards)], root / "out" / "shard000" / per_shard[0][0]
    else:
        staging = root / "staging"
        (root / "out").mkdir()
        for k, shard in enumerate(per_shard):
            write_files(staging / f"shard{k:03d}", shard, kib, rng)
            with tarfile.open(root / "out" / f"shard{k:03d}.tar", "w") as archive:
                archive.add(staging / f"shard{k:03d}", arcname=f"shard{k:03d}")
        outs, changed = [f"out/shard{k:03d}.tar" for k in range(shards)], root / "out" / "shard000.tar"
        subprocess.run(["rm", "-rf", str(staging)], check=True)
    (root / "dvc.yaml").write_text(
        "stages:\n  data:\n    cmd: 'true'\n    outs:\n" + "".join(f"      - {o}\n" for o in outs)
    )
    (root / ".gitignore").write_text("/out/\n")
    return changed


def measure(root: Path, changed: Path) -> dict:
    times = {"commit": run(root, "dvc", "commit", "-f", "-q")}
    times["status, unchanged"] = run(root, "dvc", "status", "-q")
    with open(changed, "r+b") as handle:  # one file's content changes (an archive: one byte inside it)
        handle.seek(os.path.getsize(changed) // 2)
        handle.write(b"\x00changed\x00")
    began = time.perf_counter()
    status = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True, check=True)
    times["status, one file changed"] = time.perf_counter() - began
    assert json.loads(status.stdout), f"dvc status saw no change after {changed} changed"
    times["commit, one file changed"] = run(root, "dvc", "commit", "-f", "-q")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000, help="files in the stage's outputs (default 20,000)")
    parser.add_argument("--kib", type=int, default=16, help="KiB per file (default 16)")
    parser.add_argument("--shards", type=int, default=20, help="shard folders or archives (default 20)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over the layouts, rotating (default 1)")
    args = parser.parse_args()

    samples = {layout: {step: [] for step in STEPS} for layout in LAYOUTS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = LAYOUTS[repeat % 3 :] + LAYOUTS[: repeat % 3]
            for layout in order:
                root = Path(tmp) / f"{layout.replace(' ', '_')}_{repeat}"
                changed = build(root, layout, args.files, args.kib, args.shards, seed=repeat)
                for step, seconds in measure(root, changed).items():
                    samples[layout][step].append(seconds)
                subprocess.run(["rm", "-rf", str(root)], check=True)
    median = {layout: {s: statistics.median(v) for s, v in steps.items()} for layout, steps in samples.items()}
    dvc = subprocess.run(["dvc", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"{machine_line(torch.device('cpu'))}, dvc {dvc}")
    print(
        f"{args.files} files of {args.kib} KiB ({args.files * args.kib / 2**20:.2f} GiB), {args.shards} shards; "
        f"seconds, median of {args.repeats} round(s)"
    )
    print(f"{'layout':<16}" + "".join(f"{step:>26}" for step in STEPS))
    for layout in LAYOUTS:
        print(f"{layout:<16}" + "".join(f"{median[layout][step]:26.2f}" for step in STEPS))
    base = median["one folder"]
    for layout, tag in (("shard folders", "shard_folders"), ("shard archives", "shard_archives")):
        status = median[layout]["status, unchanged"] / base["status, unchanged"]
        print(f"ratio dvc_status_{tag}_over_one_folder {status:.3f}")
        print(
            f"ratio dvc_recommit_{tag}_over_one_folder "
            f"{median[layout]['commit, one file changed'] / base['commit, one file changed']:.3f}"
        )


if __name__ == "__main__":
    main()
