"""HMDB51: ``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`` (``<video>.avi <id>``; 1 train, 2 test,
0 unused), videos ``<class>/<video>.avi`` once the RAR of per-class RARs is unpacked. Class text: underscores
to spaces."""

from __future__ import annotations

import re
from typing import Dict, List, Sequence, Tuple

from ...errors import MissingInput
from . import Roots, VideoIndex, find_files, join_splits

SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>[123])\.txt$")
TEST_ID = "2"


def class_text(name: str) -> str:
    return name.replace("_", " ")


def parse(
    videos: Roots, annotations: Roots, splits: Sequence[int] = (1, 2, 3)
) -> Tuple[List[dict], List[str], Dict[str, str]]:
    """``(rows, classes, missing)``; a video's ``split`` lists the test splits (``test1``..) it is in."""
    files = {}
    for path in find_files(annotations, "*_test_split*.txt"):
        match = SPLIT_FILE.match(path.name)
        if match and int(match["k"]) in splits:
            files[(match["cls"], int(match["k"]))] = path
    names = sorted({cls for cls, _ in files})
    if not names:
        raise MissingInput(
            f"no <class>_test_split<k>.txt files under {annotations}: is the HMDB51 split "
            "archive (test_train_splits.rar) among the data set's files?"
        )
    for cls in names:
        lacking = [k for k in splits if (cls, k) not in files]
        if lacking:
            raise MissingInput(f"HMDB51 class {cls!r} has no test split file for split(s) {lacking}")
    index = VideoIndex(videos)
    membership, missing = {}, {}
    for (cls, k), path in sorted(files.items()):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) != 2 or fields[1] != TEST_ID:
                continue
            video = index.find(f"{cls}/{fields[0]}")
            if video is None:
                missing.setdefault(f"{cls}/{fields[0]}", set()).add(f"test{k}")
                continue
            membership.setdefault(video, (names.index(cls), set()))[1].add(f"test{k}")
    classes = [class_text(n) for n in names]
    rows = [
        {"path": str(path), "label": label, "classname": classes[label], "split": join_splits(s)}
        for path, (label, s) in sorted(membership.items())
    ]
    return rows, classes, {name: join_splits(s) for name, s in missing.items()}
