"""The paper's claims and the config's expectations against result rows: headline numbers per variant and
ratio, the expectation checks, the trade-off curve comparison and the verdict on it."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from .curves import chosen_ratio, compare_curves, curve, ratios_of, reported
from .markdown import fmt, reported_text
from .tables import value

MISSING = "missing"


def headline(rows, spec: Mapping) -> Tuple[List[dict], Dict[str, Optional[float]]]:
    """Per variant and reported ratio: test metrics of every set."""
    closed, zeroshot, retrieval = spec["train_set"], spec["zeroshot"], spec.get("retrieval", [])
    out, chosen = [], {}
    for variant, info in spec["variants"].items():
        ratios = ratios_of(rows, variant)
        if not ratios:
            continue
        picks = [("trained (r=0)", 0.0)] if 0.0 in ratios else []
        if info.get("trained", True) and len(ratios) > 1:
            chosen[variant] = chosen_ratio(rows, variant, closed, zeroshot)
            picks += [(f"paper r={spec['test_ratio']}", spec["test_ratio"])]
            if chosen[variant] is not None:
                picks += [(f"val-chosen r={chosen[variant]}", chosen[variant])]
        if len(ratios) == 1:
            picks = [(f"r={ratios[0]}", ratios[0])]
        for label, ratio in picks:
            row = {"variant": variant, "which": label, "ratio": ratio}
            for d in [closed] + list(zeroshot):
                row[d] = reported(rows, d, "top1", variant=variant, ratio=ratio)
                row[d + " text"] = reported_text(rows, d, "top1", variant=variant, ratio=ratio)
            for d in retrieval:
                row[d] = reported(rows, d, "t2v_r1", variant=variant, ratio=ratio)
                row[d + " text"] = fmt(row[d])
            out.append(row)
    return out, chosen


Check = Tuple[str, str, Optional[bool]]  # (what is expected, the measured numbers, holds: True/False/None)


@dataclasses.dataclass
class _Results:
    """The rows and the config's names that every expectation reads."""

    rows: list
    spec: Mapping

    def __post_init__(self):
        spec = self.spec
        self.expect = spec.get("expectations") or {}
        self.closed = spec["train_set"]
        self.transfer = spec.get("transfer_set") or (spec["zeroshot"][0] if spec["zeroshot"] else None)
        self.baseline, self.frozen = spec["baseline"], spec.get("frozen")
        self.chosen = chosen_ratio(self.rows, self.baseline, self.closed, spec["zeroshot"])

    def test(self, variant, dataset, ratio, metric="top1") -> Optional[float]:
        """A test-split value, or None when the variant or ratio is unknown or the row is missing."""
        if variant is None or ratio is None:
            return None
        return value(self.rows, variant=variant, ratio=ratio, dataset=dataset, split="test", metric=metric)

    def chance(self, dataset, metric) -> Optional[float]:
        classes = [int(r["n_classes"]) for r in self.rows if r["dataset"] == dataset and r["metric"] == metric]
        return 100.0 / classes[0] if classes else None


def _check(what: str, numbers: Mapping[str, Optional[float]], holds: Callable[[], Tuple[str, bool]]) -> Check:
    """``numbers``: the values the row needs (any None makes the row say which is missing); ``holds()``: the
    measured text and whether the expectation holds, called only when every number is there."""
    gone = [name for name, x in numbers.items() if x is None]
    if gone:
        return what, f"{MISSING}: {', '.join(gone)}", None
    shown, ok = holds()
    return what, shown, ok


def _frozen_factor_checks(r: _Results) -> List[Check]:
    """Frozen CLIP guesses the closed set's actions near chance and knows its objects well above it."""
    out = []
    for factor, key, near in (
        ("action", "frozen_action_above_chance_max", True),
        ("object", "frozen_object_above_chance_min", False),
    ):
        if key not in r.expect:
            continue
        limit, metric = r.expect[key], f"{factor}_top1"
        got, base = r.test(r.frozen, r.closed, 1.0, metric), r.chance(r.closed, metric)
        out.append(
            _check(
                f"frozen CLIP ({r.frozen}): {r.closed} top-1 class of the right {factor} "
                + (f"near chance (within {limit:g} points)" if near else f">= {limit:g} points above chance"),
                {f"{r.frozen}'s {metric} on {r.closed}": got, f"the {factor} count of {r.closed}": base},
                lambda got=got, base=base, limit=limit, near=near: (
                    f"{fmt(got)}% (chance {fmt(base)}%)",
                    got <= base + limit if near else got >= base + limit,
                ),
            )
        )
    return out


def _transfer_checks(r: _Results) -> List[Check]:
    """The baseline at its validation-chosen ratio beats frozen CLIP on the transfer set."""
    if not r.expect.get("transfer"):
        return []
    got, frozen = r.test(r.baseline, r.transfer, r.chosen), r.test(r.frozen, r.transfer, 1.0)
    return [
        _check(
            f"transfer: {r.baseline} at its val-chosen ratio beats frozen CLIP on {r.transfer}",
            {f"{r.baseline} on {r.transfer} at a val-chosen ratio": got, f"{r.frozen} on {r.transfer}": frozen},
            lambda: (f"r={r.chosen}: {fmt(got)} vs {fmt(frozen)}", got > frozen),
        )
    ]


def _forgetting_checks(r: _Results) -> List[Check]:
    """The trained baseline (r = 0) names the transfer set's objects less often than frozen CLIP."""
    if not r.expect.get("forgetting"):
        return []
    got, ref = r.test(r.baseline, r.transfer, 0.0, "object_top1"), r.test(r.frozen, r.transfer, 1.0, "object_top1")
    return [
        _check(
            f"forgetting: {r.baseline} (r=0) gets {r.transfer}'s objects right less often than frozen CLIP",
            {f"{r.baseline}'s object_top1 on {r.transfer}": got, f"{r.frozen}'s object_top1 on {r.transfer}": ref},
            lambda: (f"{fmt(got)} vs {fmt(ref)} ({fmt(ref - got)} points)", got < ref),
        )
    ]


def _temporal_checks(r: _Results) -> List[Check]:
    """Temporal attention adds at least ``temporal_gain_min`` points on the closed set over each variant
    without it."""
    if "temporal_gain_min" not in r.expect:
        return []
    limit, ft = r.expect["temporal_gain_min"], r.test(r.baseline, r.closed, 0.0)
    out = []
    for other in r.spec.get("without_temporal", []):
        o = r.test(other, r.closed, 0.0)
        out.append(
            _check(
                f"temporal attention: {r.closed} {r.baseline} >= {limit:g} points above {other}",
                {f"{r.baseline} on {r.closed}": ft, f"{other} on {r.closed}": o},
                lambda o=o: (f"{fmt(ft)} vs {fmt(o)} ({fmt(ft - o)} points)", ft - o >= limit),
            )
        )
    return out


def _intermediate_ratio_checks(r: _Results) -> List[Check]:
    """WiSE-FT's effect, on every zero-shot set: some ratio between the ends beats both (baseline and method)."""
    if not r.expect.get("intermediate_ratio"):
        return []

    def beats(points):
        ends = max(points[0][2], points[-1][2])
        best = max(points[1:-1], key=lambda p: p[2])
        return f"r={best[0]}: {fmt(best[2])} vs ends {fmt(points[0][2])} / {fmt(points[-1][2])}", best[2] > ends

    out = []
    for zs in r.spec["zeroshot"]:
        for variant in (r.baseline, r.spec["method"]):
            points = curve(r.rows, variant, r.closed, zs)
            enough = points if len(points) >= 3 else None
            out.append(
                _check(
                    f"{variant}: an intermediate ratio beats both ends on {zs}",
                    {f"three ratios of {variant} on {zs}": enough},
                    lambda enough=enough: beats(enough),
                )
            )
    return out


def checks(rows, spec: Mapping) -> List[Check]:
    """The expectations the config sets (``spec["expectations"]``, test splits), each with the measured numbers
    and whether it holds; ``None`` where a result it needs is missing (shown as missing, never dropped). Variants
    are named by the config: ``baseline``, ``frozen``, ``without_temporal``; ``transfer_set`` (default: the
    first zero-shot set) is the zero-shot set the transfer and forgetting rows read; the intermediate-ratio rows
    read every zero-shot set."""
    results = _Results(rows, spec)
    return [
        *_frozen_factor_checks(results),
        *_transfer_checks(results),
        *_forgetting_checks(results),
        *_temporal_checks(results),
        *_intermediate_ratio_checks(results),
    ]


def auc_rows(rows, spec, zeroshot_set: str) -> Tuple[float, float, Dict[str, float]]:
    curves = {v: curve(rows, v, spec["train_set"], zeroshot_set) for v in spec["trained_variants"]}
    return compare_curves({k: c for k, c in curves.items() if len(c) > 1})


def verdict(members: Mapping[str, list], spec: Mapping) -> str:
    """One sentence per zero-shot set: does the method's curve lie above the baseline's, seed by seed? (The
    config names both: ``report.method``, ``report.baseline``.)"""
    method, baseline = spec["method"], spec["baseline"]
    sentences = []
    for zs in spec["zeroshot"]:
        margins = []
        for rows in members.values():
            means = auc_rows(rows, spec, zs)[2]
            if {method, baseline} <= set(means):
                margins.append(means[method] - means[baseline])
        if not margins:
            sentences.append(
                f"On {zs}, the claim cannot be tested: the trade-off curve of {method} or {baseline} "
                f"is {MISSING} (a variant needs results at two or more ratios)."
            )
            continue
        wins = sum(m > 0 for m in margins)
        how = "holds" if wins == len(margins) else "does not hold" if wins == 0 else "is mixed"
        sentences.append(
            f"On {zs}, the claim {how}: {method}'s curve is above {baseline}'s in {wins} of "
            f"{len(margins)} seed(s) (margins {', '.join(f'{m:+.1f}' for m in margins)} points of mean "
            "zero-shot top-1 at equal closed-set accuracy)."
        )
    return " ".join(sentences)
