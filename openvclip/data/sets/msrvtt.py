"""MSR-VTT 1k-A test (zero-shot retrieval): ``MSRVTT_JSFUSION_test.csv`` (``key,vid_key,video_id,sentence``,
1,000 rows), videos ``MSRVTT/videos/all/videoN.mp4``. One caption per video."""

from __future__ import annotations

import csv
from typing import Dict, List, Tuple

from ...errors import MissingInput, UserError
from . import Roots, VideoIndex, find_files

CSV_NAME = "MSRVTT_JSFUSION_test.csv"
COLUMNS = ("video_id", "sentence")


def parse(videos: Roots, annotations: Roots) -> Tuple[List[dict], List[str], Dict[str, str]]:
    found = list(find_files(annotations, CSV_NAME))
    if not found:
        raise MissingInput(f"{CSV_NAME} not found under {annotations}: is msrvtt_data.zip among the data set's files?")
    with open(found[0], newline="") as f:
        reader = csv.DictReader(f)
        lacking = set(COLUMNS) - set(reader.fieldnames or ())
        if lacking:
            raise UserError(f"{found[0]} lacks column(s) {sorted(lacking)}")
        entries = list(reader)
    index = VideoIndex(videos)
    rows, missing = [], {}
    for entry in entries:
        path = index.find(f"{entry['video_id']}.mp4")
        if path is None:
            missing[entry["video_id"]] = "test"
            continue
        rows.append(
            {
                "path": str(path),
                "label": len(rows),
                "classname": entry["video_id"],
                "split": "test",
                "caption": entry["sentence"].strip(),
            }
        )
    return rows, [r["classname"] for r in rows], missing
