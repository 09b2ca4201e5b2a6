"""Manifests: one CSV per data set (video path, label index, class name, split, ...) and its class list."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Sequence

from ..errors import MissingInput, UserError
from ..io import write_csv, write_text

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
            raise UserError(f"manifest {path} lacks column(s) {sorted(missing)}; expected at least {COLUMNS}")
        return list(reader)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    write_text(path, "".join(f"{line}\n" for line in lines))


def read_lines(path: Path) -> List[str]:
    return [line for line in Path(path).read_text().splitlines() if line]
