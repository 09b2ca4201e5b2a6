"""The markdown summary of the result files, written with the trade-off plot and the DVC exports beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Mapping, Optional

from ..io import write_csv, write_json, write_text
from ..results import read_rows
from .checks import MISSING, auc_rows, checks, headline, verdict
from .curves import ratios_of, reported_split, seed_groups
from .exports import metrics_of, tradeoff_points
from .markdown import fmt, mean_std, reported_text, split_words, table, video_counts, videos_table
from .plot import plot
from .premises import premises


def title_section(spec: Mapping) -> List[str]:
    """The title and the intro."""
    lines = [f"# {spec.get('title', 'Results')}\n"]
    if spec.get("intro"):
        lines.append(spec["intro"] + "\n")
    return lines


def pretrain_section(spec: Mapping) -> List[str]:
    """The pretrained CLIP's metrics, where the spec names an existing file."""
    if not (spec.get("pretrain_metrics") and Path(spec["pretrain_metrics"]).is_file()):
        return []
    metrics = json.loads(Path(spec["pretrain_metrics"]).read_text())["summary"]
    header = [
        "zero-shot top-1, all 64 objects",
        "seen in pretraining",
        "held out of pretraining",
        "steps",
        "final loss",
    ]
    cells = [
        fmt(metrics["zero_shot_top1_all"]),
        fmt(metrics["zero_shot_top1_seen"]),
        fmt(metrics["zero_shot_top1_heldout"]),
        metrics["steps"],
        fmt(metrics["final_loss"], 3),
    ]
    return ["## The demo's CLIP (theta0), pretrained on captioned still images\n", table(header, [cells])]


def videos_section(groups: Mapping) -> List[str]:
    """The videos per data set and split, from the first run."""
    return [
        "## Videos per data set and split\n",
        "Listed by the data set's annotations; missing on disk (absent from the downloaded files); "
        "unreadable (the file does not decode); scored. Lost videos are left out of the scores; a job "
        "stops when a split loses more than its data set's `max_unreadable` allows.\n",
        videos_table(video_counts(groups[sorted(groups)[0]])),
    ]


def experiment_heading(spec: Mapping, experiment: str, seeds: List[str]) -> List[str]:
    """The experiment's heading and description (none in a single run)."""
    if not experiment:
        return []
    lines = [f"## Experiment `{experiment}` (seeds {', '.join(seeds)})\n"]
    if spec.get("experiments", {}).get(experiment):
        lines.append(spec["experiments"][experiment] + "\n")
    return lines


def headline_section(spec: Mapping, members: Mapping[str, list], seeds: List[str]) -> List[str]:
    """The headline table: test top-1 per variant, mean ± std over seeds."""
    zs_names = list(spec["zeroshot"])
    sets = [spec["train_set"]] + zs_names + list(spec.get("retrieval", []))
    headlines = [headline(g, spec) for g in members.values()]
    tables = [found for found, _ in headlines]
    any_chosen = any(r is not None for _, chosen in headlines for r in chosen.values())
    header = (
        ["variant", "ratio", f"{spec['train_set']} closed-set"]
        + [f"{d} zero-shot" for d in zs_names]
        + [f"{d} t2v R@1" for d in spec.get("retrieval", [])]
    )
    body = []
    for i, row in enumerate(tables[0]):
        cells = [row["variant"], row["which"]]
        for d in sets:
            # One seed: the value (± std over test splits); several: mean ± std over seeds.
            cells.append(row[d + " text"] if len(tables) == 1 else mean_std([t[i][d] for t in tables if i < len(t)]))
        body.append(cells)
    splits = ", ".join(f"{d}: {split_words(reported_split(members[seeds[0]], d))}" for d in sets)
    return [
        "### Test top-1 (%) per variant" + (" (mean ± std over seeds)" if len(seeds) > 1 else "") + "\n",
        f"Splits reported: {splits}.\n",
        "Ratios: r=0 is the trained model, r=1 the original CLIP"
        + (
            "; the val-chosen ratio maximises the mean of closed-set and zero-shot top-1 on the validation splits."
            if any_chosen
            else "; no ratio is chosen: the sets have no validation split apart from those "
            "reported, so the configured test ratio is shown."
        )
        + "\n",
        table(header, body),
    ]


def ablation_rows(spec: Mapping, members: Mapping[str, list]) -> List[List[str]]:
    """The rows of the paper's table of components (``spec["ablation"]``): per row a variant at its trained
    weights (r=0) or interpolated (the val-chosen ratio, then the test ratio), a frozen one at r=1; each set's
    test top-1 (retrieval: t2v R@1) as mean ± std over seeds. A variant without results says missing."""
    sets = [spec["train_set"]] + list(spec["zeroshot"]) + list(spec.get("retrieval", []))
    per_seed = [headline(rows, spec) for rows in members.values()]
    body = []
    for entry in spec["ablation"]:
        variant = entry["variant"]
        found = [[h for h in tables if h["variant"] == variant] for tables, _ in per_seed]
        if not any(found):
            body.append([entry["row"], variant, MISSING] + [""] * (len(sets) - 1))
            continue
        frozen = not spec["variants"].get(variant, {}).get("trained", True)
        if frozen:
            kinds = ["r="]
        elif entry.get("ratio", "interpolated") == "trained":
            kinds = ["trained"]
        else:
            kinds = ["val-chosen", "paper"]
        for kind in kinds:
            picked = [next((h for h in rows if h["which"].startswith(kind)), None) for rows in found]
            if kind == "val-chosen" and not any(picked):
                continue  # no validation split to choose on (the paper's protocols): the test ratio only
            ratios = sorted({fmt(h["ratio"], 2) for h in picked if h is not None})
            which = {"r=": "r=1", "trained": "r=0", "val-chosen": "val-chosen r", "paper": "r"}[kind]
            label = which if kind in ("r=", "trained") else f"{which}={', '.join(ratios) or MISSING}"
            cells = [mean_std([h[d] if h is not None else None for h in picked]) for d in sets]
            body.append([entry["row"], f"{variant}, {label}"] + cells)
    return body


def ablation_section(spec: Mapping, members: Mapping[str, list], experiment: str) -> List[str]:
    """The paper's ablation table, in an experiment of several variants (the study) whose spec names rows."""
    if not (experiment and spec.get("ablation")):
        return []
    header = (
        ["component", "variant, ratio", f"{spec['train_set']} closed-set"]
        + [f"{d} zero-shot" for d in spec["zeroshot"]]
        + [f"{d} t2v R@1" for d in spec.get("retrieval", [])]
    )
    return [
        "### The paper's ablation: what each component adds (test top-1 %, mean ± std over seeds)\n",
        "Each row adds one component to the row above it: fine-tuning (r=0); + weight interpolation (the same "
        "weights interpolated with CLIP's, at the ratio chosen on the validation splits and at the paper's "
        f"test ratio {spec['test_ratio']:g}); + interpolated weight optimisation (Open-VCLIP's objective, its last "
        "weights); + SWA (its weight average). A val-chosen row lists the ratios the seeds chose; the curve "
        "areas below compare the same variants over every ratio.\n",
        table(header, ablation_rows(spec, members)),
    ]


def tradeoff_section(spec: Mapping, members: Mapping[str, list]) -> List[str]:
    """The trade-off table (area under the curves per seed) and the claim's verdict."""
    method, baseline = spec["method"], spec["baseline"]
    body = []
    for zs in spec["zeroshot"]:
        per_seed = [auc_rows(g, spec, zs) for g in members.values()]
        variants = sorted({v for p in per_seed for v in p[2]})
        for variant in variants:
            ranges = "; ".join(f"[{fmt(p[0])}, {fmt(p[1])}]" for p in per_seed)
            body.append([zs, variant, mean_std([p[2].get(variant) for p in per_seed]), ranges])
        if {method, baseline} <= set(variants):
            wins = sum(p[2][method] > p[2][baseline] for p in per_seed)
            body.append([zs, f"**{method} above {baseline}?**", f"{wins} of {len(per_seed)} seeds", ""])
        else:
            body.append([zs, f"**{method} above {baseline}?**", MISSING, ""])
    return [
        "### Trade-off curves: mean zero-shot top-1 over the common closed-set range\n",
        table(["zero-shot set", "variant", "mean envelope (area / range)", "closed-set range"], body),
        verdict(members, spec) + "\n",
    ]


def expectations_section(spec: Mapping, members: Mapping[str, list], experiment: str) -> List[str]:
    """The expectations table, where the spec sets expectations for this run: every seed's numbers, and how many
    seeds each holds in."""
    expectations = spec.get("expectations") or {}
    if not expectations or (experiment and not expectations.get("in_study")):
        return []
    per_seed = [checks(rows, spec) for rows in members.values()]
    if not per_seed[0]:
        return []
    body = []
    for i, (what, _, _) in enumerate(per_seed[0]):
        found = [seed[i] for seed in per_seed]
        verdicts = [ok for _, _, ok in found]
        wins = sum(bool(ok) for ok in verdicts)
        if any(ok is None for ok in verdicts):
            holds = MISSING
        else:
            holds = f"{wins} of {len(found)} seeds" if 0 < wins < len(found) else "yes" if wins else "**no**"
        body.append([what, " / ".join(got for _, got, _ in found), holds])
    seeds = f"; seeds {', '.join(members)}, each shown" if len(members) > 1 else ""
    return [
        f"### Expectations of the demo (test splits; thresholds: `report.expectations`{seeds})\n",
        table(["expectation", "measured", "holds"], body),
    ]


def premises_section(spec: Mapping, members: Mapping[str, list]) -> List[str]:
    """The premises the method rests on, every seed (a row holds when it holds in each)."""
    if not spec.get("premises"):
        return []
    found = premises(members, spec)
    body = [[what, got, MISSING if ok is None else "yes" if ok else "**no**"] for what, got, ok in found]
    split = spec["premises"]["split"]
    # Where a premise fails the reader needs to know whether anything measured holds it (a budget, a world).
    failing = spec["premises"].get("where_they_fail", "") if any(ok is False for _, _, ok in found) else ""
    return [
        f"### Premises of the method ({split_words(split)}s; thresholds: `report.premises`)\n",
        "A set without that split is read on its reported split. Where a premise fails, the data cannot test "
        "the claim as the paper's data do"
        + (
            f"; seeds {', '.join(members)}, each shown, and a row holds when it holds in every seed"
            if len(members) > 1
            else ""
        )
        + ".\n",
        table(["premise", "measured", "holds"], body),
    ] + ([f"\n{failing.strip()}\n"] if failing.strip() else [])


def sweeps_section(spec: Mapping, members: Mapping[str, list], seeds: List[str], experiment: str) -> List[str]:
    """The interpolation sweeps table (first seed)."""
    first = next(iter(members.values()))
    zs_names = list(spec["zeroshot"])
    body = []
    for variant in spec["variants"]:
        for ratio in ratios_of(first, variant):
            cells = [variant, f"{ratio:g}"]
            for d in [spec["train_set"]] + zs_names:
                cells.append(reported_text(first, d, "top1", variant=variant, ratio=ratio))
            for d in spec.get("retrieval", []):
                cells.append(reported_text(first, d, "t2v_r1", variant=variant, ratio=ratio))
            body.append(cells)
    header = ["variant", "r", spec["train_set"]] + zs_names + [f"{d} t2v R@1" for d in spec.get("retrieval", [])]
    return [
        "### Interpolation sweeps (top-1 % on the reported splits"
        + (f", seed {seeds[0]}" if experiment else "")
        + ")\n",
        table(header, body),
    ]


def experiment_section(spec: Mapping, groups: Mapping, experiment: str) -> List[str]:
    """One experiment's sections: heading, headline, trade-off, expectations and sweeps."""
    seeds = sorted(k[1] for k in groups if k[0] == experiment)
    members = {seed: groups[(experiment, seed)] for seed in seeds}
    return (
        experiment_heading(spec, experiment, seeds)
        + headline_section(spec, members, seeds)
        + ablation_section(spec, members, experiment)
        + tradeoff_section(spec, members)
        + premises_section(spec, members)
        + expectations_section(spec, members, experiment)
        + sweeps_section(spec, members, seeds, experiment)
    )


def notes_section(spec: Mapping) -> List[str]:
    """The notes, where the spec has them."""
    return ["## Notes\n\n" + spec["notes"] + "\n"] if spec.get("notes") else []


def provenance_section(spec: Mapping, rows: list) -> List[str]:
    """The config hashes and config path, where the spec names a config."""
    if not spec.get("config"):
        return []
    hashes = ", ".join(sorted({r["config_hash"] for r in rows}))
    return ["## Provenance\n", f"Config hash(es) in the result files: {hashes}. Config: `{spec['config']}`.\n"]


def write_exports(
    spec: Mapping, groups: Mapping, plot_path: Path, metrics_path: Optional[Path], points_path: Optional[Path]
) -> None:
    """Write the trade-off plot, the metrics JSON and the trade-off CSV (the last two from the first run)."""
    experiments = sorted({key[0] for key in groups})
    plot(
        {name or "": [r for k, g in groups.items() if k[0] == name for r in g] for name in experiments}, spec, plot_path
    )
    first = groups[sorted(groups)[0]]
    if metrics_path is not None:
        write_json(metrics_path, metrics_of(first, spec))
    if points_path is not None:
        points = tradeoff_points(first, spec)
        write_csv(points_path, points, list(points[0]) if points else ["variant", "ratio"])


def write_report(
    spec: Mapping,
    summary_path: Path,
    plot_path: Path,
    metrics_path: Optional[Path] = None,
    points_path: Optional[Path] = None,
) -> None:
    """Write the markdown summary and the trade-off plot from the result files named in ``spec``.

    ``spec``: ``files`` (result CSVs), ``train_set``, ``zeroshot`` (sets), ``retrieval``,
    ``variants`` ({name: {trained: bool, ...}}), ``trained_variants``, ``test_ratio``,
    optional ``pretrain_metrics`` (JSON), ``title``, ``experiments`` ({name: description}) and ``config``.
    """
    rows = [r for f in spec["files"] for r in read_rows(f)]
    groups = seed_groups(rows)
    lines = title_section(spec) + pretrain_section(spec) + videos_section(groups)
    for experiment in sorted({key[0] for key in groups}):
        lines += experiment_section(spec, groups, experiment)
    lines += notes_section(spec) + provenance_section(spec, rows)
    write_exports(spec, groups, plot_path, metrics_path, points_path)
    # Written last: a summary on disk means the plot and the exports beside it were written too.
    write_text(summary_path, "\n".join(lines))
