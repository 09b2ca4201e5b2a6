"""The paper's claims and the config's expectations against result rows: headline numbers per variant and
ratio, the expectation checks, the trade-off curve comparison and the verdict on it."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

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


def checks(rows, spec: Mapping) -> List[Tuple[str, str, Optional[bool]]]:
    """The expectations the config sets (``spec["expectations"]``, test splits), each with the measured numbers
    and whether it holds; ``None`` where a result it needs is missing (shown as missing, never dropped). Variants
    are named by the config: ``baseline``, ``frozen``, ``without_temporal``; ``transfer_set`` (default: the
    first zero-shot set) is the zero-shot set the transfer and forgetting rows read; the intermediate-ratio rows
    read every zero-shot set."""
    expect = spec.get("expectations") or {}
    closed = spec["train_set"]
    transfer = spec.get("transfer_set") or (spec["zeroshot"][0] if spec["zeroshot"] else None)
    baseline, frozen = spec["baseline"], spec.get("frozen")
    chosen = chosen_ratio(rows, baseline, closed, spec["zeroshot"])

    def v(variant, dataset, ratio, metric="top1"):
        if variant is None or ratio is None:
            return None
        return value(rows, variant=variant, ratio=ratio, dataset=dataset, split="test", metric=metric)

    def chance(dataset, metric):
        classes = [int(r["n_classes"]) for r in rows if r["dataset"] == dataset and r["metric"] == metric]
        return 100.0 / classes[0] if classes else None

    out: List[Tuple[str, str, Optional[bool]]] = []

    def row(what, numbers, holds):
        """``numbers``: the values the row needs (any None makes the row say which is missing); ``holds()``:
        the measured text and whether the expectation holds."""
        gone = [name for name, x in numbers.items() if x is None]
        if gone:
            out.append((what, f"{MISSING}: {', '.join(gone)}", None))
        else:
            shown, ok = holds()
            out.append((what, shown, ok))

    for factor, key, near in (
        ("action", "frozen_action_above_chance_max", True),
        ("object", "frozen_object_above_chance_min", False),
    ):
        if key not in expect:
            continue
        limit, metric = expect[key], f"{factor}_top1"
        got, base = v(frozen, closed, 1.0, metric), chance(closed, metric)
        row(
            f"frozen CLIP ({frozen}): {closed} top-1 class of the right {factor} "
            + (f"near chance (within {limit:g} points)" if near else f">= {limit:g} points above chance"),
            {f"{frozen}'s {metric} on {closed}": got, f"the {factor} count of {closed}": base},
            lambda got=got, base=base, limit=limit, near=near: (
                f"{fmt(got)}% (chance {fmt(base)}%)",
                got <= base + limit if near else got >= base + limit,
            ),
        )
    frozen_transfer = v(frozen, transfer, 1.0)
    if expect.get("transfer"):
        got = v(baseline, transfer, chosen)
        row(
            f"transfer: {baseline} at its val-chosen ratio beats frozen CLIP on {transfer}",
            {f"{baseline} on {transfer} at a val-chosen ratio": got, f"{frozen} on {transfer}": frozen_transfer},
            lambda: (f"r={chosen}: {fmt(got)} vs {fmt(frozen_transfer)}", got > frozen_transfer),
        )
    if expect.get("forgetting"):
        got, ref = v(baseline, transfer, 0.0, "object_top1"), v(frozen, transfer, 1.0, "object_top1")
        row(
            f"forgetting: {baseline} (r=0) gets {transfer}'s objects right less often than frozen CLIP",
            {f"{baseline}'s object_top1 on {transfer}": got, f"{frozen}'s object_top1 on {transfer}": ref},
            lambda: (f"{fmt(got)} vs {fmt(ref)} ({fmt(ref - got)} points)", got < ref),
        )
    if "temporal_gain_min" in expect:
        limit, ft = expect["temporal_gain_min"], v(baseline, closed, 0.0)
        for other in spec.get("without_temporal", []):
            o = v(other, closed, 0.0)
            row(
                f"temporal attention: {closed} {baseline} >= {limit:g} points above {other}",
                {f"{baseline} on {closed}": ft, f"{other} on {closed}": o},
                lambda o=o: (f"{fmt(ft)} vs {fmt(o)} ({fmt(ft - o)} points)", ft - o >= limit),
            )
    # WiSE-FT's effect, on every zero-shot set: some ratio between the ends beats both.
    for zs in spec["zeroshot"] if expect.get("intermediate_ratio") else []:
        for variant in (baseline, spec["method"]):
            points = curve(rows, variant, closed, zs)
            enough = points if len(points) >= 3 else None

            def beats(points):
                ends = max(points[0][2], points[-1][2])
                best = max(points[1:-1], key=lambda p: p[2])
                return (
                    f"r={best[0]}: {fmt(best[2])} vs ends {fmt(points[0][2])} / {fmt(points[-1][2])}",
                    best[2] > ends,
                )

            row(
                f"{variant}: an intermediate ratio beats both ends on {zs}",
                {f"three ratios of {variant} on {zs}": enough},
                lambda enough=enough: beats(enough),
            )
    return out


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
