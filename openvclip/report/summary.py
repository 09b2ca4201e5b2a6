"""The markdown summary of the result files, written with the trade-off plot and the DVC exports beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Optional

from ..io import write_csv, write_json, write_text
from .checks import MISSING, auc_rows, checks, headline, verdict
from .curves import ratios_of, reported_split, seed_groups
from .exports import metrics_of, tradeoff_points
from .markdown import fmt, mean_std, reported_text, split_words, table, video_counts, videos_table
from .plot import plot
from .tables import read_rows


def write_report(
    spec: Mapping,
    summary_path: Path,
    plot_path: Path,
    metrics_path: Optional[Path] = None,
    points_path: Optional[Path] = None,
) -> None:
    """Write the markdown summary and the trade-off plot from the result files named in ``spec``.

    ``spec``: ``files`` (result CSVs), ``train_set``, ``zeroshot`` (sets, appearance first), ``retrieval``,
    ``variants`` ({name: {trained: bool, ...}}), ``trained_variants``, ``test_ratio``,
    optional ``pretrain_metrics`` (JSON), ``title``, ``experiments`` ({name: description}) and ``config``.
    """
    rows = [r for f in spec["files"] for r in read_rows(f)]
    groups = seed_groups(rows)
    experiments = sorted({key[0] for key in groups})
    lines = [f"# {spec.get('title', 'Results')}\n"]
    if spec.get("intro"):
        lines.append(spec["intro"] + "\n")
    if spec.get("pretrain_metrics") and Path(spec["pretrain_metrics"]).is_file():
        metrics = json.loads(Path(spec["pretrain_metrics"]).read_text())["summary"]
        lines.append("## The demo's CLIP (theta0), pretrained on captioned still images\n")
        lines.append(
            table(
                [
                    "zero-shot top-1, all 64 objects",
                    "seen in pretraining",
                    "held out of pretraining",
                    "steps",
                    "final loss",
                ],
                [
                    [
                        fmt(metrics["zero_shot_top1_all"]),
                        fmt(metrics["zero_shot_top1_seen"]),
                        fmt(metrics["zero_shot_top1_heldout"]),
                        metrics["steps"],
                        fmt(metrics["final_loss"], 3),
                    ]
                ],
            )
        )
    lines.append("## Videos per data set and split\n")
    lines.append(
        "Listed by the data set's annotations; missing on disk (absent from the downloaded files); "
        "unreadable (the file does not decode); scored. Lost videos are left out of the scores; a job "
        "stops when a split loses more than its data set's `max_unreadable` allows.\n"
    )
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
            for d in [spec["train_set"]] + zs_names + list(spec.get("retrieval", [])):
                # One seed: the value (± std over test splits); several: mean ± std over seeds.
                cells.append(
                    row[d + " text"] if len(tables) == 1 else mean_std([t[i][d] for t in tables if i < len(t)])
                )
            body.append(cells)
        lines.append("### Test top-1 (%) per variant" + (" (mean ± std over seeds)" if len(seeds) > 1 else "") + "\n")
        lines.append(
            "Splits reported: "
            + ", ".join(
                f"{d}: {split_words(reported_split(members[seeds[0]], d))}"
                for d in [spec["train_set"]] + zs_names + list(spec.get("retrieval", []))
            )
            + ".\n"
        )
        lines.append(
            "Ratios: r=0 is the trained model, r=1 the original CLIP"
            + (
                "; the val-chosen ratio maximises the mean of closed-set and zero-shot top-1 on the validation splits."
                if any_chosen
                else "; no ratio is chosen: the sets have no validation split apart from those "
                "reported, so the configured test ratio is shown."
            )
            + "\n"
        )
        lines.append(table(header, body))
        # Area under the trade-off curves.
        lines.append("### Trade-off curves: mean zero-shot top-1 over the common closed-set range\n")
        auc_body = []
        for zs in zs_names:
            per_seed = [auc_rows(g, spec, zs) for g in members.values()]
            variants = sorted({v for p in per_seed for v in p[2]})
            for variant in variants:
                auc_body.append(
                    [
                        zs,
                        variant,
                        mean_std([p[2].get(variant) for p in per_seed]),
                        "; ".join(f"[{fmt(p[0])}, {fmt(p[1])}]" for p in per_seed),
                    ]
                )
            method, baseline = spec["method"], spec["baseline"]
            if {method, baseline} <= set(variants):
                wins = sum(p[2][method] > p[2][baseline] for p in per_seed)
                auc_body.append([zs, f"**{method} above {baseline}?**", f"{wins} of {len(per_seed)} seeds", ""])
            else:
                auc_body.append([zs, f"**{method} above {baseline}?**", MISSING, ""])
        lines.append(table(["zero-shot set", "variant", "mean envelope (area / range)", "closed-set range"], auc_body))
        lines.append(verdict(members, spec) + "\n")
        expectations = spec.get("expectations") or {}
        if expectations and (not experiment or expectations.get("in_study")):
            first = next(iter(members.values()))
            found = checks(first, spec)
            if found:
                lines.append("### Expectations of the demo (test splits; thresholds: `report.expectations`)\n")
                lines.append(
                    table(
                        ["expectation", "measured", "holds"],
                        [[what, got, MISSING if ok is None else "yes" if ok else "**no**"] for what, got, ok in found],
                    )
                )
        # Full sweeps (first seed).
        first = next(iter(members.values()))
        lines.append(
            "### Interpolation sweeps (top-1 % on the reported splits"
            + (f", seed {seeds[0]}" if experiment else "")
            + ")\n"
        )
        sweep_body = []
        for variant in spec["variants"]:
            for ratio in ratios_of(first, variant):
                cells = [variant, f"{ratio:g}"]
                for d in [spec["train_set"]] + zs_names:
                    cells.append(reported_text(first, d, "top1", variant=variant, ratio=ratio))
                for d in spec.get("retrieval", []):
                    cells.append(reported_text(first, d, "t2v_r1", variant=variant, ratio=ratio))
                sweep_body.append(cells)
        lines.append(
            table(
                ["variant", "r", spec["train_set"]] + zs_names + [f"{d} t2v R@1" for d in spec.get("retrieval", [])],
                sweep_body,
            )
        )
    if spec.get("notes"):
        lines.append("## Notes\n\n" + spec["notes"] + "\n")
    if spec.get("config"):
        lines.append("## Provenance\n")
        lines.append(
            f"Config hash(es) in the result files: {', '.join(sorted({r['config_hash'] for r in rows}))}."
            f" Config: `{spec['config']}`.\n"
        )
    plot(
        {name or "": [r for k, g in groups.items() if k[0] == name for r in g] for name in experiments}, spec, plot_path
    )
    first = groups[sorted(groups)[0]]
    if metrics_path is not None:
        write_json(metrics_path, metrics_of(first, spec))
    if points_path is not None:
        points = tradeoff_points(first, spec)
        write_csv(points_path, points, list(points[0]) if points else ["variant", "ratio"])
    # Written last: a summary on disk means the plot and the exports beside it were written too.
    write_text(summary_path, "\n".join(lines))
