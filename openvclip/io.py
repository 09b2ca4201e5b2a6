"""Atomic file writing: every output is written under a temporary name and renamed when complete."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from .errors import MissingInput


def write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """CSV with ``columns`` (extra keys in rows are ignored)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_csv(path: Path, missing: str) -> List[Dict[str, str]]:
    """The rows of a CSV file; ``missing``: the error message when it does not exist."""
    path = Path(path)
    if not path.is_file():
        raise MissingInput(missing)
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
