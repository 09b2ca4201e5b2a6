"""What DVC reads beside the summary: the headline numbers of metrics.json (``dvc metrics``, ``dvc exp show``)
and the trade-off points of tradeoff.csv (``dvc plots``)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from ..errors import UserError
from .curves import ratios_of, reported, reported_split
from .markdown import video_counts
from .tables import value


def metric_names(spec: Mapping) -> List[Tuple[str, str, str]]:
    """(data set, result metric, metrics.json name) of each headline number: the training set's closed-set top-1,
    each zero-shot set's top-1, each retrieval set's text-to-video recall at 1."""
    names = [(spec["train_set"], "top1", f"{spec['train_set']}_closedset_top1")]
    names += [(d, "top1", f"{d}_zeroshot_top1") for d in spec["zeroshot"]]
    return names + [(d, "t2v_r1", f"{d}_retrieval_t2v_r1") for d in spec.get("retrieval", [])]


def metrics_of(rows, spec: Mapping) -> dict:
    """The headline numbers DVC shows (``dvc metrics show``, a column each in ``dvc exp show``): per variant,
    each set it was scored on at the configured test ratio (a variant scored at one ratio: at that one; its
    ``ratio`` says which), on the reported splits, with ``_std`` over the test splits where a set has several
    (UCF101, HMDB51); ``test_ratio``; ``lost_videos``: per set, the listed videos not scored (missing or
    unreadable, over its splits; None where a result file did not record it). Keys hold no dots: DVC joins
    nested keys with them. The other ratios are in the summary, the tables and tradeoff.csv."""
    for reserved in ("test_ratio", "lost_videos"):
        if reserved in spec["variants"]:
            raise UserError(f"a variant is named {reserved!r}, a key of metrics.json: rename the variant")
    out: Dict[str, Any] = {"test_ratio": spec["test_ratio"]}
    for variant in spec["variants"]:
        ratios = ratios_of(rows, variant)
        if not ratios:
            continue
        ratio = ratios[0] if len(ratios) == 1 else spec["test_ratio"]
        values: Dict[str, Any] = {"ratio": ratio}
        for d, metric, name in metric_names(spec):
            match = dict(variant=variant, ratio=ratio)
            found = reported(rows, d, metric, **match)
            if found is None:  # a set this variant is not scored on
                continue
            values[name] = found
            if reported_split(rows, d) == "mean":
                values[f"{name}_std"] = value(rows, dataset=d, split="std", metric=metric, **match)
        out[variant] = values
    out["lost_videos"] = {
        d: None
        if any(c["listed"] is None for c in splits.values())
        else sum(c["listed"] - c["scored"] for c in splits.values())
        for d, splits in video_counts(rows).items()
    }
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
