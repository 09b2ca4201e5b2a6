"""The per-step training log, ``train_log.csv`` (:data:`LOG_COLUMNS`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

LOG_COLUMNS = ("epoch", "step", "lr", "alpha", "loss", "loss_interpolated", "loss_distill", "grad_norm", "seconds")


class CsvLog:
    """Appends rows; on resume, drops rows after the checkpoint's step so the log matches the weights."""

    def __init__(self, path: Path, resume_step: Optional[int]):
        self.path = path
        rows = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow(row)
