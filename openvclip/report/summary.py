"""The summary (markdown tables) and the closed-set vs zero-shot trade-off plot.

Reads tidy result rows only. Ratios are chosen on validation splits (the motion set's val split and the val
copies of the zero-shot sets), never on the test splits reported; where the sets have no validation split (the
paper's protocols) only the configured test ratio is reported.

Each set is reported on one split (:func:`reported_split`): the mean over its numbered test splits where it has
them (UCF101, HMDB51, K600 novel: shown as mean ± std), else ``test``, else ``val`` (Kinetics-400 closed-set).

Area under a trade-off curve: the curve is the set of (closed-set top-1, zero-shot top-1) points over the
interpolation ratios. Its upper envelope says, for each closed-set accuracy x, the best zero-shot accuracy any
ratio reaches while keeping closed-set >= x. Two variants are compared by the mean of their envelopes over the
closed-set range both reach (area / range width), so a higher number means more zero-shot accuracy at equal
closed-set accuracy: the paper's claim is that Open-VCLIP's is higher than plain fine-tuning's.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import UserError
from ..io import write_csv, write_json
from .tables import read_rows, value

Curve = List[Tuple[float, float, float]]  # (ratio, closed-set, zero-shot)


REPORTED_SPLITS = ("mean", "test", "val")


def reported_split(rows, dataset: str) -> Optional[str]:
    """The split a set's results are reported on: ``mean`` (over numbered test splits), ``test`` or ``val``."""
    present = {r["split"] for r in rows if r["dataset"] == dataset}
    return next((s for s in REPORTED_SPLITS if s in present), None)


def reported(rows, dataset: str, metric: str = "top1", **match) -> Optional[float]:
    """The value of ``dataset`` on its reported split (see :func:`reported_split`)."""
    return value(rows, dataset=dataset, split=reported_split(rows, dataset), metric=metric, **match)


def reported_text(rows, dataset: str, metric: str = "top1", **match) -> str:
    """:func:`reported` formatted, with `` ± std`` over the test splits where the set has several."""
    mean = reported(rows, dataset, metric, **match)
    if reported_split(rows, dataset) == "mean" and mean is not None:
        return f"{_fmt(mean)} ± {_fmt(value(rows, dataset=dataset, split='std', metric=metric, **match))}"
    return _fmt(mean)


def curve(rows, variant: str, closed: str, zeroshot: str, metric: str = "top1") -> Curve:
    ratios = sorted({float(r["ratio"]) for r in rows if r["variant"] == variant})
    points = []
    for ratio in ratios:
        x = reported(rows, closed, metric, variant=variant, ratio=ratio)
        y = reported(rows, zeroshot, metric, variant=variant, ratio=ratio)
        if x is not None and y is not None:
            points.append((ratio, x, y))
    return points


def envelope(points: Curve, x: float) -> float:
    """Best zero-shot accuracy among points whose closed-set accuracy is at least ``x``."""
    candidates = [p[2] for p in points if p[1] >= x - 1e-9]
    return max(candidates) if candidates else float("nan")


def envelope_mean(points: Curve, lo: float, hi: float, steps: int = 200) -> float:
    """Mean of the envelope over [lo, hi] (midpoint rule on a fine grid)."""
    if not points or hi <= lo:
        return float("nan")
    xs = [lo + (hi - lo) * (i + 0.5) / steps for i in range(steps)]
    return statistics.fmean(envelope(points, x) for x in xs)


def compare_curves(curves: Mapping[str, Curve]) -> Tuple[float, float, Dict[str, float]]:
    """Common closed-set range of all curves, and each curve's mean envelope over it."""
    curves = {k: c for k, c in curves.items() if c}
    if not curves:
        return float("nan"), float("nan"), {}
    lo = max(min(p[1] for p in c) for c in curves.values())
    hi = min(max(p[1] for p in c) for c in curves.values())
    return lo, hi, {k: envelope_mean(c, lo, hi) for k, c in curves.items()}


def chosen_ratio(rows, variant: str, closed: str, zeroshot: Sequence[str]) -> Optional[float]:
    """The ratio that maximises the mean of closed-set and mean zero-shot top-1 on the validation splits."""
    best, best_score = None, -math.inf
    for ratio in sorted({float(r["ratio"]) for r in rows if r["variant"] == variant}):
        closed_val = value(rows, variant=variant, ratio=ratio, dataset=closed, split="val", metric="top1")
        zs = [value(rows, variant=variant, ratio=ratio, dataset=d, split="val", metric="top1") for d in zeroshot]
        zs = [v for v in zs if v is not None]
        if closed_val is None or not zs:
            continue
        score = (closed_val + statistics.fmean(zs)) / 2
        if score > best_score:
            best, best_score = ratio, score
    return best


def _fmt(x: Optional[float], digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _groups(rows) -> Dict[Tuple[str, str], list]:
    groups: Dict[Tuple[str, str], list] = {}
    for r in rows:
        groups.setdefault((r.get("experiment", ""), r.get("seed", "")), []).append(r)
    return groups


def _ratios(rows, variant) -> List[float]:
    return sorted({float(r["ratio"]) for r in rows if r["variant"] == variant})


def headline(rows, spec: Mapping) -> Tuple[List[dict], Dict[str, Optional[float]]]:
    """Per variant and reported ratio: test metrics of every set."""
    closed, zeroshot, retrieval = spec["train_set"], spec["zeroshot"], spec.get("retrieval", [])
    out, chosen = [], {}
    for variant, info in spec["variants"].items():
        ratios = _ratios(rows, variant)
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
                row[d + " text"] = _fmt(row[d])
            out.append(row)
    return out, chosen


MISSING = "missing"


def checks(rows, spec: Mapping) -> List[Tuple[str, str, Optional[bool]]]:
    """The expectations the config sets (``spec["expectations"]``: thresholds, top-1 % on test splits), each with
    the measured numbers and whether it holds; ``None`` where a result it needs is missing (shown as missing,
    never dropped). Variants are named by the config: ``baseline``, ``frozen``, ``without_temporal``."""
    expect = spec.get("expectations") or {}
    closed, appearance = spec["train_set"], spec["zeroshot"][0]
    compositional = spec["zeroshot"][1] if len(spec["zeroshot"]) > 1 else None
    baseline, frozen = spec["baseline"], spec.get("frozen")
    v = lambda variant, dataset, ratio: None if variant is None else value(  # noqa: E731
        rows, variant=variant, ratio=ratio, dataset=dataset, split="test", metric="top1")
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

    frozen_app, frozen_closed, ft = v(frozen, appearance, 1.0), v(frozen, closed, 1.0), v(baseline, closed, 0.0)
    if "frozen_zeroshot_min" in expect:
        limit = expect["frozen_zeroshot_min"]
        row(f"frozen CLIP ({frozen}): {appearance} zero-shot >= {limit:g}%", {f"{frozen} on {appearance}": frozen_app},
            lambda: (f"{_fmt(frozen_app)}%", frozen_app >= limit))
    if "frozen_closed_above_chance_max" in expect:
        limit = expect["frozen_closed_above_chance_max"]
        classes = [int(r["n_classes"]) for r in rows if r["dataset"] == closed and r["metric"] == "top1"]
        chance = 100.0 / classes[0] if classes else None
        row(f"frozen CLIP ({frozen}): {closed} closed-set near chance (within {limit:g} points)",
            {f"{frozen} on {closed}": frozen_closed, f"the class count of {closed}": chance},
            lambda: (f"{_fmt(frozen_closed)}% (chance {_fmt(chance)}%)", frozen_closed <= chance + limit))
    if "baseline_closed_min" in expect:
        limit = expect["baseline_closed_min"]
        row(f"{baseline} (r=0): {closed} >= {limit:g}%", {f"{baseline} on {closed}": ft},
            lambda: (f"{_fmt(ft)}%", ft >= limit))
    if "temporal_gain_min" in expect:
        limit = expect["temporal_gain_min"]
        for other in spec.get("without_temporal", []):
            o = v(other, closed, 0.0)
            row(f"temporal attention: {closed} {baseline} >= {limit:g} points above {other}",
                {f"{baseline} on {closed}": ft, f"{other} on {closed}": o},
                lambda: (f"{_fmt(ft)} vs {_fmt(o)} ({_fmt(ft - o)} points)", ft - o >= limit))
    if "forgetting_min" in expect:
        limit = expect["forgetting_min"]
        fa = v(baseline, appearance, 0.0)
        row(f"forgetting: {baseline} (r=0) {appearance} >= {limit:g} points below {frozen}",
            {f"{baseline} on {appearance}": fa, f"{frozen} on {appearance}": frozen_app},
            lambda: (f"{_fmt(fa)} vs {_fmt(frozen_app)} ({_fmt(frozen_app - fa)} points)",
                         frozen_app - fa >= limit))
    if expect.get("intermediate_ratio") and compositional:
        for variant in (baseline, spec["method"]):
            points = curve(rows, variant, closed, compositional)
            enough = points if len(points) >= 3 else None

            def beats(points):
                ends = max(points[0][2], points[-1][2])
                best = max(points[1:-1], key=lambda p: p[2])
                return (f"r={best[0]}: {_fmt(best[2])} vs ends {_fmt(points[0][2])} / {_fmt(points[-1][2])}",
                        best[2] > ends)

            row(f"{variant}: an intermediate ratio beats both ends on {compositional}",
                {f"three ratios of {variant} on {compositional}": enough}, lambda: beats(enough))
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
            sentences.append(f"On {zs}, the claim cannot be tested: the trade-off curve of {method} or {baseline} "
                             f"is {MISSING} (a variant needs results at two or more ratios).")
            continue
        wins = sum(m > 0 for m in margins)
        how = ("holds" if wins == len(margins) else "does not hold" if wins == 0 else "is mixed")
        sentences.append(f"On {zs}, the claim {how}: {method}'s curve is above {baseline}'s in {wins} of "
                         f"{len(margins)} seed(s) (margins {', '.join(f'{m:+.1f}' for m in margins)} points of mean "
                         "zero-shot top-1 at equal closed-set accuracy).")
    return " ".join(sentences)


def plot(groups: Mapping[str, list], spec: Mapping, path: Path) -> None:
    """One row per experiment, one panel per zero-shot set: closed-set (x) vs zero-shot (y) across ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    columns = list(spec["zeroshot"])
    fig, axes = plt.subplots(len(names), len(columns), figsize=(5.2 * len(columns), 4.4 * len(names)),
                             squeeze=False)
    for i, name in enumerate(names):
        rows = groups[name]
        for j, zs in enumerate(columns):
            ax = axes[i][j]
            for variant in spec["variants"]:
                points = _mean_curve(rows, variant, spec["train_set"], zs)
                if not points:
                    continue
                xs, ys = [p[1] for p in points], [p[2] for p in points]
                if len(points) == 1:
                    ax.scatter(xs, ys, marker="*", s=160, zorder=5, color="black", label=variant)
                else:
                    line, = ax.plot(xs, ys, marker="o", ms=3, label=variant)
                    for r, x, y in points:
                        if r in (0.0, 0.5, 1.0):
                            ax.annotate(f"r={r:g}", (x, y), fontsize=7, color=line.get_color(),
                                        xytext=(3, 3), textcoords="offset points")
            ax.set_xlabel(f"closed-set top-1 on {spec['train_set']} "
                          f"({_split_words(reported_split(rows, spec['train_set']))}, %)")
            ax.set_ylabel(f"zero-shot top-1 on {zs} ({_split_words(reported_split(rows, zs))}, %)")
            ax.set_title(f"{name}: {spec['train_set']} vs {zs}" if name else f"{spec['train_set']} vs {zs}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("Trade-off across the interpolation ratio r (r*theta0 + (1-r)*theta)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _mean_curve(rows, variant, closed, zeroshot) -> Curve:
    """The curve averaged over seeds (rows may hold several)."""
    per_seed = [curve(g, variant, closed, zeroshot) for g in _groups(rows).values()]
    per_seed = [c for c in per_seed if c]
    if not per_seed:
        return []
    ratios = sorted(set.intersection(*[{p[0] for p in c} for c in per_seed]))
    return [(r, statistics.fmean(p[1] for c in per_seed for p in c if p[0] == r),
             statistics.fmean(p[2] for c in per_seed for p in c if p[0] == r)) for r in ratios]


def _split_words(split: Optional[str]) -> str:
    return {"mean": "mean of the test splits", "test": "test split", "val": "validation split"}.get(split, "n/a")


def _mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    if len(values) == 1:
        return _fmt(values[0])
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f}"


def _count(text) -> Optional[int]:
    return None if text in (None, "") else int(text)


def video_counts(rows) -> Dict[str, Dict[str, Dict[str, Optional[int]]]]:
    """{data set: {split: {listed, missing, unreadable, scored}}} from result rows: the splits scored one by one
    (not their mean/std), read off the first row of each (every variant and ratio scores the same videos).
    A count a result file lacks (written before it was recorded) is None, never a guess."""
    out: Dict[str, Dict[str, Dict[str, Optional[int]]]] = {}
    for row in rows:
        if row["split"] in ("mean", "std") or row["split"] in out.get(row["dataset"], {}):
            continue
        scored, missing, unreadable = (_count(row.get(k)) for k in ("n_videos", "n_missing", "n_unreadable"))
        listed = None if None in (scored, missing, unreadable) else scored + missing + unreadable
        out.setdefault(row["dataset"], {})[row["split"]] = {"listed": listed, "missing": missing,
                                                            "unreadable": unreadable, "scored": scored}
    return out


def videos_table(counts: Mapping[str, Mapping[str, Mapping[str, Optional[int]]]]) -> str:
    body = [[dataset, split] + ["not recorded" if c[k] is None else str(c[k])
                                for k in ("listed", "missing", "unreadable", "scored")]
            for dataset, splits in counts.items() for split, c in splits.items()]
    return _table(["data set", "split", "listed", "missing on disk", "unreadable", "scored"], body)


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
        which = next((key for prefix, key in (("trained", "trained"), ("paper", "test_ratio"),
                                              ("val-chosen", "val_chosen")) if row["which"].startswith(prefix)), "only")
        out.setdefault(row["variant"], {})[which] = values
    return out


def tradeoff_points(rows, spec: Mapping) -> List[dict]:
    """One row per variant and ratio: top-1 of every set on its reported split (``dvc plots``)."""
    points = []
    for variant in spec["variants"]:
        for ratio in _ratios(rows, variant):
            point = {"variant": variant, "ratio": ratio}
            for d in [spec["train_set"]] + list(spec["zeroshot"]):
                point[d] = reported(rows, d, "top1", variant=variant, ratio=ratio)
            for d in spec.get("retrieval", []):
                point[f"{d}_t2v_r1"] = reported(rows, d, "t2v_r1", variant=variant, ratio=ratio)
            points.append(point)
    return points


def write_report(spec: Mapping, summary_path: Path, plot_path: Path, metrics_path: Optional[Path] = None,
                 points_path: Optional[Path] = None) -> None:
    """Write the markdown summary and the trade-off plot from the result files named in ``spec``.

    ``spec``: ``files`` (result CSVs), ``train_set``, ``zeroshot`` (sets, appearance first), ``retrieval``,
    ``variants`` ({name: {trained: bool, ...}}), ``trained_variants``, ``test_ratio``,
    optional ``pretrain_metrics`` (JSON), ``title``, ``experiments`` ({name: description}) and ``config``.
    """
    rows = [r for f in spec["files"] for r in read_rows(f)]
    groups = _groups(rows)
    experiments = sorted({key[0] for key in groups})
    lines = [f"# {spec.get('title', 'Results')}\n"]
    if spec.get("intro"):
        lines.append(spec["intro"] + "\n")
    if spec.get("pretrain_metrics") and Path(spec["pretrain_metrics"]).is_file():
        metrics = json.loads(Path(spec["pretrain_metrics"]).read_text())["summary"]
        lines.append("## The demo's CLIP (theta0), pretrained on captioned still images\n")
        lines.append(_table(["zero-shot top-1, all 64 objects", "seen in pretraining", "held out of pretraining",
                             "steps", "final loss"],
                            [[_fmt(metrics["zero_shot_top1_all"]), _fmt(metrics["zero_shot_top1_seen"]),
                              _fmt(metrics["zero_shot_top1_heldout"]), metrics["steps"],
                              _fmt(metrics["final_loss"], 3)]]))
    lines.append("## Videos per data set and split\n")
    lines.append("Listed by the data set's annotations; missing on disk (absent from the downloaded files); "
                 "unreadable (the file does not decode); scored. Lost videos are left out of the scores; a job "
                 "stops when a split loses more than its data set's `max_unreadable` allows.\n")
    lines.append(videos_table(video_counts(groups[sorted(groups)[0]])))
    zs_names = list(spec["zeroshot"])
    for experiment in experiments:
        seeds = sorted(k[1] for k in groups if k[0] == experiment)
        members = {seed: groups[(experiment, seed)] for seed in seeds}
        if experiment:
            lines.append(f"## Experiment `{experiment}` (seeds {', '.join(seeds)})\n")
            if spec.get("experiments", {}).get(experiment):
                lines.append(spec["experiments"][experiment] + "\n")
        # Headline metrics, mean ± std over seeds.
        headlines = [headline(g, spec) for g in members.values()]
        tables = [table for table, _ in headlines]
        any_chosen = any(r is not None for _, chosen in headlines for r in chosen.values())
        header = ["variant", "ratio", f"{spec['train_set']} closed-set"] + [f"{d} zero-shot" for d in zs_names] + \
                 [f"{d} t2v R@1" for d in spec.get("retrieval", [])]
        body = []
        for i, row in enumerate(tables[0]):
            cells = [row["variant"], row["which"]]
            for d in [spec["train_set"]] + zs_names + list(spec.get("retrieval", [])):
                # One seed: the value (± std over test splits); several: mean ± std over seeds.
                cells.append(row[d + " text"] if len(tables) == 1 else
                             _mean_std([t[i][d] for t in tables if i < len(t)]))
            body.append(cells)
        lines.append("### Test top-1 (%) per variant" + (" (mean ± std over seeds)" if len(seeds) > 1 else "") +
                     "\n")
        lines.append("Splits reported: " + ", ".join(
            f"{d}: {_split_words(reported_split(members[seeds[0]], d))}"
            for d in [spec["train_set"]] + zs_names + list(spec.get("retrieval", []))) + ".\n")
        lines.append("Ratios: r=0 is the trained model, r=1 the original CLIP" + (
            "; the val-chosen ratio maximises the mean of closed-set and zero-shot top-1 on the validation splits."
            if any_chosen else "; no ratio is chosen: the sets have no validation split apart from those "
            "reported, so the configured test ratio is shown.") + "\n")
        lines.append(_table(header, body))
        # Area under the trade-off curves.
        lines.append("### Trade-off curves: mean zero-shot top-1 over the common closed-set range\n")
        auc_body = []
        for zs in zs_names:
            per_seed = [auc_rows(g, spec, zs) for g in members.values()]
            variants = sorted({v for p in per_seed for v in p[2]})
            for variant in variants:
                auc_body.append([zs, variant, _mean_std([p[2].get(variant) for p in per_seed]),
                                 "; ".join(f"[{_fmt(p[0])}, {_fmt(p[1])}]" for p in per_seed)])
            method, baseline = spec["method"], spec["baseline"]
            if {method, baseline} <= set(variants):
                wins = sum(p[2][method] > p[2][baseline] for p in per_seed)
                auc_body.append([zs, f"**{method} above {baseline}?**", f"{wins} of {len(per_seed)} seeds", ""])
            else:
                auc_body.append([zs, f"**{method} above {baseline}?**", MISSING, ""])
        lines.append(_table(["zero-shot set", "variant", "mean envelope (area / range)", "closed-set range"],
                            auc_body))
        lines.append(verdict(members, spec) + "\n")
        expectations = spec.get("expectations") or {}
        if expectations and (not experiment or expectations.get("in_study")):
            first = next(iter(members.values()))
            found = checks(first, spec)
            if found:
                lines.append("### Expectations of the demo (test splits; thresholds: `report.expectations`)\n")
                lines.append(_table(["expectation", "measured", "holds"],
                                    [[what, got, MISSING if ok is None else "yes" if ok else "**no**"]
                                     for what, got, ok in found]))
        # Full sweeps (first seed).
        first = next(iter(members.values()))
        lines.append("### Interpolation sweeps (top-1 % on the reported splits" + (f", seed {seeds[0]}" if experiment else "") + ")\n")
        sweep_body = []
        for variant in spec["variants"]:
            for ratio in _ratios(first, variant):
                cells = [variant, f"{ratio:g}"]
                for d in [spec["train_set"]] + zs_names:
                    cells.append(reported_text(first, d, "top1", variant=variant, ratio=ratio))
                for d in spec.get("retrieval", []):
                    cells.append(reported_text(first, d, "t2v_r1", variant=variant, ratio=ratio))
                sweep_body.append(cells)
        lines.append(_table(["variant", "r", spec["train_set"]] + zs_names +
                            [f"{d} t2v R@1" for d in spec.get("retrieval", [])], sweep_body))
    if spec.get("notes"):
        lines.append("## Notes\n\n" + spec["notes"] + "\n")
    if spec.get("config"):
        lines.append("## Provenance\n")
        lines.append(f"Config hash(es) in the result files: {', '.join(sorted({r['config_hash'] for r in rows}))}."
                     f" Config: `{spec['config']}`.\n")
    summary_path = Path(summary_path)
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = summary_path.with_name(summary_path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    plot({name or "": [r for k, g in groups.items() if k[0] == name for r in g] for name in experiments}, spec,
         plot_path)
    first = groups[sorted(groups)[0]]
    if metrics_path is not None:
        write_json(metrics_path, metrics_of(first, spec))
    if points_path is not None:
        points = tradeoff_points(first, spec)
        write_csv(points_path, points, list(points[0]) if points else ["variant", "ratio"])
    os.replace(tmp, summary_path)
