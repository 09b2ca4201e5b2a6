"""Manifests: one CSV per data set (video path, label index, class name, split, ...), its class list, and the
videos its annotations list but its files lack (``<manifest>.missing.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence

from ..errors import MissingInput, UserError
from ..io import read_csv, write_csv, write_text

COLUMNS = ("path", "label", "classname", "split")


def write_manifest(path: Path, rows: Sequence[Dict[str, object]], extra: Sequence[str] = ()) -> None:
    """Write rows atomically; ``extra`` names columns beyond the standard four (e.g. object, motion)."""
    write_csv(path, rows, list(COLUMNS) + list(extra))


def read_manifest(path: Path) -> List[Dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"manifest {path} does not exist (run the data preparation rule first)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise UserError(
                f"manifest {path} lacks column(s) {sorted(missing)} (it has {list(reader.fieldnames or ())}); a "
                f"manifest holds at least {list(COLUMNS)}: delete it and rerun the data preparation rule "
                f"(snakemake {path})"
            )
        return list(reader)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    write_text(path, "".join(f"{line}\n" for line in lines))


def read_lines(path: Path) -> List[str]:
    return [line for line in Path(path).read_text().splitlines() if line]


def missing_path(manifest: Path) -> Path:
    return Path(manifest).with_suffix(".missing.csv")


def write_missing(manifest: Path, missing: Mapping[str, str]) -> None:
    """The videos the annotations list but the files lack, each with its split field (as a manifest row's)."""
    write_csv(missing_path(manifest), [{"video": v, "split": s} for v, s in missing.items()], ("video", "split"))


def read_missing(manifest: Path) -> Dict[str, str]:
    path = missing_path(manifest)
    rows = read_csv(
        path, f"{path} does not exist: it is written beside the manifest by the data preparation rule (re-run it)"
    )
    return {row["video"]: row["split"] for row in rows}


def split_counts(fields: Iterable[str], splits: Sequence[str]) -> Dict[str, int]:
    """How many of the split ``fields`` (a row's ``split``: space-separated names) fall in each of ``splits``."""
    counts = dict.fromkeys(splits, 0)
    for field in fields:
        for name in field.split():
            if name in counts:
                counts[name] += 1
    return counts


def labelled(manifest: Path, column: str):
    """``(rows, classnames, labels)`` of a manifest under a labelling column.

    ``classname`` keeps the data set's own class list (``<manifest>.classes.txt``, label indices as written);
    another column (``motion``, ``object_motion``) relabels: its sorted distinct values become the classes.
    """
    import numpy as np

    rows = read_manifest(manifest)
    if column not in rows[0]:
        raise UserError(
            f"manifest {manifest} has no column {column!r} to label by (its columns: {sorted(rows[0])}): set the "
            "experiment's labels: to one of them (experiments.<name>.labels in the config)"
        )
    if column == "classname":
        classes = read_lines(Path(manifest).with_suffix(".classes.txt"))
        labels = np.array([int(r["label"]) for r in rows])
    else:
        classes = sorted({r[column] for r in rows})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[r[column]] for r in rows])
    return rows, classes, labels
