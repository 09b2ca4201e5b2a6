"""Argument types and argument groups shared by the `openvclip` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def json_arg(text: str):
    """A config slice given as JSON (the workflow passes them this way)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text[:80]!r}") from error


def existing(text: str) -> Path:
    """An input path: it must exist (argparse then names the option and exits with status 2)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    return path


def ratio_arg(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio must be in [0, 1], got {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def part_arg(text: str):
    """``k/n``: the ``k``-th of ``n`` parts of a job's work (from 0)."""
    from ..data.parts import parse_part
    from ..errors import UserError

    try:
        return parse_part(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def model_args(p: argparse.ArgumentParser, theta0: bool = True) -> None:
    p.add_argument(
        "--model",
        type=json_arg,
        required=True,
        help='model spec JSON: {"config": {...open_clip.CLIP args}} or {"name": "ViT-B-16"}',
    )
    if theta0:
        p.add_argument("--theta0", type=existing, required=True, help="the original CLIP weights (safetensors)")


def temporal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--temporal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="expand-temporal-view attention in the vision tower (default: on; --no-temporal for the image CLIP)",
    )
    p.add_argument(
        "--boundary",
        choices=("mask", "zeros"),
        default="mask",
        help="missing neighbours at the first/last frame: masked, or zero keys/values (released)",
    )
