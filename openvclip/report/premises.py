"""The premises the method rests on, checked against result rows on the validation splits: the pretrained CLIP
knows much of what the zero-shot sets ask (P1), temporal attention leaves its weights' predictions nearly as
they are (P2), plain fine-tuning stays linearly connected to those weights (P3), and training is still worth it,
temporal attention included (P4). Under them a result that contradicts the paper points at a bug; a premise that
fails says the data (or the demo world) cannot test the claim.

Each premise is one row per set (or per compared variant) of the summary, saying yes, **no**, or missing; with
several seeds a row holds when it holds in every seed, and shows each seed's numbers.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .curves import reported_split
from .markdown import fmt
from .tables import value

Row = Tuple[str, str, Optional[bool]]


def _chance(rows, dataset: str) -> Optional[float]:
    classes = [int(r["n_classes"]) for r in rows if r["dataset"] == dataset and r["metric"] == "top1"]
    return 100.0 / classes[0] if classes else None


def _row(
    what: str, members: Sequence[list], needs: Callable[[list], Dict[str, Optional[float]]], test: Callable
) -> Row:
    """One premise row over seeds: ``needs(rows)`` maps ``"arg:what it is"`` to each value a seed needs (None:
    missing, shown by what it is); ``test(arg=value, ...)`` gives the seed's measured text and whether it holds."""
    shown, verdicts, gone = [], [], []
    for rows in members:
        values = needs(rows)
        missing = [name.split(":", 1)[1] for name, x in values.items() if x is None]
        if missing:
            gone += [m for m in missing if m not in gone]
            continue
        text, ok = test(**{k.split(":")[0]: v for k, v in values.items()})
        shown.append(text)
        verdicts.append(ok)
    if gone:
        return what, "missing: " + ", ".join(gone), None
    return what, " / ".join(shown), all(verdicts)


class _Runs:
    """The seeds' result rows, the variants and sets the premises compare, their thresholds, and how a top-1 is
    read (on the premises' split)."""

    def __init__(self, members: Mapping[str, list], spec: Mapping):
        self.seeds = list(members.values())
        self.limits = spec["premises"]
        self.split, self.closed, self.zeroshot = self.limits["split"], spec["train_set"], list(spec["zeroshot"])
        self.frozen, self.baseline = spec.get("frozen"), spec["baseline"]
        # Fine-tuning without temporal attention is a variant trained so; one that only switches it off on
        # another's weights (``weights_of``) measures something else.
        self.trained_without = [
            v for v in spec.get("without_temporal", []) if not spec["variants"].get(v, {}).get("weights_of")
        ]

    def top1(self, rows, variant, dataset, ratio) -> Optional[float]:
        if variant is None:
            return None
        # A set without the split (the paper's zero-shot sets have test splits only): its reported split.
        present = {r["split"] for r in rows if r["dataset"] == dataset}
        where = self.split if self.split in present else reported_split(rows, dataset)
        return value(rows, variant=variant, ratio=ratio, dataset=dataset, split=where, metric="top1")


def pretrained_knowledge(runs: _Runs) -> List[Row]:
    """P1, per zero-shot set: frozen CLIP reaches a share of fine-tuning's top-1 and a multiple of chance."""
    share, times = runs.limits["pretrained_share_min"], runs.limits["chance_multiple_min"]
    frozen, baseline = runs.frozen, runs.baseline
    return [
        _row(
            f"P1 pretrained knowledge: frozen CLIP ({frozen}) on {d} >= {share:g} x {baseline} (r=0) "
            f"and >= {times:g} x chance",
            runs.seeds,
            lambda rows, d=d: {
                f"f:{frozen} on {d}": runs.top1(rows, frozen, d, 1.0),
                f"b:{baseline} (r=0) on {d}": runs.top1(rows, baseline, d, 0.0),
                f"c:the class count of {d}": _chance(rows, d),
            },
            lambda f, b, c: (
                f"{fmt(f)} vs {fmt(b)} ({fmt(f / b if b else float('nan'), 2)} x), {fmt(f / c)} x chance",
                f >= share * b and f >= times * c,
            ),
        )
        for d in runs.zeroshot
    ]


def attention_harmless(runs: _Runs) -> List[Row]:
    """P2, per set: CLIP's weights score within a few points with temporal attention as without."""
    harm, frozen, baseline = runs.limits["attention_harm_max"], runs.frozen, runs.baseline
    return [
        _row(
            f"P2 attention harmless: on {d}, CLIP's weights with temporal attention ({baseline} at r=1) "
            f"within {harm:g} points of without ({frozen})",
            runs.seeds,
            lambda rows, d=d: {
                f"w:{baseline} (r=1) on {d}": runs.top1(rows, baseline, d, 1.0),
                f"f:{frozen} on {d}": runs.top1(rows, frozen, d, 1.0),
            },
            lambda w, f: (f"{fmt(w)} vs {fmt(f)} ({w - f:+.1f})", abs(w - f) <= harm),
        )
        for d in [runs.closed] + runs.zeroshot
    ]


def one_basin(runs: _Runs) -> Row:
    """P3: fine-tuning mixed with CLIP's weights keeps a share of its closed-set top-1."""
    ratio, keep, baseline, closed = (
        runs.limits["basin_ratio"],
        runs.limits["basin_share_min"],
        runs.baseline,
        runs.closed,
    )
    return _row(
        f"P3 one basin: {baseline} mixed with CLIP's weights at r={ratio:g} keeps >= {keep:g} of its "
        f"{closed} top-1 (r=0)",
        runs.seeds,
        lambda rows: {
            f"m:{baseline} (r={ratio:g}) on {closed}": runs.top1(rows, baseline, closed, ratio),
            f"b:{baseline} (r=0) on {closed}": runs.top1(rows, baseline, closed, 0.0),
        },
        lambda m, b: (f"{fmt(m)} of {fmt(b)} ({fmt(m / b if b else float('nan'), 2)} x)", m >= keep * b),
    )


def training_worth_it(runs: _Runs) -> Row:
    """P4, first half: fine-tuning gains many points over frozen CLIP on the closed set."""
    gain, frozen, baseline, closed = runs.limits["finetune_gain_min"], runs.frozen, runs.baseline, runs.closed
    return _row(
        f"P4 training worth it: {baseline} (r=0) on {closed} >= {gain:g} points above frozen CLIP ({frozen})",
        runs.seeds,
        lambda rows: {
            f"b:{baseline} (r=0) on {closed}": runs.top1(rows, baseline, closed, 0.0),
            f"f:{frozen} on {closed}": runs.top1(rows, frozen, closed, 1.0),
        },
        lambda b, f: (f"{fmt(b)} vs {fmt(f)} ({b - f:+.1f})", b - f >= gain),
    )


def temporal_attention_worth_it(runs: _Runs) -> List[Row]:
    """P4, second half, per variant trained without temporal attention (a missing row when there is none):
    fine-tuning with it gains points over each."""
    temporal, baseline, closed = runs.limits["temporal_gain_min"], runs.baseline, runs.closed
    absent = "a variant trained without temporal attention (report.without_temporal)"
    return [
        _row(
            f"P4 temporal attention worth it: {baseline} (r=0) on {closed} >= {temporal:g} points above "
            f"{other or absent}",
            runs.seeds,
            lambda rows, other=other: {
                f"b:{baseline} (r=0) on {closed}": runs.top1(rows, baseline, closed, 0.0),
                f"o:{other or absent} on {closed}": runs.top1(rows, other, closed, 0.0),
            },
            lambda b, o: (f"{fmt(b)} vs {fmt(o)} ({b - o:+.1f})", b - o >= temporal),
        )
        for other in runs.trained_without or [None]
    ]


def premises(members: Mapping[str, list], spec: Mapping) -> List[Row]:
    """The premise rows for the runs in ``members`` (seed -> result rows). ``spec`` names the variants
    (``frozen``, ``baseline``, ``without_temporal``), the sets (``train_set``, ``zeroshot``) and the thresholds
    (``premises``: the config's ``report.premises``, whose keys and defaults the config schema gives)."""
    runs = _Runs(members, spec)
    return [
        *pretrained_knowledge(runs),
        *attention_harmless(runs),
        one_basin(runs),
        training_worth_it(runs),
        *temporal_attention_worth_it(runs),
    ]
