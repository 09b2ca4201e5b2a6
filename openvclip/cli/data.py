"""`openvclip` subcommands for data sets: prepare (render, or fetch, unpack and parse), decode frames, re-encode
training videos."""

from __future__ import annotations

import json
from pathlib import Path

from .args import existing, json_arg


def _cmd_prepare(args) -> int:
    from ..data.jobs import prepare

    counts = prepare(
        args.dataset,
        args.name,
        args.world,
        args.objects,
        args.seed,
        args.downloads,
        args.raw,
        args.manifest,
        progress=args.progress,
    )
    print(f"wrote {args.manifest}: {json.dumps(counts)}")
    return 0


def _cmd_descriptions(args) -> int:
    from ..data.jobs import class_descriptions

    files = class_descriptions(args.dataset, args.name, args.manifest, args.downloads, args.out, progress=args.progress)
    print(f"wrote {args.out}: {', '.join(f.name for f in files)}")
    return 0


def _cmd_frames(args) -> int:
    from ..data.jobs import extract_frames

    counts = extract_frames(
        args.manifest, args.out, args.settings, progress=args.progress, threads=max(1, args.threads)
    )
    print(f"decoded into {args.out}: {json.dumps(counts)}")
    return 0


def _cmd_train_videos(args) -> int:
    from ..data.jobs import reencode_train_videos

    counts = reencode_train_videos(
        args.manifest, args.videos, args.index, args.settings, threads=max(1, args.threads), progress=args.progress
    )
    print(
        f"indexed {counts['videos']} training videos in {args.index} ({counts['kept']} copies an earlier run "
        f"made, checked and kept); {counts['unreadable']} unreadable, skipped"
        + "".join(f"\n  {e}" for e in counts["examples"])
    )
    return 0


def add_commands(add) -> None:
    p = add(
        "prepare",
        _cmd_prepare,
        "prepare a data set: render it (synthetic) or fetch, verify, unpack and "
        "parse it (real formats) into a manifest and class list",
        "Prepare one data set of the config. Synthetic sets are rendered as video files. Real sets (UCF101, "
        "HMDB51, Kinetics-400, the Kinetics-600 novel classes, MSR-VTT) are fetched from their sources in "
        "order (resumable, checksum-verified downloads, or local copies), unpacked (ZIP, TAR, RAR) and "
        "parsed from their own annotation files. Videos the annotations list but the files lack are "
        "written to <manifest>.missing.csv (with their splits) and counted as lost.",
    )
    p.add_argument("--dataset", type=json_arg, required=True, help="the datasets.<name> entry as JSON")
    p.add_argument("--name", required=True, help="data set name")
    p.add_argument("--world", type=json_arg, default={}, help="synthetic sets: the world section as JSON")
    p.add_argument("--objects", type=json_arg, default={}, help="synthetic sets: the objects section as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--downloads", type=Path, required=True, help="folder for downloads (kept; resumed)")
    p.add_argument("--raw", type=Path, required=True, help="folder for video files (rendered or unpacked)")
    p.add_argument("--manifest", type=Path, required=True, help="manifest CSV to write (class list beside it)")

    p = add(
        "descriptions",
        _cmd_descriptions,
        "fetch (or, for a synthetic set, write) a data set's class descriptions files into a folder",
        "Get the files of a data set's `descriptions:` entry (FROSTER's rephrased class names, or your own "
        "JSON/YAML map class -> [texts]) from their sources, checksum-verified, into --out, numbered in the order "
        "embed-text reads them; a synthetic set's are written from its world for every class of its manifest.",
    )
    p.add_argument("--dataset", type=json_arg, required=True, help="the datasets.<name> entry as JSON")
    p.add_argument("--name", required=True, help="data set name")
    p.add_argument("--manifest", type=existing, required=True, help="the data set's manifest CSV")
    p.add_argument("--downloads", type=Path, required=True, help="folder for downloads (kept)")
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced atomically)")

    p = add("frames", _cmd_frames, "decode every video of a manifest once (decord) into a frame store folder")
    p.add_argument("--manifest", type=existing, required=True)
    p.add_argument("--out", type=Path, required=True, help="store folder to write")
    p.add_argument(
        "--settings",
        type=json_arg,
        required=True,
        help='JSON: {"format": "raw"|"jpeg", "size": 224, "num_frames": 8, "views": 3, "rate": 16, '
        '"quality": 90}; rate 0 spreads the frames over the whole video',
    )

    p = add(
        "train-videos",
        _cmd_train_videos,
        "re-encode the training split's videos once (short side 256, H.264, frequent keyframes) and index them",
        "Re-encode every video of the manifest's train split into --videos (short side at most "
        "settings.short_side, never enlarged; H.264 with a keyframe every settings.keyframe_interval frames, "
        "so random clips decode fast), --threads videos at a time. Finished videos are kept: a killed run "
        "redoes only the others. short_side 0 keeps the videos as they are and only checks them. Writes the "
        "index CSV training reads; unreadable videos are listed there with the reason and skipped.",
    )
    p.add_argument("--manifest", type=existing, required=True)
    p.add_argument("--videos", type=Path, required=True, help="folder for the re-encoded copies (kept; resumed)")
    p.add_argument("--index", type=Path, required=True, help="index CSV to write")
    p.add_argument(
        "--settings",
        type=json_arg,
        default={},
        help='the train_videos section as JSON: {"short_side": 256, "crf": 23, "preset": "veryfast", '
        '"keyframe_interval": 16}',
    )
