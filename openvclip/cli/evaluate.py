"""`openvclip` subcommands: evaluation: a ratio sweep scored on data sets."""

from __future__ import annotations

from pathlib import Path

from .args import existing, json_arg, model_args, temporal_args


def _cmd_evaluate(args) -> int:
    from ..eval.jobs import run

    count = run(
        model_spec=args.model,
        theta0=args.theta0,
        weights=args.weights,
        temporal=args.temporal,
        boundary=args.boundary,
        ratios=args.ratios,
        sets=args.sets,
        variant=args.variant,
        hash_of=args.hash_of,
        out=args.out,
        batch_size=args.batch_size,
        progress=args.progress,
        device=args.device,
    )
    print(f"wrote {count} result rows to {args.out}")
    return 0


def add_commands(add) -> None:
    p = add("evaluate", _cmd_evaluate, "sweep interpolation ratios and score data sets (tidy CSV)")
    model_args(p)
    temporal_args(p)
    p.add_argument("--weights", type=existing, required=True, help="trained vision weights (safetensors)")
    p.add_argument("--ratios", type=json_arg, required=True, help="JSON list of ratios r: r*theta0 + (1-r)*theta")
    p.add_argument(
        "--sets", type=json_arg, required=True, help="JSON list of {name, protocol, frames, manifest, text, column}"
    )
    p.add_argument("--variant", required=True)
    p.add_argument("--hash-of", type=json_arg, required=True, help="the config slice the results depend on")
    p.add_argument(
        "--batch-size", type=int, required=True, help="videos per forward pass (the workflow passes eval.batch_size)"
    )
    p.add_argument("--out", type=Path, required=True)
