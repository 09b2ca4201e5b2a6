"""`openvclip` subcommands: result tables, the summary and the trade-off plot."""

from __future__ import annotations

from pathlib import Path

from .args import existing, json_arg


def _cmd_collect(args) -> int:
    from ..report.tables import collect

    count = collect(args.inputs, args.out, args.extra)
    print(f"wrote {count} rows to {args.out}")
    return 0


def _cmd_report(args) -> int:
    from ..report.summary import write_report

    write_report(args.spec, args.summary, args.plot, args.metrics, args.points)
    print(f"wrote {', '.join(str(p) for p in (args.summary, args.plot, args.metrics, args.points) if p)}")
    return 0


def add_commands(add) -> None:
    p = add("collect", _cmd_collect, "concatenate result CSVs")
    p.add_argument("--inputs", type=existing, nargs="+", required=True)
    p.add_argument("--extra", type=json_arg, default=None, help="JSON list (one per input) of constant columns")
    p.add_argument("--out", type=Path, required=True)

    p = add("report", _cmd_report, "write the summary (markdown tables) and the trade-off plot")
    p.add_argument("--spec", type=json_arg, required=True, help="JSON: result files, variants, checks")
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--plot", type=Path, required=True)
    p.add_argument("--metrics", type=Path, help="JSON of the headline numbers (read by DVC's metrics commands)")
    p.add_argument(
        "--points",
        type=Path,
        help="CSV of the trade-off points, one row per variant and ratio (read by DVC's plots commands)",
    )
