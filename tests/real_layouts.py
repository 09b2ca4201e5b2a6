"""Small fixtures in the real layouts of UCF101, HMDB51, Kinetics (K400 and the K600 novel classes) and MSR-VTT.

Each ``write_*`` builder writes the files a data set really ships as (archive names, member paths, list formats)
into a folder, with a few tiny but valid videos per class (12 frames of 24x32, lossless H.264; saved under
``.avi`` names where the set uses them, decord reads by content), and returns a :class:`Layout`: the files
written and what a correct parser must make of them (class texts in label order, the manifest rows keyed by
video file name, the entries listed without a video). Tests serve the files from ``tests.http_server.FileServer``
(``add`` / ``add_tree``) or hand them to the parsers directly.

Departures from the real data, made on purpose so the fixtures exercise the parsers:

- UCF101's three test splits are disjoint (split k tests groups 1-7, 8-14, 15-21); one video is listed in
  ``testlist01`` and ``testlist03`` here to check that a video in several splits is one row.
- One entry per set is listed without a video file (downloads and mirrors do lose files).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import yaml

from openvclip.data.videos import write_video
from tests.rar_writer import rar_bytes, write_rar
from tests.shell import FAST

FRAMES, HEIGHT, WIDTH = 12, 24, 32


@functools.lru_cache(maxsize=None)
def tiny_video(seed: int) -> bytes:
    """The bytes of a valid 12-frame 24x32 mp4 of random pixels (distinct per seed)."""
    frames = np.random.default_rng(seed).integers(0, 256, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "video.mp4"
        write_video(path, frames)
        return path.read_bytes()


class _Seeds:
    """A distinct video per call, so every fixture video has its own bytes."""

    def __init__(self, start: int):
        self.next = start

    def video(self) -> bytes:
        self.next += 1
        return tiny_video(self.next)


@dataclasses.dataclass
class Layout:
    folder: Path
    files: Dict[str, Path]  # what was written: name -> path (archives, lists, CSVs, folders)
    classes: List[str]  # expected class texts, in label order
    rows: Dict[str, Tuple[int, str]]  # expected manifest: video file name -> (label, split field)
    missing: Dict[str, str]  # entries listed in the annotations but without a video -> splits
    videos: Dict[str, bytes] = dataclasses.field(default_factory=dict)  # video file name -> bytes written
    extra: dict = dataclasses.field(default_factory=dict)  # set-specific facts


def _zip(path: Path, files: Mapping[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _tar_gz(path: Path, files: Mapping[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


# -- UCF101 ------------------------------------------------------------------------------------------------------

UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "HandstandPushups", "YoYo")  # classInd order (alphabetical, as real)
UCF_TEXTS = {
    "ApplyEyeMakeup": "apply eye makeup",
    "Archery": "archery",
    "HandstandPushups": "handstand pushups",
    "YoYo": "yoyo",
}
UCF_FILE_PREFIX = {"HandstandPushups": "HandStandPushups"}  # the real quirk: folder and file names differ in case


def write_ucf101(folder: Path, classes: Sequence[str] = UCF_CLASSES, tree: bool = False) -> Layout:
    """``UCF101.rar`` (``UCF-101/<Class>/v_<Class>_gXX_cYY.avi``) and ``UCF101TrainTestSplits-RecognitionTask.zip``
    (``ucfTrainTestlist/classInd.txt``, ``trainlist0k.txt``, ``testlist0k.txt``, CRLF lines as Windows writes
    them). ``classes`` are numbered 1.. in the given order. ``tree``: also the unpacked ``UCF-101/`` folder.

    Per class: ``g01_c01`` in testlist01, ``g08_c01`` in testlist02, ``g15_c01`` in testlist03, ``g22_c01`` in
    no test list (train only). ``ApplyEyeMakeup`` also has ``g01_c02``, listed in testlist01 and testlist03;
    ``YoYo`` (when present) has ``g09_c01`` listed in testlist02 with no file.
    """
    folder = Path(folder)
    seeds = _Seeds(1000)
    videos: Dict[str, bytes] = {}  # member path -> bytes
    tests: Dict[int, List[str]] = {1: [], 2: [], 3: []}
    everything: List[str] = []  # list entries (Class/file.avi) of every listed video
    rows: Dict[str, Tuple[int, str]] = {}
    missing: Dict[str, str] = {}
    for label, cls in enumerate(classes):
        prefix = UCF_FILE_PREFIX.get(cls, cls)
        plan = [("g01_c01", (1,)), ("g08_c01", (2,)), ("g15_c01", (3,)), ("g22_c01", ())]
        if cls == "ApplyEyeMakeup":
            plan.append(("g01_c02", (1, 3)))
        for clip, splits in plan:
            name = f"v_{prefix}_{clip}.avi"
            entry = f"{cls}/{name}"
            videos[f"UCF-101/{entry}"] = seeds.video()
            everything.append(entry)
            for k in splits:
                tests[k].append(entry)
            if splits:
                rows[name] = (label, " ".join(f"test{k}" for k in splits))
        if cls == "YoYo":
            entry = f"{cls}/v_{prefix}_g09_c01.avi"
            tests[2].append(entry)
            everything.append(entry)
            missing[entry] = "test2"
    number = {cls: i + 1 for i, cls in enumerate(classes)}
    lists = {"ucfTrainTestlist/classInd.txt": "".join(f"{number[c]} {c}\r\n" for c in classes)}
    for k in (1, 2, 3):
        lists[f"ucfTrainTestlist/testlist0{k}.txt"] = "".join(f"{e}\r\n" for e in sorted(tests[k]))
        lists[f"ucfTrainTestlist/trainlist0{k}.txt"] = "".join(
            f"{e} {number[e.split('/')[0]]}\r\n" for e in sorted(everything) if e not in tests[k]
        )
    files = {
        "UCF101.rar": write_rar(folder / "UCF101.rar", videos),
        "UCF101TrainTestSplits-RecognitionTask.zip": _zip(
            folder / "UCF101TrainTestSplits-RecognitionTask.zip", {n: t.encode() for n, t in lists.items()}
        ),
    }
    if tree:
        files["UCF-101"] = _tree(folder / "tree", videos) / "UCF-101"
    full_rows = {}
    for member in videos:
        _, cls, name = member.split("/")
        tested = rows[name][1].split() if name in rows else []
        full_rows[name] = (number[cls] - 1, " ".join(sorted(tested + ["full"])))
    return Layout(
        folder,
        files,
        [UCF_TEXTS.get(c, c.lower()) for c in classes],
        rows,
        missing,
        {name.split("/")[-1]: data for name, data in videos.items()},
        {"full_rows": full_rows, "entries": {name.split("/")[-1]: name for name in videos}, "lists": lists},
    )


# -- HMDB51 ------------------------------------------------------------------------------------------------------

HMDB_CLASSES = ("brush_hair", "cartwheel", "ride_bike", "shoot_bow")
# per video: its id in split 1, 2, 3 (1 train, 2 test, 0 unused)
HMDB_PLAN = (
    ("#20_Rhythm_{cls}_u_nm_np1_fr_goo_0.avi", (2, 1, 2)),  # test1 test3 (HMDB names do hold '#', '(' ...)
    ("April_09_{cls}_u_nm_np1_ba_goo_1.avi", (1, 2, 1)),  # test2
    ("Blonde_being_{cls}_h_cm_np1_le_goo_2.avi", (1, 1, 1)),  # train only
    ("Prelinger_{cls}_f_nm_np1_ri_med_3.avi", (0, 0, 0)),  # unused
)


def write_hmdb51(folder: Path, classes: Sequence[str] = HMDB_CLASSES) -> Layout:
    """``hmdb51_org.rar`` (a RAR of ``<class>.rar``, each holding ``<class>/<video>.avi``) and
    ``test_train_splits.rar`` (``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``, lines
    ``<video>.avi <id> `` with the trailing space of the release).

    The first class also lists a video with ids (2, 2, 1) that no archive holds; the second holds a truncated
    video in test1 (``extra["corrupt"]``): it is a manifest row that frame extraction must report.
    """
    folder = Path(folder)
    seeds = _Seeds(2000)
    inner: Dict[str, bytes] = {}
    splits: Dict[str, bytes] = {}
    rows: Dict[str, Tuple[int, str]] = {}
    videos: Dict[str, bytes] = {}
    missing: Dict[str, str] = {}
    corrupt: List[str] = []
    for label, cls in enumerate(sorted(classes)):
        plan = [(pattern.format(cls=cls), ids, True) for pattern, ids in HMDB_PLAN]
        if label == 0:
            plan.append((f"lost_{cls}_f_cm_np1_fr_bad_9.avi", (2, 2, 1), False))
        if label == 1:
            plan.append((f"cut_{cls}_f_cm_np1_fr_bad_8.avi", (2, 1, 1), True))
        members = {}
        for name, ids, present in plan:
            if present:
                members[f"{cls}/{name}"] = videos[name] = seeds.video()
                if name.startswith("cut_"):
                    members[f"{cls}/{name}"] = videos[name] = videos[name][: len(videos[name]) // 3]
                    corrupt.append(name)
            tested = [k for k in (1, 2, 3) if ids[k - 1] == 2]
            if tested and present:
                rows[name] = (label, " ".join(f"test{k}" for k in tested))
            elif tested:
                missing[f"{cls}/{name}"] = " ".join(f"test{k}" for k in tested)
        inner[f"{cls}.rar"] = rar_bytes(members)
        for k in (1, 2, 3):
            text = "".join(f"{name} {ids[k - 1]} \n" for name, ids, _ in plan)
            splits[f"testTrainMulti_7030_splits/{cls}_test_split{k}.txt"] = text.encode()
    files = {
        "hmdb51_org.rar": write_rar(folder / "hmdb51_org.rar", inner),
        "test_train_splits.rar": write_rar(folder / "test_train_splits.rar", splits),
    }
    return Layout(
        folder,
        files,
        [c.replace("_", " ") for c in sorted(classes)],
        rows,
        missing,
        videos,
        {"inner": sorted(inner), "corrupt": corrupt},
    )


# -- Kinetics-400 ------------------------------------------------------------------------------------------------

K400_HEADER = "label,youtube_id,time_start,time_end,split,is_cc"


def kinetics_csv(entries: Sequence[Tuple[str, str, int, int, str]]) -> str:
    """CVDF annotation CSV text: the label quoted, as the release writes it."""
    return (
        K400_HEADER
        + "\n"
        + "".join(f'"{label}",{ytid},{start},{end},{split},0\n' for label, ytid, start, end, split in entries)
    )


def clip(ytid: str, start: int, end: int) -> str:
    return f"{ytid}_{start:06d}_{end:06d}.mp4"


# (label, youtube id, start, end); deliberately not in class order
K400_TRAIN = (
    ("zumba", "-aBcD3fGh_I", 30, 40),
    ("abseiling", "--07WQ2iBlw", 1, 11),
    ("passing American football (in game)", "x1Y2z3A4b5C", 144, 154),
    ("air drumming", "0123456789a", 0, 10),
    ("abseiling", "Zz_9-yy8Xx7", 5, 15),
)
K400_VAL = (
    ("air drumming", "b-9_aAZz019", 12, 22),
    ("abseiling", "VAL0abseil1", 0, 10),
    ("passing American football (in game)", "VAL1passAF2", 236, 246),
    ("zumba", "VAL2zumba03", 3, 13),  # broken in its shard, good in the replacement archive
    ("zumba", "VAL3lostzz4", 20, 30),  # listed, in no shard
)
K400_CLASSES = ["abseiling", "air drumming", "passing American football (in game)", "zumba"]


def write_kinetics(
    folder: Path, base_url: str = "https://s3.amazonaws.com/kinetics/400", train_archives: int = 1
) -> Layout:
    """CVDF Kinetics-400: ``annotations/train.csv`` and ``annotations/val.csv``; shards ``train/part_0.tar.gz``
    (to ``part_<train_archives - 1>``, two clips each when there are several), ``val/part_0.tar.gz``,
    ``val/part_1.tar.gz`` holding flat ``<ytid>_<start:06d>_<end:06d>.mp4`` clips of mixed classes; the path
    lists ``k400_train_path.txt`` / ``k400_val_path.txt`` naming the shards under ``base_url``;
    ``replacement_for_corrupted_k400.tgz`` (``replacement_for_corrupted_k400/<clip>.mp4``).

    One val clip is a broken file in its shard and a good one in the replacement archive; one is in no shard.
    """
    folder = Path(folder)
    seeds = _Seeds(3000)
    train_table = list(K400_TRAIN)
    if train_archives > 1:
        train_table += [
            (K400_CLASSES[i % len(K400_CLASSES)], _ytid("TRN", i), i, i + 10)
            for i in range(2 * train_archives - len(K400_TRAIN))
        ]
    videos = {clip(y, s, e): seeds.video() for _, y, s, e in train_table + list(K400_VAL)}
    broken, lost = clip(*K400_VAL[3][1:]), clip(*K400_VAL[4][1:])
    val_clips = [clip(y, s, e) for _, y, s, e in K400_VAL]
    train_clips = [clip(y, s, e) for _, y, s, e in train_table]
    per = -(-len(train_clips) // train_archives)
    shards = {
        **{
            f"train/part_{j}.tar.gz": {c: videos[c] for c in train_clips[j * per : (j + 1) * per]}
            for j in range(train_archives)
        },
        "val/part_0.tar.gz": {c: videos[c] for c in val_clips[:2]},
        "val/part_1.tar.gz": {val_clips[2]: videos[val_clips[2]], broken: b"\x00\x00\x00\x18ftypmp42 truncated"},
    }
    files = {name: _tar_gz(folder / name, members) for name, members in shards.items()}
    files["replacement_for_corrupted_k400.tgz"] = _tar_gz(
        folder / "replacement_for_corrupted_k400.tgz", {f"replacement_for_corrupted_k400/{broken}": videos[broken]}
    )
    for split in ("train", "val"):
        listing = folder / f"k400_{split}_path.txt"
        listing.write_text("".join(f"{base_url}/{name}\n" for name in sorted(shards) if name.startswith(split)))
        files[listing.name] = listing
    for split, table in (("train", train_table), ("val", K400_VAL)):
        path = folder / "annotations" / f"{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kinetics_csv([(label, y, s, e, split) for label, y, s, e in table]))
        files[f"{split}.csv"] = path
    rows = {
        clip(y, s, e): (K400_CLASSES.index(label), split)
        for split, table in (("train", train_table), ("val", K400_VAL))
        for label, y, s, e in table
    }
    missing = {lost: rows.pop(lost)[1]}
    del videos[lost]
    return Layout(folder, files, list(K400_CLASSES), rows, missing, videos, {"broken": broken})


def kinetics_files(urls: Mapping[str, str]) -> Dict[str, dict]:
    """The ``files:`` of a ``kinetics`` data set entry for a :func:`write_kinetics` layout served over HTTP
    (``urls``: what ``FileServer.add_tree`` returned for its folder)."""
    return {
        "videos_train": {"url_list": urls["k400_train_path.txt"]},
        "videos_val": {"url_list": urls["k400_val_path.txt"]},
        "replacement": urls["replacement_for_corrupted_k400.tgz"],
        "train_csv": urls["annotations/train.csv"],
        "val_csv": urls["annotations/val.csv"],
    }


# -- Kinetics-600 novel classes ----------------------------------------------------------------------------------


def _ytid(prefix: str, i: int) -> str:
    return f"{prefix}{i:09d}"[:11]


def write_kinetics600(
    folder: Path,
    k400_classes: Sequence[str],
    k600_classes: Sequence[str],
    val_videos: Sequence[str],
    test_videos: Sequence[str],
) -> Layout:
    """K400 ``k400/train.csv`` + ``k400/val.csv`` and K600 ``k600/{train,val,test}.csv``, one clip row per class
    of the full class lists (so ER-ZSAR's splits resolve); videos only for the K600 classes named in
    ``val_videos`` (local-copy layout ``videos/<class>/<clip>.mp4``) and ``test_videos`` (flat
    ``videos/test/<clip>.mp4``). ``extra``: the val and test clip name of every K600 class.
    """
    folder = Path(folder)
    seeds = _Seeds(4000)
    files: Dict[str, Path] = {}
    for group, classes, splits in (
        ("k400", k400_classes, ("train", "val")),
        ("k600", k600_classes, ("train", "val", "test")),
    ):
        for s, split in enumerate(splits):
            entries = [(label, _ytid(f"{group[1]}{s}", i), 10, 20, split) for i, label in enumerate(classes)]
            path = folder / group / f"{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(kinetics_csv(entries))
            files[f"{group}/{split}.csv"] = path
    val_clip = {label: clip(_ytid("61", i), 10, 20) for i, label in enumerate(k600_classes)}
    test_clip = {label: clip(_ytid("62", i), 10, 20) for i, label in enumerate(k600_classes)}
    videos = {}
    for label in val_videos:
        path = folder / "videos" / label / val_clip[label]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(videos.setdefault(val_clip[label], seeds.video()))
    for label in test_videos:
        path = folder / "videos" / "test" / test_clip[label]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(videos.setdefault(test_clip[label], seeds.video()))
    files["videos"] = folder / "videos"
    return Layout(folder, files, [], {}, {}, videos, {"val_clip": val_clip, "test_clip": test_clip})


# -- MSR-VTT -----------------------------------------------------------------------------------------------------

MSRVTT_ROWS = (  # (key, vid_key, video_id, sentence), CSV order (not sorted)
    ("ret0", "msr7579", "video7579", "a girl wearing red top and black trouser is putting a sweater on a dog"),
    ("ret1", "msr7725", "video7725", "young people sit around the edges of a room clapping, and playing music"),
    ("ret2", "msr9258", "video9258", "a person is connecting something to system"),
    ("ret3", "msr7365", "video7365", "a little girl does gymnastics"),
)
MSRVTT_LOST = "video9258"


def write_msrvtt(folder: Path, index_column: bool = False) -> Layout:
    """``msrvtt_data.zip`` (``msrvtt_data/MSRVTT_JSFUSION_test.csv``: ``key,vid_key,video_id,sentence``; with
    ``index_column`` a leading unnamed pandas index column too) and ``MSRVTT.zip``
    (``MSRVTT/videos/all/videoN.mp4``, also holding videos the test CSV does not list). ``video9258`` is listed
    but not in the zip."""
    folder = Path(folder)
    seeds = _Seeds(5000)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(([""] if index_column else []) + ["key", "vid_key", "video_id", "sentence"])
    for i, row in enumerate(MSRVTT_ROWS):
        writer.writerow(([i] if index_column else []) + list(row))
    listed = [video_id for _, _, video_id, _ in MSRVTT_ROWS if video_id != MSRVTT_LOST]
    videos = {f"{v}.mp4": seeds.video() for v in listed + ["video0", "video6513"]}
    files = {
        "msrvtt_data.zip": _zip(
            folder / "msrvtt_data.zip", {"msrvtt_data/MSRVTT_JSFUSION_test.csv": text.getvalue().encode()}
        ),
        "MSRVTT.zip": _zip(folder / "MSRVTT.zip", {f"MSRVTT/videos/all/{n}": d for n, d in videos.items()}),
    }
    rows = {f"{v}.mp4": (i, "test") for i, v in enumerate(listed)}
    captions = {f"{video_id}.mp4": sentence for _, _, video_id, sentence in MSRVTT_ROWS}
    return Layout(folder, files, listed, rows, {MSRVTT_LOST: "test"}, videos, {"captions": captions, "order": listed})


def manifest(rows: Sequence[dict]) -> Dict[str, Tuple[int, str]]:
    """Parser rows as ``{video file name: (label, split field)}``, comparable with :attr:`Layout.rows`."""
    names = [Path(r["path"]).name for r in rows]
    assert len(set(names)) == len(names), f"duplicate rows: {names}"
    return {Path(r["path"]).name: (r["label"], r["split"]) for r in rows}


def contents(rows: Sequence[dict]) -> Dict[str, bytes]:
    return {Path(r["path"]).name: Path(r["path"]).read_bytes() for r in rows}


# -- A config of real-layout sets served over loopback HTTP -----------------------------------------------------


def real_config(http_server, files: Path) -> dict:
    hmdb = write_hmdb51(files / "hmdb")
    k400 = write_kinetics(files / "k400", base_url=http_server.url("k400").rstrip("/"))
    hmdb_urls = http_server.add_tree(hmdb.folder, prefix="hmdb")
    k400_urls = http_server.add_tree(k400.folder, prefix="k400")
    config = yaml.safe_load(FAST.read_text())
    frames = {"format": "jpeg", "size": 32, "views": 2, "rate": 2}
    config["datasets"] = {
        # The tiny layouts lose 1 or 2 of a split's 4 to 6 videos on purpose: allow it (the default is 5%).
        "k400": {
            "format": "kinetics",
            "protocol": "closedset",
            "frames": frames,
            "max_unreadable": 0.5,
            "files": kinetics_files(k400_urls),
        },
        "hmdb": {
            "format": "hmdb51",
            "protocol": "zeroshot",
            "frames": frames,
            "max_unreadable": 0.5,
            "files": {
                "videos": [
                    {"url": http_server.url("hmdb/moved-away.rar")},  # a dead link first: the next one is used
                    {"url": hmdb_urls["hmdb51_org.rar"]},
                ],
                "splits": hmdb_urls["test_train_splits.rar"],
            },
        },
    }
    config["train_set"] = "k400"
    config["variants"] = {
        "frozen": {"objective": "frozen", "temporal": False},
        "openvclip": {"objective": "openvclip", "temporal": True},
    }
    config["report"] = {"method": "openvclip", "baseline": "frozen"}
    config["train"].update(batch_size=4, epochs=1)
    config["experiments"] = {"main": {"labels": "classname", "seeds": [0]}}
    config["study"] = []
    return config, hmdb
