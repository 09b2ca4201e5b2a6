"""`openvclip` subcommands: a trained model on your own videos: zero-shot classification and text-to-video retrieval."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .args import existing


def _video_model(args):
    from ..inference import load_video_model, parse_model_spec

    return load_video_model(
        parse_model_spec(args.model),
        args.theta0,
        args.checkpoint,
        args.ratio,
        args.temporal,
        args.boundary,
        args.device,
    )


def _report_unreadable(unreadable) -> int:
    """Unreadable videos on stderr; exit code 1 when there were any (0 otherwise)."""
    for path, why in unreadable.items():
        print(f"skipped unreadable video {path}: {why}", file=sys.stderr)
    return 1 if unreadable else 0


def _cmd_classify(args) -> int:
    from ..inference import Sampling, classify, read_labels, templates_of

    # Every argument is checked before the model loads (which may download hundreds of MB).
    labels, templates = read_labels(args.labels, args.labels_file), templates_of(args.templates)
    results, unreadable = classify(
        _video_model(args),
        args.videos,
        labels,
        templates,
        Sampling(args.frames, args.views, args.rate),
        args.topk,
        args.progress,
    )
    if args.json:
        print(json.dumps({"results": results, "unreadable": unreadable}, indent=2))
    else:
        for item in results:
            print(item["video"])
            for rank, top in enumerate(item["top"], 1):
                print(f"  {rank}. {top['label']:<40} p={top['probability']:.3f}  cos={top['score']:+.3f}")
    return _report_unreadable(unreadable)


def _cmd_retrieve(args) -> int:
    from ..inference import Sampling, checked_queries, retrieve, templates_of, videos_under

    # Every argument is checked before the model loads (which may download hundreds of MB).
    checked_queries(args.query)
    videos_under(args.videos)
    templates = templates_of(args.templates)
    results, unreadable, cache = retrieve(
        _video_model(args),
        args.videos,
        args.query,
        templates,
        Sampling(args.frames, args.views, args.rate),
        args.topk,
        args.progress,
    )
    if args.json:
        print(json.dumps({"results": results, "unreadable": unreadable, "cache": cache}, indent=2))
    else:
        for item in results:
            print(f"query: {item['query']}")
            for rank, top in enumerate(item["top"], 1):
                print(f"  {rank}. {top['video']}  cos={top['score']:+.3f}")
        print(f"(embeddings: {cache['encoded']} encoded, {cache['reused']} from {cache['file']})", file=sys.stderr)
    return _report_unreadable(unreadable)


def _video_model_args(p):
    p.add_argument(
        "--model",
        default="ViT-B-16:openai",
        help="open_clip NAME:TAG (default ViT-B-16:openai; fetched by open_clip once) or a JSON model "
        "spec; with --theta0 the weights come from that file instead",
    )
    p.add_argument(
        "--theta0", type=existing, help="full CLIP weights file (our safetensors, e.g. models/clip/theta0.safetensors)"
    )
    p.add_argument(
        "--checkpoint",
        type=existing,
        help="our trained vision weights (models/<exp>/seed<s>/<variant>/swa.safetensors or "
        "model.safetensors, or an import-released file); without it: the image CLIP, frames "
        "averaged",
    )
    p.add_argument(
        "--ratio",
        type=float,
        default=0.0,
        help="test-time interpolation r*theta0 + (1-r)*checkpoint (default 0; the paper tests 0.5 on the SWA weights)",
    )
    p.add_argument(
        "--temporal",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="temporal attention (default: on with --checkpoint, off without)",
    )
    p.add_argument(
        "--boundary",
        choices=("mask", "zeros"),
        default="mask",
        help="temporal attention at the first/last frame (zeros for released checkpoints)",
    )
    p.add_argument("--frames", type=int, default=8, help="frames per view (default 8)")
    p.add_argument("--views", type=int, default=3, help="temporal views per video, scores averaged (default 3)")
    p.add_argument(
        "--rate",
        type=int,
        default=16,
        help="frames between sampled frames (default 16; 0 spreads them over the whole video)",
    )
    p.add_argument(
        "--templates",
        default="paper",
        help="prompt templates: paper (the paper's, averaged; classify's default), none (the text alone; "
        "retrieve's default) or a JSON list",
    )
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_commands(add) -> None:
    p = add(
        "classify",
        _cmd_classify,
        "zero-shot classify video files against your labels",
        "Score each video against the labels with a CLIP (frames averaged) or one of our checkpoints. Unreadable "
        "videos are reported on stderr and skipped; the exit code is 1 if any were, 2 on bad arguments.",
    )
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    p.add_argument("--labels", help='comma-separated labels, e.g. "ride a bike,play guitar"')
    p.add_argument("--labels-file", type=existing, help="a file with one label per line")
    _video_model_args(p)

    p = add(
        "retrieve",
        _cmd_retrieve,
        "rank the videos of a folder by text queries",
        "Rank every video under --videos by each --query. Video embeddings are cached in "
        "<videos>/.openvclip/ (keyed by model, weights, ratio and sampling; a changed file is re-encoded), so "
        "another query costs only its text. Unreadable videos are reported and skipped (exit code 1).",
    )
    p.add_argument("--videos", type=existing, required=True, help="folder searched recursively for video files")
    p.add_argument("--query", action="append", required=True, help="text query (repeat for several)")
    _video_model_args(p)
    p.set_defaults(templates="none")
