"""Reading a set's reported value from result rows, the val-based choice of the interpolation ratio, and the
trade-off curves (closed-set vs zero-shot top-1 across ratios) with their upper envelopes."""

from __future__ import annotations

import math
import statistics
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .tables import value

Curve = List[Tuple[float, float, float]]  # (ratio, closed-set, zero-shot)


REPORTED_SPLITS = ("mean", "test", "val")


def reported_split(rows, dataset: str) -> Optional[str]:
    """The split a set's results are reported on: ``mean`` over its numbered test splits where it has them
    (UCF101, HMDB51, K600 novel: shown as mean ± std), else ``test``, else ``val`` (Kinetics-400 closed-set)."""
    present = {r["split"] for r in rows if r["dataset"] == dataset}
    return next((s for s in REPORTED_SPLITS if s in present), None)


def reported(rows, dataset: str, metric: str = "top1", **match) -> Optional[float]:
    """The value of ``dataset`` on its reported split (see :func:`reported_split`)."""
    return value(rows, dataset=dataset, split=reported_split(rows, dataset), metric=metric, **match)


def seed_groups(rows) -> Dict[Tuple[str, str], list]:
    """The rows of each run, keyed by (experiment, seed); both are empty in a single run's results."""
    groups: Dict[Tuple[str, str], list] = {}
    for r in rows:
        groups.setdefault((r.get("experiment", ""), r.get("seed", "")), []).append(r)
    return groups


def ratios_of(rows, variant) -> List[float]:
    return sorted({float(r["ratio"]) for r in rows if r["variant"] == variant})


def curve(rows, variant: str, closed: str, zeroshot: str, metric: str = "top1") -> Curve:
    points = []
    for ratio in ratios_of(rows, variant):
        x = reported(rows, closed, metric, variant=variant, ratio=ratio)
        y = reported(rows, zeroshot, metric, variant=variant, ratio=ratio)
        if x is not None and y is not None:
            points.append((ratio, x, y))
    return points


def mean_curve(rows, variant, closed, zeroshot) -> Curve:
    """The curve averaged over seeds (rows may hold several)."""
    per_seed = [curve(g, variant, closed, zeroshot) for g in seed_groups(rows).values()]
    per_seed = [c for c in per_seed if c]
    if not per_seed:
        return []
    ratios = sorted(set.intersection(*[{p[0] for p in c} for c in per_seed]))
    return [
        (
            r,
            statistics.fmean(p[1] for c in per_seed for p in c if p[0] == r),
            statistics.fmean(p[2] for c in per_seed for p in c if p[0] == r),
        )
        for r in ratios
    ]


def envelope(points: Curve, x: float) -> float:
    """Best zero-shot accuracy among points whose closed-set accuracy is at least ``x``: the curve's upper
    envelope, the best zero-shot accuracy any ratio reaches while keeping closed-set >= x."""
    candidates = [p[2] for p in points if p[1] >= x - 1e-9]
    return max(candidates) if candidates else float("nan")


def envelope_mean(points: Curve, lo: float, hi: float, steps: int = 200) -> float:
    """Mean of the envelope over [lo, hi] (midpoint rule on a fine grid)."""
    if not points or hi <= lo:
        return float("nan")
    xs = [lo + (hi - lo) * (i + 0.5) / steps for i in range(steps)]
    return statistics.fmean(envelope(points, x) for x in xs)


def compare_curves(curves: Mapping[str, Curve]) -> Tuple[float, float, Dict[str, float]]:
    """Common closed-set range of all curves, and each curve's mean envelope over it (area / range width).

    Comparing over the range all curves reach means a higher number is more zero-shot accuracy at equal
    closed-set accuracy: the paper's claim is that Open-VCLIP's is higher than plain fine-tuning's."""
    curves = {k: c for k, c in curves.items() if c}
    if not curves:
        return float("nan"), float("nan"), {}
    lo = max(min(p[1] for p in c) for c in curves.values())
    hi = min(max(p[1] for p in c) for c in curves.values())
    return lo, hi, {k: envelope_mean(c, lo, hi) for k, c in curves.items()}


def chosen_ratio(rows, variant: str, closed: str, zeroshot: Sequence[str]) -> Optional[float]:
    """The ratio that maximises the mean of closed-set and mean zero-shot top-1 on the validation splits.

    Chosen on validation splits only (the motion set's val split and the val copies of the zero-shot sets),
    never on the test splits reported; None where the zero-shot sets have no validation split (the paper's
    protocols: only the configured test ratio is reported then)."""
    best, best_score = None, -math.inf
    for ratio in ratios_of(rows, variant):
        closed_val = value(rows, variant=variant, ratio=ratio, dataset=closed, split="val", metric="top1")
        zs = [value(rows, variant=variant, ratio=ratio, dataset=d, split="val", metric="top1") for d in zeroshot]
        zs = [v for v in zs if v is not None]
        if closed_val is None or not zs:
            continue
        score = (closed_val + statistics.fmean(zs)) / 2
        if score > best_score:
            best, best_score = ratio, score
    return best
