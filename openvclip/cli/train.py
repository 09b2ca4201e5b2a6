"""`openvclip` subcommands: training one variant (also under torchrun)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..data.lost_videos import DEFAULT_MAX_UNREADABLE
from .args import existing, json_arg, model_args, ratio_arg, temporal_args


def _cmd_train(args) -> int:
    from ..train.jobs import run

    result = run(
        model_spec=args.model,
        theta0=args.theta0,
        temporal=args.temporal,
        boundary=args.boundary,
        train=args.train,
        videos=args.videos,
        manifest=args.manifest,
        text=args.text,
        column=args.column,
        out_dir=args.out_dir,
        device=args.device,
        progress=args.progress,
        max_unreadable=args.max_unreadable,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, the main process reports
        print(json.dumps(result, indent=2))
    return 0


def add_commands(add) -> None:
    p = add("train", _cmd_train, "train one variant (frozen, finetune or openvclip objective)")
    model_args(p)
    temporal_args(p)
    p.add_argument("--train", type=json_arg, required=True, help="the train section (with objective) as JSON")
    p.add_argument(
        "--videos",
        type=existing,
        required=True,
        help="the training-video index written by the train-videos subcommand (clips are decoded from "
        "its videos on the fly, a fresh augmented clip of each video every epoch)",
    )
    p.add_argument("--manifest", type=existing, required=True)
    p.add_argument("--text", type=existing, required=True, help="cached text classifier of the training classes")
    p.add_argument("--column", default="classname")
    p.add_argument(
        "--max-unreadable",
        type=ratio_arg,
        default=None,
        help="the largest fraction of the train split's listed videos that may be lost (missing on disk "
        "or unreadable; datasets.<name>.max_unreadable in the config); default "
        f"{DEFAULT_MAX_UNREADABLE}",
    )
    p.add_argument("--out-dir", type=Path, required=True)
