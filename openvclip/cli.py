"""Command-line interface: thin subcommands that call into the package."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import List, Optional


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from .train import interpolate, load_weights, save_weights

    theta0, theta = load_weights(args.theta0), load_weights(args.theta)
    mixed = interpolate(theta0, theta, args.ratio)
    save_weights(mixed, args.out, {"ratio": args.ratio, "theta0": args.theta0, "theta": args.theta})
    print(f"wrote {args.out}: {args.ratio}*theta0 + {1 - args.ratio}*theta over {len(mixed)} tensors")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import open_clip
    import torch

    from . import __version__

    info = {"openvclip": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "open_clip": open_clip.__version__, "cuda_available": torch.cuda.is_available(),
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    print(json.dumps(info, indent=2))
    return 0


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio must be in [0, 1], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openvclip",
        description="Open-VCLIP: turn an image CLIP into an open-vocabulary video model. The Snakemake workflow "
                    "calls these subcommands; each is usable on its own.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("interpolate", help="mix two weight files: ratio*theta0 + (1-ratio)*theta",
                       description="Interpolate two safetensors weight files key by key: "
                                   "ratio*theta0 + (1-ratio)*theta. Ratio 0 gives theta, 1 gives theta0. "
                                   "The paper tests with ratio 0.5 (ViT-B) or 0.6 (ViT-L) on the SWA weights.")
    p.add_argument("--theta0", type=Path, required=True, help="original CLIP weights (safetensors)")
    p.add_argument("--theta", type=Path, required=True, help="trained weights (safetensors), same keys")
    p.add_argument("--ratio", type=_ratio, required=True, help="weight of theta0, in [0, 1]")
    p.add_argument("--out", type=Path, required=True, help="output safetensors file (written atomically)")
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("info", help="print versions and devices as JSON")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as error:
        print(f"openvclip {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
