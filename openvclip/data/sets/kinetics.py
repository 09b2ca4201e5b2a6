"""Kinetics-400 (training, closed-set test) and the Kinetics-600 novel classes (zero-shot test).

Annotations: CVDF CSVs ``label,youtube_id,time_start,time_end,split[,is_cc]``; clip files
``<youtube_id>_<start:06d>_<end:06d>.mp4``, found wherever they lie under the videos folder (the CVDF shards mix
classes in flat folders; a local copy may use Open-VCLIP's ``<class>/<clip>.mp4``). Clips listed but absent (some
never downloaded, some lost) are listed and skipped. Clips from the replacement archive win over same-named ones.

K600 novel classes: the K600 classes absent from K400. Matching names naively finds the wrong count: K600 renamed
twelve K400 classes (``dying hair`` -> ``dyeing hair``, ``balloon blowing`` -> ``inflating balloons``, one only
in case: ``passing American football (not in game)``), so names are compared lower-cased after mapping those
renames, which leaves exactly the 220 classes of the literature. Splits: ER-ZSAR's three fixed lists of 160
(as ViFi-CLIP and Open-VCLIP use them; the default) or three seeded draws of 160.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import MissingInput, UserError
from . import Roots, VideoIndex, as_roots, find_files, join_splits

NOVEL_FACTS = Path(__file__).with_name("kinetics600_novel.json")
SPLIT_SOURCES = ("er_zsar", "seeded")


def normalise_name(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().strip('"').replace("_", " ")).lower()


def clip_name(youtube_id: str, start, end) -> str:
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}.mp4"


def read_annotations(path: Path) -> List[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        lacking = {"label", "youtube_id", "time_start", "time_end"} - set(reader.fieldnames or ())
        if lacking:
            raise UserError(
                f"{path} lacks column(s) {sorted(lacking)}; expected the CVDF columns "
                "label,youtube_id,time_start,time_end,split"
            )
        return [{**row, "label": row["label"].strip().strip('"')} for row in reader]


def find_annotation(roots: Roots, name: str) -> Path:
    found = list(find_files(roots, name))
    if not found:
        raise MissingInput(
            f"{name} not found under {roots}: are the Kinetics annotation CSVs among the data set's files?"
        )
    return found[0]


def _index(videos: Roots, replacement: Optional[Path]) -> VideoIndex:
    index = VideoIndex(as_roots(videos))
    if replacement is not None and Path(replacement).exists():
        index.by_name.update(VideoIndex(replacement).by_name)
    return index


def parse(
    videos: Roots, annotations: Roots, splits: Dict[str, str], replacement: Optional[Path] = None
) -> Tuple[List[dict], List[str], Dict[str, str]]:
    """``(rows, classes, missing)`` for ``splits`` (split name -> annotation CSV file name, e.g. ``val: val.csv``).

    Classes: the sorted labels of all given CSVs (Kinetics' usual label order), names as given.
    """
    tables = {split: read_annotations(find_annotation(annotations, name)) for split, name in splits.items()}
    classes = sorted({row["label"] for table in tables.values() for row in table})
    label_of = {c: i for i, c in enumerate(classes)}
    index = _index(videos, replacement)
    rows, missing = [], {}
    for split, table in tables.items():
        for entry in table:
            name = clip_name(entry["youtube_id"], entry["time_start"], entry["time_end"])
            path = index.find(name)
            if path is None:
                missing[name] = split
                continue
            rows.append(
                {"path": str(path), "label": label_of[entry["label"]], "classname": entry["label"], "split": split}
            )
    return rows, classes, missing


def novel_facts() -> dict:
    return json.loads(NOVEL_FACTS.read_text())


def novel_classes(k400: Iterable[str], k600: Iterable[str]) -> List[str]:
    """K600 class names (as K600 spells them) absent from K400, after K600's renames and lower-casing; sorted."""
    renames = {normalise_name(a): normalise_name(b) for a, b in novel_facts()["k400_to_k600_renames"].items()}
    seen = {renames.get(normalise_name(name), normalise_name(name)) for name in k400}
    return sorted({name.strip().strip('"') for name in k600 if normalise_name(name) not in seen}, key=normalise_name)


def novel_splits(
    novel: Sequence[str], source: str = "er_zsar", seed: int = 0, size: int = 160, count: int = 3
) -> List[List[str]]:
    """Three class lists of ``size`` novel classes each: ER-ZSAR's fixed lists or seeded draws."""
    if source == "er_zsar":
        by_key = {normalise_name(n): n for n in novel}
        lists = novel_facts()["er_zsar_test_classes"]
        absent = sorted({c for split in lists for c in split} - {normalise_name(n) for n in novel})
        if absent:
            raise UserError(
                f"ER-ZSAR split classes absent from the novel classes found: {absent[:5]} (are the "
                "K400 and K600 annotation files complete?); or use splits: seeded"
            )
        return [[by_key[c] for c in split] for split in lists]
    if source == "seeded":
        if len(novel) < size:
            raise UserError(f"only {len(novel)} novel classes, cannot draw splits of {size}")
        return [
            sorted(np.random.default_rng([seed, k]).choice(sorted(novel), size, replace=False).tolist())
            for k in range(count)
        ]
    raise UserError(f"unknown K600 split source {source!r}; known: {SPLIT_SOURCES}")


def parse_novel(
    videos: Roots,
    annotations: Roots,
    k400_annotations: Roots,
    videos_from: str = "val",
    split_source: str = "er_zsar",
    seed: int = 0,
    replacement: Optional[Path] = None,
) -> Tuple[List[dict], List[str], Dict[str, str]]:
    """``(rows, classes, missing)``: videos of the novel classes from K600's ``videos_from`` set (``val`` as the
    Open-VCLIP release, ``test`` as ER-ZSAR / ViFi-CLIP); a video's ``split`` lists the splits (``test1``..)
    whose classes include its class. ``classes`` are all novel classes; each split is scored over its own."""
    if videos_from not in ("val", "test"):
        raise UserError(f"videos_from must be 'val' or 'test', got {videos_from!r}")
    k400 = {
        row["label"]
        for name in ("train.csv", "val.csv")
        for row in read_annotations(find_annotation(k400_annotations, name))
    }
    k600_all = {
        row["label"] for name in ("train.csv", "val.csv", "test.csv") for row in _optional_table(annotations, name)
    }
    novel = novel_classes(k400, k600_all)
    facts = novel_facts()
    if len(k400) == 400 and len(k600_all) == 600 and len(novel) != facts["novel_count"]:
        raise UserError(f"found {len(novel)} K600 classes absent from K400, expected {facts['novel_count']}")
    lists = novel_splits(novel, split_source, seed)
    member = {normalise_name(c): [f"test{k + 1}" for k, split in enumerate(lists) if c in split] for c in novel}
    label_of = {normalise_name(c): i for i, c in enumerate(novel)}
    index = _index(videos, replacement)
    rows, missing = [], {}
    for entry in read_annotations(find_annotation(annotations, f"{videos_from}.csv")):
        key = normalise_name(entry["label"])
        if key not in label_of or not member[key]:
            continue
        name = clip_name(entry["youtube_id"], entry["time_start"], entry["time_end"])
        path = index.find(name)
        if path is None:
            missing[name] = join_splits(member[key])
            continue
        rows.append(
            {
                "path": str(path),
                "label": label_of[key],
                "classname": novel[label_of[key]],
                "split": join_splits(member[key]),
            }
        )
    return rows, novel, missing


def _optional_table(roots: Roots, name: str) -> List[dict]:
    found = list(find_files(roots, name))
    return read_annotations(found[0]) if found else []
