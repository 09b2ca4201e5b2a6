"""Result files: one tidy CSV row per (variant, ratio, data set, split, metric), written by evaluation and read
by the report. The columns live here, below both, so neither imports the other."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Sequence

from .io import read_csv, write_csv

RESULT_COLUMNS = (
    "variant",
    "ratio",
    "dataset",
    "split",
    "metric",
    "value",
    "n_videos",
    "n_classes",
    "n_missing",
    "n_unreadable",
    "config_hash",
)


def write_rows(path: Path, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    """CSV written atomically (temporary name, then rename)."""
    write_csv(path, rows, columns)


def read_rows(path: Path) -> List[Dict[str, str]]:
    return read_csv(path, f"result file {path} does not exist")
