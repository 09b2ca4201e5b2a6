"""The `openvclip` command: one subcommand per workflow job (each usable on its own) plus tools to use a trained
model. Each group of subcommands is a module here with its parsers and thin handlers that call the package's
job functions (``openvclip.<area>.jobs``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from ..errors import UserError
from . import data, evaluate, models, report, tools, train, use

GROUPS = (data, models, use, train, evaluate, report, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openvclip",
        description="Open-VCLIP: turn an image CLIP into an open-vocabulary video model. The Snakemake workflow "
        "calls these subcommands; each is usable on its own. Config slices are passed as JSON.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (capped at the machine's cores; 0: torch's default); for `frames` "
        "and `train-videos`, also the videos decoded at once",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument(
        "--device",
        default="auto",
        help="train/evaluate on: auto (a CUDA GPU when there is one, else the CPU), cpu, cuda, "
        "cuda:N; under torchrun each process takes the GPU of its LOCAL_RANK",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help_, description=None):
        p = sub.add_parser(name, help=help_, description=description or help_)
        p.set_defaults(func=func)
        return p

    for group in GROUPS:
        group.add_commands(add)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0), or a bad argument (2) after argparse printed which and why
        return int(done.code or 0)
    # The package's progress messages (openvclip.* loggers) go to stderr, beside tqdm's bars; a command's result
    # goes to stdout. Under pytest or an embedding program, their logging setup stays as it is.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    try:
        return args.func(args)
    except UserError as error:
        # What the user gave is wrong and the message says what to change: one line, no traceback. Anything
        # else is a bug and raises with its traceback.
        print(f"openvclip {args.command}: error: {error}", file=sys.stderr)
        return 2
