"""Videos lost on the way from a data set's annotations to its scores, and the limit a data set allows.

A video the annotations list is *missing* when the downloaded files lack it (``<manifest>.missing.csv``) and
*unreadable* when its file does not decode (the frame store's ``meta.json`` ``errors``, or the training-video
index's ``error`` column); the rest are *scored* (or trained on). Real copies of Kinetics lose a few percent of
their YouTube clips, so the default limit allows that much; UCF101 and HMDB51 should lose none.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from ..errors import UserError

DEFAULT_MAX_UNREADABLE = 0.05  # the schema's default for datasets.<name>.max_unreadable


@dataclasses.dataclass(frozen=True)
class SplitVideos:
    """One split's videos: those the annotations list, and how they were lost or used."""

    missing: int
    unreadable: int
    used: int

    @property
    def listed(self) -> int:
        return self.missing + self.unreadable + self.used

    @property
    def lost_fraction(self) -> float:
        return (self.missing + self.unreadable) / self.listed if self.listed else 0.0

    def as_dict(self) -> Dict[str, int]:
        return {"listed": self.listed, "missing": self.missing, "unreadable": self.unreadable, "scored": self.used}


def check_losses(
    dataset: str, split: str, videos: SplitVideos, limit: Optional[float], missing_list: str, unreadable_list: str
) -> None:
    """Refuse a split that lost more than ``limit`` (a fraction; None: the default) of its listed videos."""
    limit = DEFAULT_MAX_UNREADABLE if limit is None else float(limit)
    if videos.lost_fraction > limit:
        raise UserError(
            f"data set {dataset}, split {split}: {videos.missing + videos.unreadable} of {videos.listed} listed "
            f"videos are lost ({videos.lost_fraction:.1%}: {videos.missing} missing on disk, listed in "
            f"{missing_list}; {videos.unreadable} unreadable, listed in {unreadable_list}), more than "
            f"datasets.{dataset}.max_unreadable = {limit:g} allows. Fetch or repair them, or raise max_unreadable "
            "in the config to accept the loss (results then count what was lost)."
        )
