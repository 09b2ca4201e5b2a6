"""`openvclip` subcommands: the resolved config, versions and devices."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .args import existing


def _cmd_config(args) -> int:
    import yaml

    from ..config import SCHEMA, resolve_base, validate_config

    root = Path.cwd() if args.root is None else args.root
    resolved = resolve_base(yaml.safe_load(args.file.read_text()) or {}, root)
    validated = validate_config(resolved, root / SCHEMA, source=str(args.file))
    sys.stdout.write(
        f"# {args.file} with its bases merged in and the schema's defaults filled in (openvclip config --show)\n"
    )
    sys.stdout.write(yaml.safe_dump(validated, sort_keys=False, width=118))
    return 0


def _cmd_dvc_yaml(args) -> int:
    from . import dvc_yaml

    if args.check:
        diff = dvc_yaml.difference(args.root)
        sys.stdout.write(diff or f"{args.root / dvc_yaml.DVC_YAML} is up to date\n")
        return 1 if diff else 0
    changed = dvc_yaml.write(args.root)
    print(f"{args.root / dvc_yaml.DVC_YAML} {'written' if changed else 'already up to date'}")
    return 0


def _cmd_info(args) -> int:
    import torch

    from ..versions import versions

    info = {
        **versions(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    print(json.dumps(info, indent=2))
    return 0


def add_commands(add) -> None:
    p = add(
        "config",
        _cmd_config,
        "print a config file as the workflow runs it: bases merged, defaults filled",
        "Print the config the workflow runs for FILE: its `base:` files merged under it, checked against the "
        "workflow's schema, every key the file leaves out set to the schema's default. DVC reads config.yaml "
        "as written, so a paper config runs under DVC as: openvclip config --show FILE > config.yaml",
    )
    p.add_argument("--show", dest="file", type=existing, required=True, metavar="FILE", help="the config file")
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the workflow folder, where `base:` paths and the schema are found (default: the current folder)",
    )

    p = add(
        "dvc-yaml",
        _cmd_dvc_yaml,
        "write dvc.yaml from config.yaml: a stage per trained and per evaluated variant",
        "Write dvc.yaml from config.yaml (as written: DVC reads its params from that file) and the code: the data, "
        "CLIP and text stages, one training stage per variant of the main experiment with weights of its own and "
        "one evaluation stage per variant, each listing the config keys its jobs read (so a change reruns only what it "
        "touches), the tables, the report (metrics, plots) and the training curves. Run it after changing the "
        "config's variants, seeds or data sets, and commit both; inside a DVC stage the workflow refuses a "
        "dvc.yaml written for another config.",
    )
    p.add_argument("--check", action="store_true", help="write nothing; print the difference and exit 1 if any")
    p.add_argument("--root", type=Path, default=Path("."), help="the project folder (default: the current one)")

    p = add("info", _cmd_info, "print versions and devices as JSON")
