"""Re-encoding the training videos once: size, keyframes, resuming per video, unreadable videos listed and
skipped, and training counting what it skipped."""

import csv
import os

import numpy as np
import pytest

from openvclip.data.manifest import write_manifest, write_missing
from openvclip.data.train_videos import Reencoding, read_index, reencode_videos
from openvclip.data.videos import write_video
from openvclip.errors import UserError
from openvclip.train import TrainConfig
from openvclip.train.jobs import training_clips


def keyframes(path):
    import av

    with av.open(str(path)) as container:
        return [i for i, packet in enumerate(container.demux(video=0)) if packet.size and packet.is_keyframe]


@pytest.fixture
def manifest(tmp_path):
    """Four training videos (one 96 x 128, one already small, one corrupt, one gone since the manifest was
    written), a test video, and one more training video the annotations list but the files lacked."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw"
    y, x = np.mgrid[0:96, 0:128]
    moving = np.stack([np.stack([(x + 3 * t) % 256, (y + 2 * t) % 256, (x + y) % 256], -1) for t in range(40)])
    write_video(raw / "big.mp4", moving.astype(np.uint8), fps=25)  # smooth motion: P-frames pay off
    write_video(raw / "small.mp4", rng.integers(0, 256, size=(20, 32, 48, 3), dtype=np.uint8), fps=30)
    write_video(raw / "test.mp4", rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8))
    (raw / "corrupt.mp4").write_bytes(os.urandom(5000))
    rows = [
        {"path": str(raw / f"{name}.mp4"), "label": i % 2, "classname": f"c{i % 2}", "split": split}
        for i, (name, split) in enumerate(
            [("big", "train"), ("test", "test"), ("small", "train"), ("corrupt", "train"), ("missing", "train")]
        )
    ]
    path = tmp_path / "m.csv"
    write_manifest(path, rows)
    (tmp_path / "m.classes.txt").write_text("c0\nc1\n")
    write_missing(path, {"never_downloaded": "train", "lost_test": "test"})
    return path


def run(manifest, threads=1, **settings):
    folder = manifest.parent
    counts = reencode_videos(
        manifest,
        folder / "videos",
        folder / "index.csv",
        Reencoding(**{"short_side": 64, "keyframe_interval": 8, **settings}),
        threads=threads,
        progress=False,
    )
    return counts, {os.path.basename(e["source"]): e for e in read_index(folder / "index.csv")}


def test_training_videos_are_shrunk_with_frequent_keyframes_and_the_bad_ones_listed(manifest):
    counts, index = run(manifest)
    assert set(index) == {"big.mp4", "small.mp4", "corrupt.mp4", "missing.mp4"}  # the train split only
    assert counts["videos"] == 4 and counts["unreadable"] == 2
    big, small = index["big.mp4"], index["small.mp4"]
    assert (int(big["height"]), int(big["width"])) == (64, 86)  # short side 64, even sides, aspect kept
    assert (int(small["height"]), int(small["width"])) == (32, 48)  # never enlarged
    assert int(big["frames"]) == 40 and float(big["fps"]) == 25.0 and int(small["frames"]) == 20
    assert keyframes(big["path"]) == [0, 8, 16, 24, 32]
    assert index["missing.mp4"]["status"] == "unreadable" and "missing on disk" in index["missing.mp4"]["error"]
    assert index["corrupt.mp4"]["status"] == "unreadable" and index["corrupt.mp4"]["error"]
    assert not list((manifest.parent / "videos").rglob("*.tmp.mp4"))


def test_a_rerun_redoes_only_the_unfinished_videos_and_threads_change_nothing(manifest):
    _, first = run(manifest)
    kept = os.stat(first["big.mp4"]["path"])
    os.unlink(first["small.mp4"]["path"])  # as if the job had been killed before this one
    _, second = run(manifest, threads=2)
    assert os.stat(first["big.mp4"]["path"]).st_mtime_ns == kept.st_mtime_ns  # not redone
    assert os.path.isfile(second["small.mp4"]["path"])
    assert second == first


def test_short_side_zero_keeps_the_videos_as_they_are(manifest):
    _, index = run(manifest, short_side=0)
    source = manifest.parent / "raw" / "small.mp4"
    assert open(index["small.mp4"]["path"], "rb").read() == source.read_bytes()
    assert index["small.mp4"]["path"] != str(source)  # a copy (or link) inside the training-video folder


def test_training_skips_and_counts_the_unreadable_videos(manifest):
    run(manifest)
    cfg = TrainConfig(crop_size=32, jitter_scales=[32, 36], num_frames=4, sampling_rate=2)
    index = manifest.parent / "index.csv"
    # 3 of the train split's 5 listed videos are lost: 1 missing from the files, 2 unreadable (60%).
    with pytest.raises(UserError) as refused:
        training_clips(index, manifest, "classname", cfg)  # the default limit, 5%
    message = str(refused.value)
    assert "split train: 3 of 5 listed videos are lost (60.0%: 1 missing on disk" in message
    assert str(manifest.parent / "m.missing.csv") in message and str(index) in message
    assert "max_unreadable = 0.05" in message
    with pytest.raises(UserError):
        training_clips(index, manifest, "classname", cfg, max_unreadable=0.59)
    dataset, counts = training_clips(index, manifest, "classname", cfg, max_unreadable=0.6)
    assert len(dataset) == 2 and counts["train_videos"] == 2 and counts["train_videos_skipped"] == 2
    assert counts["train_videos_missing"] == 1
    assert any("missing.mp4: missing on disk" in e for e in counts["train_videos_skipped_examples"])
    assert sorted(dataset.labels) == [0, 0]  # big (row 0) and small (row 2)
    clip, _ = dataset[(1, 0)]
    assert clip.shape == (4, 3, 32, 32)


def test_an_index_of_nothing_readable_is_refused(manifest, tmp_path):
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if os.path.basename(r["path"]) in ("corrupt.mp4", "test.mp4")]
    write_manifest(tmp_path / "bad.csv", rows)
    (tmp_path / "bad.classes.txt").write_text("c0\nc1\n")
    reencode_videos(tmp_path / "bad.csv", tmp_path / "v", tmp_path / "bad_index.csv", Reencoding(), progress=False)
    with pytest.raises(ValueError, match="none of the 1 training videos"):
        training_clips(tmp_path / "bad_index.csv", tmp_path / "bad.csv", "classname", TrainConfig())


def test_shard_jobs_parts_joined_are_the_unsharded_index(manifest):
    """Three part jobs (data/shards.py) re-encode their ranges of the training videos; joining their part indexes
    gives the file the single job writes, byte for byte, and parts that do not cover the videos are refused."""
    from openvclip.data.jobs import reencode_train_videos

    folder = manifest.parent
    settings = {"short_side": 64, "keyframe_interval": 8}
    reencode_train_videos(manifest, folder / "one", folder / "single.csv", settings, progress=False)
    parts = [folder / f"part{k}.csv" for k in range(3)]
    for k, part in enumerate(parts):
        reencode_train_videos(manifest, folder / "videos", part, settings, progress=False, part=(k, 3))
    assert [len(read_index(p)) for p in parts] == [1, 1, 2]  # the 4 training rows, cut in 3 contiguous ranges
    counts = reencode_train_videos(manifest, folder / "videos", folder / "joined.csv", settings, parts=parts)
    assert counts["videos"] == 4 and counts["unreadable"] == 2 and counts["parts"] == 3
    single, joined = read_index(folder / "single.csv"), read_index(folder / "joined.csv")
    assert [{**e, "path": os.path.basename(e["path"])} for e in joined] == [
        {**e, "path": os.path.basename(e["path"])} for e in single
    ]
    with pytest.raises(ValueError, match="the 2 part indexes hold 2 rows, not the 4 training videos"):
        reencode_train_videos(manifest, folder / "videos", folder / "bad.csv", settings, parts=parts[:2])
