"""Command-line interface: thin subcommands that call into the package."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import List, Optional

from .data.losses import DEFAULT_MAX_UNREADABLE
from .errors import UserError


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from .train import interpolate, load_weights, save_weights

    theta0, theta = load_weights(args.theta0), load_weights(args.theta)
    mixed = interpolate(theta0, theta, args.ratio)
    save_weights(mixed, args.out, {"ratio": args.ratio, "theta0": args.theta0, "theta": args.theta})
    print(f"wrote {args.out}: {args.ratio}*theta0 + {1 - args.ratio}*theta over {len(mixed)} tensors")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from .config import SCHEMA, resolve_base, validate_config

    root = Path.cwd() if args.root is None else args.root
    resolved = resolve_base(yaml.safe_load(args.file.read_text()) or {}, root)
    validated = validate_config(resolved, root / SCHEMA, source=str(args.file))
    sys.stdout.write(f"# {args.file} with its bases merged in and the schema's defaults filled in "
                     "(openvclip config --show)\n")
    sys.stdout.write(yaml.safe_dump(validated, sort_keys=False, width=118))
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


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text[:80]!r}")


def _existing(text: str) -> Path:
    """An input path: it must exist (argparse then names the option and exits with status 2)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    return path


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio must be in [0, 1], got {value}")
    return value


def _cmd_prepare(args) -> int:
    from .steps import prepare_dataset

    counts = prepare_dataset(args.dataset, args.name, args.world, args.objects, args.seed, args.downloads, args.raw,
                             args.manifest, progress=args.progress)
    print(f"wrote {args.manifest}: {json.dumps(counts)}")
    return 0


def _cmd_frames(args) -> int:
    from .steps import extract_frames

    counts = extract_frames(args.manifest, args.out, args.settings, progress=args.progress,
                            threads=max(1, args.threads))
    print(f"decoded into {args.out}: {json.dumps(counts)}")
    return 0


def _cmd_train_videos(args) -> int:
    from .steps import reencode_train_videos

    counts = reencode_train_videos(args.manifest, args.videos, args.index, args.settings,
                                   threads=max(1, args.threads), progress=args.progress)
    print(f"indexed {counts['videos']} training videos in {args.index} ({counts['kept']} copies an earlier run "
          f"made, checked and kept); {counts['unreadable']} unreadable, skipped"
          + "".join(f"\n  {e}" for e in counts["examples"]))
    return 0


def _cmd_pretrain(args) -> int:
    from .steps import pretrain_clip

    summary = pretrain_clip(args.model, args.world, args.objects, args.pretrain, args.seed, args.out, args.metrics,
                            progress=args.progress)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_fetch(args) -> int:
    from .steps import fetch_clip

    fetch_clip(args.model, args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_import_released(args) -> int:
    from .steps import import_released

    print(import_released(args.model, args.checkpoint, args.out))
    print(f"wrote {args.out}; evaluate it with --boundary zeros (the released temporal attention)")
    return 0


def _video_model(args):
    from .inference import load_video_model, parse_model_spec

    return load_video_model(parse_model_spec(args.model), args.theta0, args.checkpoint, args.ratio, args.temporal,
                            args.boundary, args.device)


def _report_unreadable(unreadable) -> int:
    """Unreadable videos on stderr; exit code 1 when there were any (0 otherwise)."""
    for path, why in unreadable.items():
        print(f"skipped unreadable video {path}: {why}", file=sys.stderr)
    return 1 if unreadable else 0


def _cmd_classify(args) -> int:
    from .inference import Sampling, classify, read_labels, templates_of

    labels = read_labels(args.labels, args.labels_file)
    results, unreadable = classify(_video_model(args), args.videos, labels, templates_of(args.templates),
                                   Sampling(args.frames, args.views, args.rate), args.topk, args.progress)
    if args.json:
        print(json.dumps({"results": results, "unreadable": unreadable}, indent=2))
    else:
        for item in results:
            print(item["video"])
            for rank, top in enumerate(item["top"], 1):
                print(f"  {rank}. {top['label']:<40} p={top['probability']:.3f}  cos={top['score']:+.3f}")
    return _report_unreadable(unreadable)


def _cmd_retrieve(args) -> int:
    from .inference import Sampling, retrieve, templates_of

    results, unreadable, cache = retrieve(_video_model(args), args.videos, args.query, templates_of(args.templates),
                                          Sampling(args.frames, args.views, args.rate), args.topk, args.progress)
    if args.json:
        print(json.dumps({"results": results, "unreadable": unreadable, "cache": cache}, indent=2))
    else:
        for item in results:
            print(f"query: {item['query']}")
            for rank, top in enumerate(item["top"], 1):
                print(f"  {rank}. {top['video']}  cos={top['score']:+.3f}")
        print(f"(embeddings: {cache['encoded']} encoded, {cache['reused']} from {cache['file']})", file=sys.stderr)
    return _report_unreadable(unreadable)


def _cmd_embed_text(args) -> int:
    from .steps import embed_text

    embed_text(args.model, args.theta0, args.manifest, args.column, args.protocol, args.templates, args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_train(args) -> int:
    from .steps import train_variant

    result = train_variant(args.model, args.theta0, args.temporal, args.boundary, args.train, args.videos,
                           args.manifest, args.text, args.column, args.out_dir, device=args.device,
                           progress=args.progress, max_unreadable=args.max_unreadable)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, the main process reports
        print(json.dumps(result, indent=2))
    return 0


def _cmd_evaluate(args) -> int:
    from .steps import evaluate_variant

    count = evaluate_variant(args.model, args.theta0, args.weights, args.temporal, args.boundary, args.ratios,
                             args.sets, args.variant, args.hash_of, args.out, args.batch_size,
                             progress=args.progress, device=args.device)
    print(f"wrote {count} result rows to {args.out}")
    return 0


def _cmd_collect(args) -> int:
    from .report.tables import collect

    count = collect(args.inputs, args.out, args.extra)
    print(f"wrote {count} rows to {args.out}")
    return 0


def _cmd_report(args) -> int:
    from .report.summary import write_report

    write_report(args.spec, args.summary, args.plot, args.metrics, args.points)
    print(f"wrote {', '.join(str(p) for p in (args.summary, args.plot, args.metrics, args.points) if p)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openvclip",
        description="Open-VCLIP: turn an image CLIP into an open-vocabulary video model. The Snakemake workflow "
                    "calls these subcommands; each is usable on its own. Config slices are passed as JSON.")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (capped at the machine's cores; 0: torch's default); for `frames` "
                             "and `train-videos`, also the videos decoded at once")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--device", default="auto",
                        help="train/evaluate on: auto (a CUDA GPU when there is one, else the CPU), cpu, cuda, "
                             "cuda:N; under torchrun each process takes the GPU of its LOCAL_RANK")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help_, description=None):
        p = sub.add_parser(name, help=help_, description=description or help_)
        p.set_defaults(func=func)
        return p

    def model_args(p, theta0=True):
        p.add_argument("--model", type=_json, required=True,
                       help='model spec JSON: {"config": {...open_clip.CLIP args}} or {"name": "ViT-B-16"}')
        if theta0:
            p.add_argument("--theta0", type=_existing, required=True, help="the original CLIP weights (safetensors)")

    def temporal_args(p):
        p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=True,
                       help="expand-temporal-view attention in the vision tower")
        p.add_argument("--boundary", choices=("mask", "zeros"), default="mask",
                       help="missing neighbours at the first/last frame: masked, or zero keys/values (released)")

    p = add("prepare", _cmd_prepare, "prepare a data set: render it (synthetic) or fetch, verify, unpack and "
            "parse it (real formats) into a manifest and class list",
            "Prepare one data set of the config. Synthetic sets are rendered as video files. Real sets (UCF101, "
            "HMDB51, Kinetics-400, the Kinetics-600 novel classes, MSR-VTT) are fetched from their sources in "
            "order (resumable, checksum-verified downloads, or local copies), unpacked (ZIP, TAR, RAR) and "
            "parsed from their own annotation files. Videos the annotations list but the files lack are "
            "written to <manifest>.missing.csv (with their splits) and counted as lost.")
    p.add_argument("--dataset", type=_json, required=True, help="the datasets.<name> entry as JSON")
    p.add_argument("--name", required=True, help="data set name")
    p.add_argument("--world", type=_json, default={}, help="synthetic sets: the world section as JSON")
    p.add_argument("--objects", type=_json, default={}, help="synthetic sets: the objects section as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--downloads", type=Path, required=True, help="folder for downloads (kept; resumed)")
    p.add_argument("--raw", type=Path, required=True, help="folder for video files (rendered or unpacked)")
    p.add_argument("--manifest", type=Path, required=True, help="manifest CSV to write (class list beside it)")

    p = add("frames", _cmd_frames, "decode every video of a manifest once (decord) into a frame store folder")
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--out", type=Path, required=True, help="store folder to write")
    p.add_argument("--settings", type=_json, required=True,
                   help='JSON: {"format": "raw"|"jpeg", "size": 224, "num_frames": 8, "views": 3, "rate": 16, '
                        '"quality": 90}; rate 0 spreads the frames over the whole video')

    p = add("train-videos", _cmd_train_videos,
            "re-encode the training split's videos once (short side 256, H.264, frequent keyframes) and index them",
            "Re-encode every video of the manifest's train split into --videos (short side at most "
            "settings.short_side, never enlarged; H.264 with a keyframe every settings.keyframe_interval frames, "
            "so random clips decode fast), --threads videos at a time. Finished videos are kept: a killed run "
            "redoes only the others. short_side 0 keeps the videos as they are and only checks them. Writes the "
            "index CSV training reads; unreadable videos are listed there with the reason and skipped.")
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--videos", type=Path, required=True, help="folder for the re-encoded copies (kept; resumed)")
    p.add_argument("--index", type=Path, required=True, help="index CSV to write")
    p.add_argument("--settings", type=_json, default={},
                   help='the train_videos section as JSON: {"short_side": 256, "crf": 23, "preset": "veryfast", '
                        '"keyframe_interval": 16}')

    p = add("pretrain-clip", _cmd_pretrain, "pretrain the demo's small CLIP on captioned synthetic images")
    model_args(p, theta0=False)
    p.add_argument("--world", type=_json, required=True)
    p.add_argument("--objects", type=_json, required=True)
    p.add_argument("--pretrain", type=_json, required=True, help="the clip.pretrain section as JSON")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True, help="theta0 weights to write (safetensors)")
    p.add_argument("--metrics", type=Path, required=True, help="JSON with loss and zero-shot accuracy")

    p = add("fetch-clip", _cmd_fetch, "fetch pretrained CLIP weights through open_clip and save them as theta0")
    model_args(p, theta0=False)
    p.add_argument("--out", type=Path, required=True)

    def video_model_args(p):
        p.add_argument("--model", default="ViT-B-16:openai",
                       help="open_clip NAME:TAG (default ViT-B-16:openai; fetched by open_clip once) or a JSON model "
                            "spec; with --theta0 the weights come from that file instead")
        p.add_argument("--theta0", type=_existing, help="full CLIP weights file (our safetensors, e.g. "
                                                        "models/clip/theta0.safetensors)")
        p.add_argument("--checkpoint", type=_existing,
                       help="our trained vision weights (models/<exp>/seed<s>/<variant>/swa.safetensors or "
                            "model.safetensors, or an import-released file); without it: the image CLIP, frames "
                            "averaged")
        p.add_argument("--ratio", type=float, default=0.0,
                       help="test-time interpolation r*theta0 + (1-r)*checkpoint (default 0; the paper tests "
                            "0.5 on the SWA weights)")
        p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=None,
                       help="temporal attention (default: on with --checkpoint, off without)")
        p.add_argument("--boundary", choices=("mask", "zeros"), default="mask",
                       help="temporal attention at the first/last frame (zeros for released checkpoints)")
        p.add_argument("--frames", type=int, default=8, help="frames per view (default 8)")
        p.add_argument("--views", type=int, default=3, help="temporal views per video, scores averaged (default 3)")
        p.add_argument("--rate", type=int, default=16,
                       help="frames between sampled frames (default 16; 0 spreads them over the whole video)")
        p.add_argument("--templates", default="paper",
                       help="prompt templates: paper (the paper's, averaged; classify's default), none (the text alone; retrieve's default) or a JSON list")
        p.add_argument("--topk", type=int, default=5)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = add("classify", _cmd_classify, "zero-shot classify video files against your labels",
            "Score each video against the labels with a CLIP (frames averaged) or one of our checkpoints. Unreadable "
            "videos are reported on stderr and skipped; the exit code is 1 if any were, 2 on bad arguments.")
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    p.add_argument("--labels", help='comma-separated labels, e.g. "ride a bike,play guitar"')
    p.add_argument("--labels-file", type=_existing, help="a file with one label per line")
    video_model_args(p)

    p = add("retrieve", _cmd_retrieve, "rank the videos of a folder by text queries",
            "Rank every video under --videos by each --query. Video embeddings are cached in "
            "<videos>/.openvclip/ (keyed by model, weights, ratio and sampling; a changed file is re-encoded), so "
            "another query costs only its text. Unreadable videos are reported and skipped (exit code 1).")
    p.add_argument("--videos", type=_existing, required=True, help="folder searched recursively for video files")
    p.add_argument("--query", action="append", required=True, help="text query (repeat for several)")
    video_model_args(p)
    p.set_defaults(templates="none")

    p = add("import-released", _cmd_import_released,
            "convert a released Open-VCLIP checkpoint (PySlowFast .pth) into a weights file",
            "Convert a released Open-VCLIP checkpoint (PySlowFast .pth/.pyth: model_state with keys prefixed "
            "'model.') into a safetensors file of vision weights for `evaluate --weights`. The file is loaded "
            "with torch.load(weights_only=True): nothing but tensors and plain containers is unpickled. Missing "
            "and unexpected keys are reported; a missing vision weight writes nothing.")
    p.add_argument("--model", type=_json, required=True,
                   help='the architecture as a model spec JSON, e.g. {"name": "ViT-B-16"} (no weights are fetched)')
    p.add_argument("--checkpoint", type=_existing, required=True, help="the released .pth/.pyth file")
    p.add_argument("--out", type=Path, required=True, help="safetensors file to write")

    p = add("embed-text", _cmd_embed_text, "cache a data set's text classifier (or caption embeddings)")
    model_args(p)
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--column", default="classname", help="manifest column that names the classes")
    p.add_argument("--protocol", choices=("closedset", "zeroshot", "retrieval"), required=True)
    p.add_argument("--templates", type=_json, default=None, help="JSON list of prompt templates with '{}'")
    p.add_argument("--out", type=Path, required=True)

    p = add("train", _cmd_train, "train one variant (frozen, finetune or openvclip objective)")
    model_args(p)
    temporal_args(p)
    p.add_argument("--train", type=_json, required=True, help="the train section (with objective) as JSON")
    p.add_argument("--videos", type=_existing, required=True,
                   help="the training-video index written by the train-videos subcommand (clips are decoded from "
                        "its videos on the fly, a fresh augmented clip of each video every epoch)")
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--text", type=_existing, required=True, help="cached text classifier of the training classes")
    p.add_argument("--column", default="classname")
    p.add_argument("--max-unreadable", type=_ratio, default=None,
                   help="the largest fraction of the train split's listed videos that may be lost (missing on disk "
                        "or unreadable; datasets.<name>.max_unreadable in the config); default "
                        f"{DEFAULT_MAX_UNREADABLE}")
    p.add_argument("--out-dir", type=Path, required=True)

    p = add("evaluate", _cmd_evaluate, "sweep interpolation ratios and score data sets (tidy CSV)")
    model_args(p)
    temporal_args(p)
    p.add_argument("--weights", type=_existing, required=True, help="trained vision weights (safetensors)")
    p.add_argument("--ratios", type=_json, required=True, help="JSON list of ratios r: r*theta0 + (1-r)*theta")
    p.add_argument("--sets", type=_json, required=True,
                   help="JSON list of {name, protocol, frames, manifest, text, column}")
    p.add_argument("--variant", required=True)
    p.add_argument("--hash-of", type=_json, required=True, help="the config slice the results depend on")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", type=Path, required=True)

    p = add("collect", _cmd_collect, "concatenate result CSVs")
    p.add_argument("--inputs", type=_existing, nargs="+", required=True)
    p.add_argument("--extra", type=_json, default=None, help="JSON list (one per input) of constant columns")
    p.add_argument("--out", type=Path, required=True)

    p = add("report", _cmd_report, "write the summary (markdown tables) and the trade-off plot")
    p.add_argument("--spec", type=_json, required=True, help="JSON: result files, variants, checks")
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--plot", type=Path, required=True)
    p.add_argument("--metrics", type=Path, help="JSON of the headline numbers (read by DVC's metrics commands)")
    p.add_argument("--points", type=Path, help="CSV of the trade-off points, one row per variant and ratio "
                                              "(read by DVC's plots commands)")

    p = sub.add_parser("interpolate", help="mix two weight files: ratio*theta0 + (1-ratio)*theta",
                       description="Interpolate two safetensors weight files key by key: "
                                   "ratio*theta0 + (1-ratio)*theta. Ratio 0 gives theta, 1 gives theta0. "
                                   "The paper tests with ratio 0.5 (ViT-B) or 0.6 (ViT-L) on the SWA weights.")
    p.add_argument("--theta0", type=_existing, required=True, help="original CLIP weights (safetensors)")
    p.add_argument("--theta", type=_existing, required=True, help="trained weights (safetensors), same keys")
    p.add_argument("--ratio", type=_ratio, required=True, help="weight of theta0, in [0, 1]")
    p.add_argument("--out", type=Path, required=True, help="output safetensors file (written atomically)")
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("config", help="print a config file as the workflow runs it: bases merged, defaults filled",
                       description="Print the config the workflow runs for FILE: its `base:` files merged under "
                                   "it, checked against the workflow's schema, every key the file leaves out set "
                                   "to the schema's default. DVC reads config.yaml as written, "
                                   "so a paper config runs under DVC as: openvclip config --show FILE > "
                                   "config.yaml")
    p.add_argument("--show", dest="file", type=_existing, required=True, metavar="FILE", help="the config file")
    p.add_argument("--root", type=Path, default=None,
                   help="the workflow folder, where `base:` paths and the schema are found (default: the current folder)")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("info", help="print versions and devices as JSON")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0), or a bad argument (2) after argparse printed which and why
        return int(done.code or 0)
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


if __name__ == "__main__":
    sys.exit(main())
