"""Markdown formatting for the summary: numbers, tables, split names, and the table of videos per split."""

from __future__ import annotations

import math
import statistics
from typing import Dict, Mapping, Optional, Sequence

from .curves import reported, reported_split
from .tables import value


def fmt(x: Optional[float], digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def split_words(split: Optional[str]) -> str:
    return {"mean": "mean of the test splits", "test": "test split", "val": "validation split"}.get(split, "n/a")


def mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt(values[0])
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f}"


def reported_text(rows, dataset: str, metric: str = "top1", **match) -> str:
    """:func:`~.curves.reported` formatted, with `` ± std`` over the test splits where the set has several."""
    mean = reported(rows, dataset, metric, **match)
    if reported_split(rows, dataset) == "mean" and mean is not None:
        return f"{fmt(mean)} ± {fmt(value(rows, dataset=dataset, split='std', metric=metric, **match))}"
    return fmt(mean)


def _count(text) -> Optional[int]:
    return None if text in (None, "") else int(text)


def video_counts(rows) -> Dict[str, Dict[str, Dict[str, Optional[int]]]]:
    """{data set: {split: {listed, missing, unreadable, scored}}} from result rows: the splits scored one by one
    (not their mean/std), read off the first row of each (every variant and ratio scores the same videos).
    A count a result file lacks (written before it was recorded) is None, never a guess."""
    out: Dict[str, Dict[str, Dict[str, Optional[int]]]] = {}
    for row in rows:
        if row["split"] in ("mean", "std") or row["split"] in out.get(row["dataset"], {}):
            continue
        scored, missing, unreadable = (_count(row.get(k)) for k in ("n_videos", "n_missing", "n_unreadable"))
        listed = None if None in (scored, missing, unreadable) else scored + missing + unreadable
        out.setdefault(row["dataset"], {})[row["split"]] = {
            "listed": listed,
            "missing": missing,
            "unreadable": unreadable,
            "scored": scored,
        }
    return out


def videos_table(counts: Mapping[str, Mapping[str, Mapping[str, Optional[int]]]]) -> str:
    body = [
        [dataset, split]
        + ["not recorded" if c[k] is None else str(c[k]) for k in ("listed", "missing", "unreadable", "scored")]
        for dataset, splits in counts.items()
        for split, c in splits.items()
    ]
    return table(["data set", "split", "listed", "missing on disk", "unreadable", "scored"], body)
