"""What DVC reads beside the summary: the headline numbers of metrics.json (``dvc metrics``) and the trade-off
points of tradeoff.csv (``dvc plots``)."""

from __future__ import annotations

from typing import Dict, List, Mapping

from ..errors import UserError
from .checks import headline
from .curves import ratios_of, reported, reported_split
from .markdown import video_counts
from .tables import value


def metrics_of(rows, spec: Mapping) -> dict:
    """Headline numbers for ``dvc metrics``: {variant: {which: {"ratio": r, "<set>_top1": value, ...}}} on the
    reported splits (with ``_std`` over the test splits where a set has several); ``which`` is ``trained`` (r=0),
    ``test_ratio`` (the configured one), ``val_chosen`` or, for a variant with one ratio, ``only``. Keys hold no
    dots: DVC joins nested keys with them. Key ``videos``: :func:`video_counts`."""
    if "videos" in spec["variants"]:
        raise UserError("a variant is named 'videos', the key of metrics.json's video counts: rename the variant")
    out: Dict[str, dict] = {"videos": video_counts(rows)}
    sets = [(d, "top1") for d in [spec["train_set"]] + list(spec["zeroshot"])]
    sets += [(d, "t2v_r1") for d in spec.get("retrieval", [])]
    for row in headline(rows, spec)[0]:
        values = {"ratio": row["ratio"]}
        for d, metric in sets:
            match = dict(variant=row["variant"], ratio=row["ratio"])
            values[f"{d}_{metric}"] = reported(rows, d, metric, **match)
            if reported_split(rows, d) == "mean":
                values[f"{d}_{metric}_std"] = value(rows, dataset=d, split="std", metric=metric, **match)
        keys = (("trained", "trained"), ("paper", "test_ratio"), ("val-chosen", "val_chosen"))
        which = next((key for prefix, key in keys if row["which"].startswith(prefix)), "only")
        out.setdefault(row["variant"], {})[which] = values
    return out


def tradeoff_points(rows, spec: Mapping) -> List[dict]:
    """One row per variant and ratio: top-1 of every set on its reported split (``dvc plots``)."""
    points = []
    for variant in spec["variants"]:
        for ratio in ratios_of(rows, variant):
            point = {"variant": variant, "ratio": ratio}
            for d in [spec["train_set"]] + list(spec["zeroshot"]):
                point[d] = reported(rows, d, "top1", variant=variant, ratio=ratio)
            for d in spec.get("retrieval", []):
                point[f"{d}_t2v_r1"] = reported(rows, d, "t2v_r1", variant=variant, ratio=ratio)
            points.append(point)
    return points
