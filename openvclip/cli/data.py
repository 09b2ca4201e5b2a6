"""`openvclip` subcommands for data sets: prepare (render, or fetch, unpack and parse), decode frames, re-encode
training videos."""

from __future__ import annotations

import json
from pathlib import Path

from .args import existing, json_arg, part_arg, positive_int


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
        at_once=args.downloads_at_once,
    )
    print(f"wrote {args.manifest}: {json.dumps(counts)}")
    return 0


def _cmd_plan_shards(args) -> int:
    from ..data.shards import plan_shards

    plan = plan_shards(args.dataset, args.name, args.downloads, args.archives_per_job, args.out)
    sizes = [len(s["urls"]) for s in plan["shards"]]
    print(f"wrote {args.out}: {len(sizes)} shard(s) of {sum(sizes)} archive(s) of data set {args.name}")
    return 0


def _cmd_fetch_shard(args) -> int:
    from ..data.shards import fetch_shard

    record = fetch_shard(
        args.dataset,
        args.name,
        args.plan,
        args.shard,
        args.downloads,
        args.raw,
        args.out,
        at_once=args.downloads_at_once,
        progress=args.progress,
    )
    size = sum(a["bytes"] for a in record["archives"])
    print(f"wrote {args.out}: {len(record['archives'])} archive(s), {size / 1e9:.2f} GB, fetched and unpacked")
    return 0


def _cmd_descriptions(args) -> int:
    from ..data.jobs import class_descriptions

    files = class_descriptions(args.dataset, args.name, args.manifest, args.downloads, args.out, progress=args.progress)
    print(f"wrote {args.out}: {', '.join(f.name for f in files)}")
    return 0


def _cmd_frames(args) -> int:
    from ..data.jobs import extract_frames

    counts = extract_frames(
        args.manifest,
        args.out,
        args.settings,
        progress=args.progress,
        threads=max(1, args.threads),
        part=args.part,
        record=args.record,
    )
    print(f"decoded into {args.out if args.part is None else args.record}: {json.dumps(counts)}")
    return 0


def _cmd_train_videos(args) -> int:
    from ..data.jobs import reencode_train_videos

    counts = reencode_train_videos(
        args.manifest,
        args.videos,
        args.index,
        args.settings,
        threads=max(1, args.threads),
        progress=args.progress,
        part=args.part,
        parts=args.parts,
    )
    done = (
        f"joined the {counts['parts']} part indexes"
        if args.parts
        else f"{counts['kept']} copies an earlier run made, checked and kept"
    )
    print(
        f"indexed {counts['videos']} training videos in {args.index} ({done}); {counts['unreadable']} "
        "unreadable, skipped" + "".join(f"\n  {e}" for e in counts["examples"])
    )
    return 0


def _dataset_args(p) -> None:
    p.add_argument("--dataset", type=json_arg, required=True, help="the datasets.<name> entry as JSON")
    p.add_argument("--name", required=True, help="data set name")


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
    _dataset_args(p)
    p.add_argument("--world", type=json_arg, default={}, help="synthetic sets: the world section as JSON")
    p.add_argument("--objects", type=json_arg, default={}, help="synthetic sets: the objects section as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--downloads", type=Path, required=True, help="folder for downloads (kept; resumed)")
    p.add_argument("--raw", type=Path, required=True, help="folder for video files (rendered or unpacked)")
    p.add_argument("--manifest", type=Path, required=True, help="manifest CSV to write (class list beside it)")
    p.add_argument(
        "--downloads-at-once",
        type=positive_int,
        default=1,
        help="archives of a URL list fetched at the same time (the workflow passes shards.downloads_at_once)",
    )

    p = add(
        "plan-shards",
        _cmd_plan_shards,
        "read a data set's URL lists and cut its archives into shards, one job each",
        "Fetch the URL lists of a real data set (Kinetics' CVDF lists) into --downloads/<role>/ and write the "
        "shard plan --out: the archives grouped --archives-per-job at a time within each file role. The "
        "workflow runs one fetch-shard job per shard, and as many re-encoding and frame-decoding jobs.",
    )
    _dataset_args(p)
    p.add_argument("--downloads", type=Path, required=True, help="the data set's download folder (lists kept there)")
    p.add_argument("--archives-per-job", type=positive_int, required=True, help="archives in a shard")
    p.add_argument("--out", type=Path, required=True, help="shard plan JSON to write")

    p = add(
        "fetch-shard",
        _cmd_fetch_shard,
        "download and unpack one shard of a data set's archives",
        "Download the archives of shard --shard of the plan (plan-shards), --downloads-at-once at a time, "
        "resumable and verified as `prepare` does, and unpack each where `prepare` would; writes a record of "
        "them to --out. `prepare` then finds them in place and only parses the annotations.",
    )
    _dataset_args(p)
    p.add_argument("--plan", type=existing, required=True, help="the shard plan (plan-shards --out)")
    p.add_argument("--shard", type=int, required=True, help="which shard, from 0")
    p.add_argument("--downloads", type=Path, required=True, help="the data set's download folder (kept; resumed)")
    p.add_argument("--raw", type=Path, required=True, help="the data set's folder of unpacked files")
    p.add_argument("--out", type=Path, required=True, help="record JSON to write")
    p.add_argument(
        "--downloads-at-once",
        type=positive_int,
        required=True,
        help="archives fetched at the same time (the workflow passes shards.downloads_at_once)",
    )

    p = add(
        "descriptions",
        _cmd_descriptions,
        "fetch (or, for a synthetic set, write) a data set's class descriptions files into a folder",
        "Get the files of a data set's `descriptions:` entry (FROSTER's rephrased class names, or your own "
        "JSON/YAML map class -> [texts]) from their sources, checksum-verified, into --out, numbered in the order "
        "embed-text reads them; a synthetic set's are written from its world for every class of its manifest.",
    )
    _dataset_args(p)
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
    p.add_argument(
        "--part",
        type=part_arg,
        help="k/n: decode only the k-th of n parts of the store (one shard job) into <out>.partial/ and write "
        "--record; a later call without --part assembles the store from the parts",
    )
    p.add_argument("--record", type=Path, help="with --part: the JSON record of what the part decoded")

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
    cut = p.add_mutually_exclusive_group()
    cut.add_argument(
        "--part", type=part_arg, help="k/n: only the k-th of n parts of the training videos (one shard job)"
    )
    cut.add_argument(
        "--parts",
        type=existing,
        nargs="*",
        default=[],
        help="the part indexes of every shard job, in order: join them into --index (nothing is re-encoded)",
    )
