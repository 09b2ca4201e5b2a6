"""UCF101: ``classInd.txt`` and ``testlist0{1,2,3}.txt`` of the official splits, videos
``<Class>/v_<Class>_gXX_cYY.avi``.

Quirk: the folder ``HandstandPushups`` holds files named ``v_HandStandPushups_*``; the split lists name the
folder as it is, so entries are resolved by folder and file name as listed, case-insensitively.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ...errors import MissingInput, UserError
from . import Roots, VideoIndex, find_files, join_splits

# Where the released Open-VCLIP label file (zs_label_db/ucf101-index2cls.json) names a class otherwise than the
# CamelCase split gives: the text every published number was scored with.
RELEASED_NAMES = {"YoYo": "yoyo"}


def class_text(name: str) -> str:
    """``ApplyEyeMakeup`` -> ``apply eye makeup``; runs of capitals stay one word; the released label file's
    names where it differs (``YoYo`` -> ``yoyo``). Lower case: CLIP's tokenizer lower-cases anyway."""
    if name in RELEASED_NAMES:
        return RELEASED_NAMES[name]
    return " ".join(re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z]+|[0-9]+", name)).lower()


def _find_file(roots: Roots, name: str) -> Path:
    found = [p for p in find_files(roots, "*") if p.name.lower() == name.lower()]
    if not found:
        raise MissingInput(
            f"{name} not found under {roots}: is the UCF101 split archive "
            "(UCF101TrainTestSplits-RecognitionTask.zip) among the data set's files?"
        )
    return found[0]


def parse(
    videos: Roots, annotations: Roots, splits: Sequence[int] = (1, 2, 3), full: bool = False
) -> Tuple[List[dict], List[str], Dict[str, str]]:
    """``(rows, classes, missing)``: test-split membership ``test1``..``test3`` (and ``full`` for every video)."""
    folders = {}
    for line in _find_file(annotations, "classInd.txt").read_text().splitlines():
        if line.strip():
            index, folder = line.split()
            folders[folder.lower()] = (int(index) - 1, folder)  # classInd is 1-based
    classes = [class_text(folder) for _, folder in sorted(folders.values())]
    index = VideoIndex(videos)
    membership, missing = {}, {}
    for k in splits:
        for line in _find_file(annotations, f"testlist0{k}.txt").read_text().splitlines():
            entry = line.strip().split(" ")[0]
            if not entry:
                continue
            folder = entry.replace("\\", "/").split("/")[0]
            if folder.lower() not in folders:
                raise UserError(f"testlist0{k}.txt names class folder {folder!r}, absent from classInd.txt")
            path = index.find(entry)
            if path is None:
                missing.setdefault(entry, set()).add(f"test{k}")
                continue
            membership.setdefault(path, (folders[folder.lower()][0], set()))[1].add(f"test{k}")
    if full:
        for tail, path in index.by_tail.items():
            folder = tail.split("/")[0]
            if folder in folders:
                membership.setdefault(path, (folders[folder][0], set()))[1].add("full")
    rows = [
        {"path": str(path), "label": label, "classname": classes[label], "split": join_splits(names)}
        for path, (label, names) in sorted(membership.items())
    ]
    return rows, classes, {name: join_splits(s) for name, s in missing.items()}
