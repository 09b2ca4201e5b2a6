"""Atomic file writing: every output is written under a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Sequence

from .errors import MissingInput


def temporary_name(path: Path, keep_suffix: bool = False, tag: str = ".tmp") -> Path:
    """The name ``path`` is written under until complete: ``<name>.tmp``, or ``<name>.tmp<suffix>`` for writers
    that choose the format from the suffix (matplotlib, PyAV)."""
    path = Path(path)
    return path.with_name(path.name + tag + (path.suffix if keep_suffix else ""))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: Path, keep_suffix: bool = False, tag: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (file or folder) to write; when the block completes it replaces
    ``path`` in one rename, so a reader sees the old output or the whole new one, never half of it. On an error
    (or Ctrl-C) the half-written temporary is removed and the error propagates. A killed run's leftover
    temporary folder is removed first (a leftover file is overwritten by the writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path, keep_suffix, tag)
    if tmp.is_dir():
        _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


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
