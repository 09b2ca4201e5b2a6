"""Long jobs killed half way resume where they stopped, at the workflow level: frame extraction and the
training-video re-encoding, each stopped by SIGKILL of the whole run (a preempted node), then `snakemake
--unlock` and the same command. Each job is stopped at a known point: the temporary file it is about to write
for one item in the middle of its list is a named pipe nobody reads, so the job hangs there (as on a hung
network file system) with everything before it finished."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from openvclip.data.frame_store import open_store
from openvclip.data.frame_writer import FrameSettings, store_settings, write_store
from openvclip.data.manifest import read_manifest
from openvclip.data.train_videos import copy_name, read_index
from tests.shell import clean_clone, killed_when, shell, snakemake

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end


def test_frame_extraction_and_reencoding_killed_half_way_keep_what_they_finished(tmp_path):
    cwd = clean_clone(tmp_path / "openvclip")
    config = yaml.safe_load((cwd / "config.yaml").read_text())
    config["train_videos"] = {"short_side": 32}  # re-encoded (H.264), not linked as the fast config does
    (cwd / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(cwd, "data/manifests/k400.csv")
    rows = read_manifest(cwd / "data" / "manifests" / "k400.csv")
    paths = [Path(r["path"]) for r in rows]

    # Frame extraction: the val/test videos (training ones are not decoded); one shard per row at this size.
    train = [i for i, r in enumerate(rows) if r["split"] == "train"]
    scored = [i for i in range(len(rows)) if i not in train]
    stuck = scored[len(scored) // 2]
    frames = FrameSettings(num_frames=4, size=32, views=1, rate=0, format="raw", sampling="spread")
    settings = store_settings(paths, frames, skip=train)
    assert settings["shard_videos"] == 1
    partial = cwd / "data" / "frames" / "k400.partial"
    partial.mkdir(parents=True)
    (partial / "settings.json").write_text(json.dumps(settings))  # as the job writes it: its shards are kept
    os.mkfifo(partial / f"shard-{stuck:05d}.npz.tmp")
    killed_when(cwd, "snakemake --cores 1 data/frames/k400", lambda: (partial / f"shard-{stuck - 1:05d}.npz").is_file())
    (partial / f"shard-{stuck:05d}.npz.tmp").unlink()
    finished = {p: p.stat().st_mtime_ns for p in partial.glob("shard-*.npz")}
    assert len(finished) == stuck and not (cwd / "data" / "frames" / "k400").exists()
    shell(cwd, "snakemake --unlock")
    snakemake(cwd, "data/frames/k400")
    log = (cwd / "logs" / "extract_frames" / "k400.log").read_text()
    assert f"k400: reusing {stuck} of {len(rows)} shards an earlier run decoded" in log
    store = open_store(cwd / "data" / "frames" / "k400")
    kept = ("num_frames", "size", "views", "rate", "format", "sampling")
    assert {k: store.meta[k] for k in kept} == {k: getattr(frames, k) for k in kept}
    write_store([cwd / p for p in paths], tmp_path / "reference", frames, progress=False, skip=train)
    assert np.array_equal(store[scored], open_store(tmp_path / "reference")[scored])

    # Re-encoding the training split, one video at a time in order: the copies made before the stuck one stay.
    stuck = train[len(train) // 2]
    videos = cwd / "data" / "train_videos" / "k400" / "videos"
    target = videos / copy_name(paths[stuck])
    hung = target.with_name(target.name + ".tmp.mp4")
    hung.parent.mkdir(parents=True)
    os.mkfifo(hung)
    copies = lambda: sorted(p for p in videos.rglob("*.mp4") if not p.name.endswith(".tmp.mp4"))  # noqa: E731
    killed_when(
        cwd, "snakemake --cores 1 data/train_videos/k400/index.csv", lambda: len(copies()) == train.index(stuck)
    )
    hung.unlink()
    before = {p: p.stat().st_mtime_ns for p in copies()}
    assert len(before) == train.index(stuck) and not (videos.parent / "index.csv").exists()
    shell(cwd, "snakemake --unlock")
    snakemake(cwd, "data/train_videos/k400/index.csv")
    log = (cwd / "logs" / "train_videos" / "k400.log").read_text()
    assert f"indexed {len(train)} training videos" in log and f"({len(before)} copies an earlier run made" in log
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in before.items())  # kept, not made again
    index = read_index(videos.parent / "index.csv")
    assert len(index) == len(train) and {e["status"] for e in index} == {"ok"}
