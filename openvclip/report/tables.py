"""Result tables: the collected rows of many result files, and the value of one row (no model code, so report
rules start fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..errors import UserError
from ..results import RESULT_COLUMNS, read_rows, write_rows


def collect(inputs: Sequence[Path], out: Path, extra: Optional[Sequence[Mapping[str, str]]] = None) -> int:
    """Concatenate result CSVs, optionally adding constant columns per input (e.g. experiment, seed)."""
    if extra is not None and len(extra) != len(inputs):
        raise ValueError(f"collect got {len(inputs)} inputs but {len(extra)} extra-column sets")
    rows, columns = [], list(RESULT_COLUMNS)
    for i, path in enumerate(inputs):
        added = dict(extra[i]) if extra else {}
        columns += [key for key in added if key not in columns]
        rows += [{**row, **added} for row in read_rows(path)]
    write_rows(out, rows, columns)
    return len(rows)


def value(rows: Sequence[Mapping[str, str]], **match) -> Optional[float]:
    """The value of the one row matching ``match`` (ratio compared as a number), or None."""
    found = [
        r
        for r in rows
        if all((abs(float(r[k]) - float(v)) < 1e-9) if k == "ratio" else str(r[k]) == str(v) for k, v in match.items())
    ]
    if len(found) > 1:
        raise UserError(f"{len(found)} rows match {match}; add keys to pick one")
    return float(found[0]["value"]) if found else None
