"""Frame stores: the protocol's temporal views, short-side resize and centre crop, raw and JPEG formats,
unreadable videos listed, nothing half-written."""

import json
import logging

import numpy as np
import pytest
import torch

from openvclip.data.frame_store import open_store
from openvclip.data.frame_writer import FrameSettings, write_store
from openvclip.data.sampling import view_indices
from openvclip.data.videos import decode_views, write_video

from .conftest import released_pyav_clip, released_torchvision_clip


def numbered_video(path, length, height, width):
    """Frame i is flat grey level 4*i (exact under the lossless writer), so decoded frames tell their index.

    decord fails on some tiny frame widths (24, 48, 72 px: a buffer size mismatch); real videos' sizes and
    widths of 32, 64, 80, 96 px decode, so the fixtures use those."""
    frames = np.repeat((4 * np.arange(length, dtype=np.uint8))[:, None, None, None], 3, axis=3)
    write_video(path, np.ascontiguousarray(np.broadcast_to(frames, (length, height, width, 3))))
    return path


def test_views_are_clips_at_the_rate_spread_from_first_to_last_start():
    assert view_indices(100, 4, 10, 3).tolist() == [[0, 10, 20, 30], [35, 45, 55, 65], [69, 79, 89, 99]]
    assert view_indices(100, 4, 10, 1).tolist() == [[35, 45, 55, 65]]  # one view: the centre clip
    # A video shorter than a clip: every view starts at 0 and the last frame repeats.
    assert view_indices(20, 4, 10, 2).tolist() == [[0, 10, 19, 19], [0, 10, 19, 19]]
    with pytest.raises(ValueError, match="no frames"):
        view_indices(0, 4, 10, 1)


def test_decoded_views_hold_the_right_frames_resized_on_the_short_side_and_centre_cropped(tmp_path):
    video = numbered_video(tmp_path / "v.mp4", 60, 48, 64)
    clip = decode_views(video, num_frames=4, rate=5, views=3, size=12)
    assert clip.shape == (12, 12, 12, 3)
    expected = view_indices(60, 4, 5, 3).reshape(-1)
    assert np.abs(clip[:, 6, 6, 0].astype(int) - 4 * expected).max() <= 1


@pytest.mark.parametrize("fmt,threads", [("raw", 1), ("jpeg", 1), ("raw", 3), ("jpeg", 3)])
def test_store_round_trip_and_unreadable_videos(tmp_path, fmt, threads):
    # Several threads decode ahead; rows must still land in manifest order.
    good = [numbered_video(tmp_path / f"v{i}.mp4", 30 + 10 * i, 48, 64) for i in range(3)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    paths = [good[0], broken, good[1], good[2]]
    frames = FrameSettings(num_frames=4, size=16, views=2, rate=3, format=fmt)
    meta = write_store(paths, tmp_path / "store", frames, progress=False, threads=threads)
    assert meta["unreadable"] == [1] and "broken.mp4" in meta["errors"][0]
    store = open_store(tmp_path / "store")
    assert len(store) == 4 and store.shape == (4, 8, 16, 16, 3)
    assert store.valid().tolist() == [True, False, True, True]
    assert not store[1].any()  # kept as black frames so rows stay aligned with the manifest
    for row, path in ((0, good[0]), (2, good[1]), (3, good[2])):
        exact = decode_views(path, 4, 3, 2, 16)
        tolerance = 0 if fmt == "raw" else 3  # JPEG of flat grey frames is near exact
        assert np.abs(store[row].astype(int) - exact.astype(int)).max() <= tolerance
    assert store[[3, 0]].shape == (2, 8, 16, 16, 3) and np.array_equal(store[[3, 0]][1], store[0])
    assert np.array_equal(store[2:4][0], store[2])
    assert not list(tmp_path.glob("*.tmp"))
    assert json.loads((tmp_path / "store" / "meta.json").read_text())["format"] == fmt


def test_jpeg_store_is_much_smaller_than_raw_on_textured_frames(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(1, 56, 56, 3)).astype(np.uint8)
    smooth = np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)  # 224 x 224, blocky texture
    write_video(tmp_path / "t.mp4", np.repeat(smooth, 20, axis=0))
    sizes = {}
    for fmt in ("raw", "jpeg"):
        frames = FrameSettings(num_frames=8, size=224, views=3, rate=2, format=fmt)
        write_store([tmp_path / "t.mp4"], tmp_path / fmt, frames, progress=False)
        sizes[fmt] = sum(p.stat().st_size for p in (tmp_path / fmt).iterdir())
    assert sizes["jpeg"] * 4 < sizes["raw"]


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_videos_only_training_reads_are_not_decoded_into_the_store(tmp_path, fmt):
    from openvclip.data.jobs import extract_frames
    from openvclip.data.manifest import write_manifest

    numbered_video(tmp_path / "a.mp4", 10, 32, 32)
    numbered_video(tmp_path / "b.mp4", 12, 32, 32)
    (tmp_path / "gone.mp4").write_bytes(b"")  # would be unreadable if it were decoded
    rows = [
        {"path": str(tmp_path / name), "label": 0, "classname": "c", "split": split}
        for name, split in (("a.mp4", "test"), ("gone.mp4", "train"), ("b.mp4", "train val"))
    ]
    write_manifest(tmp_path / "m.csv", rows)
    counts = extract_frames(
        tmp_path / "m.csv",
        tmp_path / "store",
        {"format": fmt, "size": 16, "num_frames": 2, "views": 1, "rate": 0},
        progress=False,
    )
    assert counts == {"videos": 3, "train_only_not_decoded": 1, "unreadable": 0}
    store = open_store(tmp_path / "store")
    assert store.valid().tolist() == [True, False, True]  # a train-and-val video is kept
    assert store.meta["skipped"] == [1] and store.meta["unreadable"] == []
    single = write_store(
        [tmp_path / "b.mp4"], tmp_path / "single", FrameSettings(2, 16, views=1, rate=0, format=fmt), progress=False
    )
    assert single["unreadable"] == [] and np.array_equal(store[2], open_store(tmp_path / "single")[0])


def test_only_a_videos_own_fault_makes_it_unreadable(tmp_path, monkeypatch):
    """A bug while decoding (here: resizing raises) stops extraction with its traceback instead of emptying the
    store quietly; a corrupt file, an empty one and a missing one are the videos' faults."""
    import openvclip.data.videos as videos

    (tmp_path / "corrupt.mp4").write_bytes(b"not a video" * 50)
    (tmp_path / "empty.mp4").write_bytes(b"")
    paths = [tmp_path / "corrupt.mp4", tmp_path / "empty.mp4", tmp_path / "missing.mp4"]
    meta = write_store(paths, tmp_path / "store", FrameSettings(2, 16, views=1, rate=0, format="raw"), progress=False)
    assert meta["unreadable"] == [0, 1, 2] and "missing on disk" in meta["errors"][2]
    numbered_video(tmp_path / "v.mp4", 10, 32, 32)

    def broken_resize(*args, **kwargs):
        raise TypeError("a bug in resizing")

    monkeypatch.setattr(videos, "resize_crop", broken_resize)
    with pytest.raises(TypeError, match="a bug in resizing"):
        write_store(
            [tmp_path / "v.mp4"],
            tmp_path / "store2",
            FrameSettings(2, 16, views=1, rate=0, format="raw"),
            progress=False,
        )


def test_a_failed_extraction_leaves_no_store(tmp_path, monkeypatch):
    import openvclip.data.frame_writer as writer

    numbered_video(tmp_path / "v.mp4", 10, 32, 32)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.np, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        write_store(
            [tmp_path / "v.mp4"],
            tmp_path / "store",
            FrameSettings(2, 16, views=1, rate=0, format="jpeg"),
            progress=False,
        )
    assert not (tmp_path / "store").exists() and not (tmp_path / "store.tmp").exists()


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_a_killed_extraction_keeps_its_finished_shards_and_the_rerun_decodes_only_the_rest(
    tmp_path, monkeypatch, caplog, fmt
):
    import openvclip.data.frame_writer as writer

    paths = [numbered_video(tmp_path / f"v{i}.mp4", 12 + i, 32, 32) for i in range(6)]
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 50)
    paths.insert(2, tmp_path / "broken.mp4")  # 7 videos, one unreadable, one only training reads
    settings = dict(frames=FrameSettings(2, 16, views=2, rate=2, format=fmt), progress=False, skip=[5])
    reference = write_store(paths, tmp_path / "reference", **settings)
    assert writer.shard_size(6) == 1  # a small set: one video per shard
    decoded = []
    original = writer._decode_one

    def killed_at_the_fourth(path, **kwargs):
        if len(decoded) == 3:
            raise KeyboardInterrupt  # the job is stopped while decoding the fourth video
        decoded.append(path)
        return original(path, **kwargs)

    monkeypatch.setattr(writer, "_decode_one", killed_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        write_store(paths, tmp_path / "store", **settings)
    assert not (tmp_path / "store").exists()
    kept = sorted(p.name for p in (tmp_path / "store.partial").glob("shard-*.npz"))
    assert kept == ["shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]
    decoded.clear()
    monkeypatch.setattr(writer, "_decode_one", lambda path, **kwargs: decoded.append(path) or original(path, **kwargs))
    caplog.set_level(logging.INFO, logger="openvclip.data")
    meta = write_store(paths, tmp_path / "store", **settings)
    assert "store: reusing 3 of 7 shards an earlier run decoded (3 of 7 videos)" in caplog.text
    assert decoded == [paths[3], paths[4], paths[6]]  # the rest, minus the skipped one
    assert meta == {**reference, "videos": meta["videos"]} and meta["unreadable"] == [2]
    new, old = open_store(tmp_path / "store"), open_store(tmp_path / "reference")
    rows = np.flatnonzero(old.valid())  # a skipped row holds no frames to read
    assert np.array_equal(new.valid(), old.valid()) and np.array_equal(new[rows], old[rows])
    assert not (tmp_path / "store.partial").exists()


def test_a_cut_short_shard_is_decoded_again_and_other_settings_start_over(tmp_path, caplog):
    paths = [numbered_video(tmp_path / f"v{i}.mp4", 12, 32, 32) for i in range(3)]
    partial = tmp_path / "store.partial"
    write_store(paths, tmp_path / "reference", FrameSettings(2, 16, views=1, rate=0, format="raw"), progress=False)
    # What a killed run leaves: its settings and finished shards, one of them cut short (a full disk).
    import openvclip.data.frame_writer as writer

    partial.mkdir()
    settings = {
        "videos": [str(p) for p in paths],
        "skip": [],
        "num_frames": 2,
        "size": 16,
        "views": 1,
        "rate": 0,
        "format": "raw",
        "quality": 90,
        "sampling": "spread",
        "shard_videos": 1,
    }
    (partial / "settings.json").write_text(json.dumps(settings))
    for k in range(3):
        clip = writer._decode_one(paths[k], num_frames=2, rate=0, views=1, size=16, fmt="raw", quality=90)
        writer._save_shard(
            partial / f"shard-{k:05d}.npz",
            {"frames": clip[None], "unreadable": np.zeros(0, int), "errors": np.zeros(0, str)},
        )
    whole = (partial / "shard-00001.npz").read_bytes()
    (partial / "shard-00001.npz").write_bytes(whole[: len(whole) // 2])
    caplog.set_level(logging.INFO, logger="openvclip.data")
    write_store(paths, tmp_path / "store", FrameSettings(2, 16, views=1, rate=0, format="raw"), progress=False)
    printed = caplog.text
    assert "shard-00001.npz: unreadable" in printed and "reusing 2 of 3 shards" in printed
    assert np.array_equal(open_store(tmp_path / "store")[:], open_store(tmp_path / "reference")[:])
    # Shards of other settings (another size) are not mixed in: the store starts over.
    partial.mkdir()
    (partial / "settings.json").write_text(json.dumps({**settings, "size": 8}))
    writer._save_shard(
        partial / "shard-00000.npz",
        {"frames": np.zeros((1, 2, 8, 8, 3), np.uint8), "unreadable": np.zeros(0, int), "errors": np.zeros(0, str)},
    )
    caplog.clear()
    write_store(paths, tmp_path / "store", FrameSettings(2, 16, views=1, rate=0, format="raw"), progress=False)
    assert "reusing" not in caplog.text
    assert np.array_equal(open_store(tmp_path / "store")[:], open_store(tmp_path / "reference")[:])


# -- The released test loader's frames (PySlowFast decoder.py, as Open-VCLIP's testing scripts run it) ----------


@pytest.mark.parametrize("fps", [30.0, 29.97, 25.0, 24.0, 15.0, 60.0])
@pytest.mark.parametrize("length", [40, 100, 129, 250, 301, 900])
def test_released_sampling_takes_the_released_loaders_frames(length, fps):
    pyav = view_indices(length, 8, 16, 3, "released_pyav", fps)
    torchvision = view_indices(length, 8, 16, 3, "released_torchvision", fps)
    for view in range(3):
        assert pyav[view].tolist() == released_pyav_clip(length, fps, view), (length, fps, view)
        assert torchvision[view].tolist() == released_torchvision_clip(length, fps, view), (length, fps, view)


def test_released_sampling_follows_the_frame_rate_and_refuses_nonsense():
    at30 = view_indices(1000, 8, 16, 3, "released_pyav", 30.0)
    at60 = view_indices(1000, 8, 16, 3, "released_pyav", 60.0)
    assert (np.diff(at60[0][:-1]) >= 2 * np.diff(at30[0][:-1]) - 1).all()  # the same seconds, twice the frames
    with pytest.raises(ValueError, match="frame sampling"):
        view_indices(100, 8, 16, 3, "released_decord", 30.0)
    with pytest.raises(ValueError, match="rate > 0"):
        view_indices(100, 8, 0, 3, "released_pyav", 30.0)


def test_released_resizing_is_the_released_transforms():
    """PySlowFast's test transform, step by step: short side to 224 (bilinear, no antialiasing, the long side
    floored), then the centre crop with offsets rounded up."""
    import math

    from openvclip.data.transform import resize_crop

    frames = np.random.default_rng(0).integers(0, 256, (2, 257, 341, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    height, width = x.shape[2:]
    new_w = int(math.floor(width / height * 224))
    x = torch.nn.functional.interpolate(x, size=(224, new_w), mode="bilinear", align_corners=False)
    left = int(math.ceil((new_w - 224) / 2))
    expected = x[:, :, :, left : left + 224].round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(resize_crop(frames, 224, released=True), expected)
    assert not np.array_equal(resize_crop(frames, 224), expected)  # ours antialiases


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"num_frames": 8, "size": 32, "fps": 30}, r"unknown key\(s\) \['fps'\] in config section 'frames'"),
        ({"num_frames": 8}, r"frame settings lack key\(s\) \['size'\]"),
        ({"num_frames": 8, "size": 32, "format": "png"}, r"frame store format must be one of \('raw', 'jpeg'\)"),
        ({"num_frames": 8, "size": "32"}, r"config key 'frames.size' must be int, got '32'"),
    ],
)
def test_frame_settings_refuse_what_they_do_not_know_by_name(settings, message):
    from openvclip.errors import UserError

    with pytest.raises(UserError, match=message):
        FrameSettings.from_dict(settings)


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_part_jobs_decode_their_shards_and_the_gather_assembles_the_unsharded_store(tmp_path, monkeypatch, fmt):
    """Shard jobs (``part``) decode disjoint ranges of the store's shards and leave them in ``<out>.partial``; the
    unsharded call then decodes nothing and writes the store the single job writes, file for file."""
    import openvclip.data.frame_writer as writer

    paths = [numbered_video(tmp_path / f"v{i}.mp4", 12 + i, 32, 32) for i in range(7)]
    settings = dict(frames=FrameSettings(2, 16, views=2, rate=2, format=fmt), progress=False, skip=[5])
    write_store(paths, tmp_path / "single", **settings)
    decoded = []
    original = writer._decode_one
    monkeypatch.setattr(writer, "_decode_one", lambda path, **kwargs: decoded.append(path) or original(path, **kwargs))
    records = [write_store(paths, tmp_path / "store", part=(k, 3), **settings) for k in range(3)]
    assert [r["store_shards"] for r in records] == [[0, 2], [2, 4], [4, 7]]  # 7 shards of one video
    assert sorted(decoded) == sorted(p for i, p in enumerate(paths) if i != 5) and not (tmp_path / "store").exists()
    decoded.clear()
    write_store(paths, tmp_path / "store", **settings)
    assert decoded == []
    for file in sorted(p.name for p in (tmp_path / "single").iterdir()):
        assert (tmp_path / "store" / file).read_bytes() == (tmp_path / "single" / file).read_bytes(), file
    assert not (tmp_path / "store.partial").exists() and not (tmp_path / "store.lock").exists()
