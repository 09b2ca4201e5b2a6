"""`openvclip` subcommands for CLIP weights and text: pretrain the demo's CLIP, fetch real weights, convert a
released checkpoint, cache a data set's text side, interpolate weights."""

from __future__ import annotations

import json
from pathlib import Path

from .args import existing, json_arg, model_args, ratio_arg


def _cmd_pretrain(args) -> int:
    from ..train.jobs import pretrain_clip

    summary = pretrain_clip(
        args.model, args.world, args.objects, args.pretrain, args.seed, args.out, args.metrics, progress=args.progress
    )
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_fetch(args) -> int:
    from ..models.jobs import fetch_clip

    fetch_clip(args.model, args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_import_released(args) -> int:
    from ..models.jobs import import_released

    print(import_released(args.model, args.checkpoint, args.out))
    print(f"wrote {args.out}; evaluate it with --boundary zeros (the released temporal attention)")
    return 0


def _cmd_embed_text(args) -> int:
    from ..data.manifest import labelled
    from ..models.jobs import embed_text

    rows, classes, _ = labelled(args.manifest, args.column)
    embed_text(
        args.model,
        args.theta0,
        rows=rows,
        classes=classes,
        column=args.column,
        protocol=args.protocol,
        templates=args.templates,
        out=args.out,
        source=str(args.manifest),
        descriptions=args.descriptions,
        aliases=args.aliases,
    )
    print(f"wrote {args.out}")
    return 0


def _cmd_interpolate(args) -> int:
    from ..weights import interpolate, load_weights, save_weights

    theta0, theta = load_weights(args.theta0), load_weights(args.theta)
    mixed = interpolate(theta0, theta, args.ratio)
    save_weights(mixed, args.out, {"ratio": args.ratio, "theta0": args.theta0, "theta": args.theta})
    print(f"wrote {args.out}: {args.ratio}*theta0 + {1 - args.ratio}*theta over {len(mixed)} tensors")
    return 0


def add_commands(add) -> None:
    p = add("pretrain-clip", _cmd_pretrain, "pretrain the demo's small CLIP on captioned synthetic images")
    model_args(p, theta0=False)
    p.add_argument("--world", type=json_arg, required=True)
    p.add_argument("--objects", type=json_arg, required=True)
    p.add_argument("--pretrain", type=json_arg, required=True, help="the clip.pretrain section as JSON")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True, help="theta0 weights to write (safetensors)")
    p.add_argument("--metrics", type=Path, required=True, help="JSON with loss and zero-shot accuracy")

    p = add("fetch-clip", _cmd_fetch, "fetch pretrained CLIP weights through open_clip and save them as theta0")
    model_args(p, theta0=False)
    p.add_argument("--out", type=Path, required=True)

    p = add(
        "import-released",
        _cmd_import_released,
        "convert a released Open-VCLIP checkpoint (PySlowFast .pth) into a weights file",
        "Convert a released Open-VCLIP checkpoint (PySlowFast .pth/.pyth: model_state with keys prefixed "
        "'model.') into a safetensors file of vision weights for `evaluate --weights`. The file is loaded "
        "with torch.load(weights_only=True): nothing but tensors and plain containers is unpickled. Missing "
        "and unexpected keys are reported; a missing vision weight writes nothing.",
    )
    p.add_argument(
        "--model",
        type=json_arg,
        required=True,
        help='the architecture as a model spec JSON, e.g. {"name": "ViT-B-16"} (no weights are fetched)',
    )
    p.add_argument("--checkpoint", type=existing, required=True, help="the released .pth/.pyth file")
    p.add_argument("--out", type=Path, required=True, help="safetensors file to write")

    p = add("embed-text", _cmd_embed_text, "cache a data set's text classifier (or caption embeddings)")
    model_args(p)
    p.add_argument("--manifest", type=existing, required=True)
    p.add_argument("--column", default="classname", help="manifest column that names the classes")
    p.add_argument("--protocol", choices=("closedset", "zeroshot", "retrieval"), required=True)
    p.add_argument("--templates", type=json_arg, default=None, help="JSON list of prompt templates with '{}'")
    p.add_argument(
        "--descriptions",
        type=existing,
        default=None,
        help="class descriptions to embed instead of the bare class names: a JSON/YAML map class -> [texts], or a "
        'FROSTER release file ({"0": "Class Name: description"}); every class must be in it',
    )
    p.add_argument(
        "--aliases",
        type=json_arg,
        default=None,
        help="JSON map our class name -> the name the descriptions file uses, for classes it spells otherwise",
    )
    p.add_argument("--out", type=Path, required=True)

    p = add(
        "interpolate",
        _cmd_interpolate,
        "mix two weight files: ratio*theta0 + (1-ratio)*theta",
        "Interpolate two safetensors weight files key by key: "
        "ratio*theta0 + (1-ratio)*theta. Ratio 0 gives theta, 1 gives theta0. "
        "The paper tests with ratio 0.5 (ViT-B) or 0.6 (ViT-L) on the SWA weights.",
    )
    p.add_argument("--theta0", type=existing, required=True, help="original CLIP weights (safetensors)")
    p.add_argument("--theta", type=existing, required=True, help="trained weights (safetensors), same keys")
    p.add_argument("--ratio", type=ratio_arg, required=True, help="weight of theta0, in [0, 1]")
    p.add_argument("--out", type=Path, required=True, help="output safetensors file (written atomically)")
