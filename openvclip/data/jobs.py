"""The data jobs of the workflow: prepare a data set (render, or fetch, unpack and parse), decode its frames for
evaluation, re-encode its training videos. Each reads its inputs, writes its outputs atomically and is one
`openvclip` subcommand."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple

from ..errors import UserError
from ..io import atomic_path, write_json
from .manifest import missing_path, read_manifest, write_lines, write_manifest, write_missing

log = logging.getLogger(__name__)


def _prepare_synthetic(
    world: Mapping,
    objects: Mapping,
    dataset: Mapping,
    name: str,
    seed: int,
    raw_dir: Path,
    manifest: Path,
    progress: bool = True,
) -> int:
    """Render a synthetic data set as video files plus its manifest and class list."""
    from .synthetic import HELDOUT, SyntheticSet, World, class_list, generate_set, split_objects

    world_cfg = World.from_dict(world)
    spec = SyntheticSet.from_dict(dataset, name)
    groups = split_objects(seed, objects)
    if spec.objects not in groups or spec.objects == HELDOUT:
        allowed = ", ".join(g for g in groups if g != HELDOUT)
        raise UserError(
            f"datasets.{name}.objects = {spec.objects!r} is not an object group the config defines; "
            f"allowed (the `objects:` section): {allowed}"
        )
    chosen = groups[spec.objects]
    rows = generate_set(world_cfg, spec, chosen, Path(raw_dir), seed, progress)
    write_manifest(manifest, rows, extra=("object", "motion", "object_motion", "caption"))
    write_lines(Path(manifest).with_suffix(".classes.txt"), class_list(chosen, spec.motions, spec.labels))
    return len(rows)


def prepare(
    dataset: Mapping,
    name: str,
    world: Mapping,
    objects: Mapping,
    seed: int,
    downloads: Path,
    raw: Path,
    manifest: Path,
    progress: bool = True,
    at_once: int = 1,
) -> dict:
    """Any data set of the config into its manifest and class list: rendered (synthetic) or fetched (a URL
    list's archives ``at_once`` at a time), unpacked and parsed from its own annotation files (real formats).
    Returns counts for the log."""
    if "format" not in dataset:
        count = _prepare_synthetic(world, objects, dataset, name, seed, raw, manifest, progress)
        write_missing(manifest, {})  # a rendered world lists only what it rendered
        return {"videos": count, "missing": 0}
    from .prepare import RealSet, materialise, parse

    spec = RealSet.from_dict(dataset, name)
    folders = materialise(spec, downloads, raw, progress, at_once)
    rows, classes, missing = parse(spec, folders)
    if not rows:
        raise UserError(
            f"data set {name}: no video of its annotations was found among its files "
            f"({len(missing)} listed, none present under {raw})"
        )
    extra = [c for c in rows[0] if c not in ("path", "label", "classname", "split")]
    write_missing(manifest, missing)
    write_lines(Path(manifest).with_suffix(".classes.txt"), classes)
    write_manifest(manifest, rows, extra=extra)
    if missing:
        log.warning(
            "%s: %d listed video(s) absent from the files, skipped; see %s", name, len(missing), missing_path(manifest)
        )
    return {"videos": len(rows), "classes": len(classes), "missing": len(missing)}


def class_descriptions(dataset: Mapping, name: str, manifest: Path, downloads: Path, out: Path, progress=True) -> list:
    """A data set's class descriptions files into the folder ``out``, numbered in the order they are read: fetched
    (and verified) from their sources, or, for a synthetic set, written from the world (``synthetic.describe``)
    for every class its manifest names. Returns the files."""
    spec = dataset.get("descriptions")
    if not spec:
        raise UserError(f"datasets.{name} has no descriptions: add a `descriptions:` entry to it")
    with atomic_path(Path(out)) as tmp:
        tmp.mkdir()
        if spec == "synthetic":
            from .synthetic import describe

            texts: dict = {}
            for row in read_manifest(manifest):
                texts.update(describe(tuple(row["object"].split(" ", 1)), row["motion"]))
            write_json(tmp / "00-synthetic.json", texts)
        else:
            from .prepare import _as_list
            from .sources import Source, fetch

            for k, sources in enumerate(spec["files"]):
                where = f"datasets.{name}.descriptions.files[{k}]"
                got = fetch([Source.from_dict(s, where) for s in _as_list(sources)], Path(downloads), progress)[0]
                shutil.copyfile(got, tmp / f"{k:02d}-{got.name}")
    return sorted(f for f in Path(out).iterdir() if not f.name.startswith("."))


def extract_frames(
    manifest: Path,
    out: Path,
    settings: Mapping,
    progress: bool = True,
    threads: int = 1,
    part: Optional[Tuple[int, int]] = None,
    record: Optional[Path] = None,
) -> dict:
    """Decode every video of a manifest once into the frame store folder ``out`` (see data/frame_store.py).

    ``part=(k, n)``: one shard job's share (data/shards.py): decode the ``k``-th of ``n`` ranges of the store's
    shards into ``<out>.partial/`` and write the ``record`` of it; the unsharded call that gathers the parts
    assembles the store."""
    from .frame_writer import FrameSettings, write_store

    frames = FrameSettings.from_dict(settings)
    rows = read_manifest(manifest)
    # Evaluation never scores the split named `train` (training decodes its own clips from the videos): its
    # videos are not decoded into the store (K400: 240k of its 260k videos).
    train_only = [i for i, r in enumerate(rows) if r["split"].split() == ["train"]]
    meta = write_store(
        [Path(r["path"]) for r in rows], out, frames, progress=progress, threads=threads, skip=train_only, part=part
    )
    if part is not None:
        if record is None:
            raise UserError("a part of a frame store (--part) needs --record, the file its job leaves behind")
        write_json(record, meta)
        return meta
    if meta["unreadable"]:
        log.warning(
            "%d unreadable video(s), skipped by evaluation:\n  %s",
            len(meta["unreadable"]),
            "\n  ".join(meta["errors"][:20]),
        )
    return {"videos": len(rows), "train_only_not_decoded": len(train_only), "unreadable": len(meta["unreadable"])}


def reencode_train_videos(
    manifest: Path,
    videos: Path,
    index: Path,
    settings: Mapping,
    threads: int = 1,
    progress: bool = True,
    part: Optional[Tuple[int, int]] = None,
    parts: Sequence[Path] = (),
) -> dict:
    """Re-encode (or check) the training split's videos once and index them (see data/train_videos.py); with
    ``part``, one shard job's share into a part index; with ``parts``, only join the shard jobs' part indexes."""
    from .train_videos import Reencoding, merge_parts, reencode_videos

    if parts:
        return merge_parts(manifest, parts, index)
    return reencode_videos(
        manifest, videos, index, Reencoding.from_dict(settings), threads=threads, progress=progress, part=part
    )
