"""Prepare a real data set: fetch each of its files, unpack archives, parse its annotations into a manifest.

A ``datasets.<name>`` entry of the config names a ``format`` and, under ``files``, each file *role* the format
needs, as a list of alternative sources tried in order (see :mod:`openvclip.data.sources`):

- ``ucf101``: ``videos`` (UCF101.rar / the ZIP mirror / a local folder), ``splits`` (the split ZIP)
- ``hmdb51``: ``videos`` (hmdb51_org.rar, a RAR of per-class RARs), ``splits`` (test_train_splits.rar)
- ``kinetics``: ``videos*`` (one role per shard list or local folder: ``videos_train``, ``videos_val``),
  ``train_csv``, ``val_csv``, optionally ``replacement``
- ``kinetics600_novel``: ``videos*``, ``k600_train_csv``, ``k600_val_csv``, ``k600_test_csv``,
  ``k400_train_csv``, ``k400_val_csv``
- ``msrvtt``: ``videos`` (MSRVTT.zip), ``annotations`` (msrvtt_data.zip)

Downloads go to ``<downloads>/<role>/`` and stay there (a failed run resumes them); each archive is unpacked to
``<raw>/<role>/``; plain files are linked there. Videos the annotations list but the files lack are written
to ``<manifest>.missing.csv`` (video, split) and skipped; evaluation and training count them as lost.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from ..errors import UserError
from .archives import archive_stem, extract, is_archive
from .lost_videos import DEFAULT_MAX_UNREADABLE
from .sources import Source, fetch

ROLES = {
    "ucf101": ("videos", "splits"),
    "hmdb51": ("videos", "splits"),
    "kinetics": ("videos", "train_csv", "val_csv"),
    "kinetics600_novel": ("videos", "k600_train_csv", "k600_val_csv", "k400_train_csv", "k400_val_csv"),
    "msrvtt": ("videos", "annotations"),
}
NESTED = {("hmdb51", "videos")}  # archives inside archives


@dataclasses.dataclass
class RealSet:
    """A ``datasets.<name>`` entry for real videos (``format`` other than ``synthetic``)."""

    format: str
    protocol: str
    files: dict
    splits: list = dataclasses.field(default_factory=lambda: [1, 2, 3])  # ucf101 / hmdb51 official test splits
    full: bool = False  # ucf101: also a "full" split of every video
    annotation_splits: dict = dataclasses.field(default_factory=lambda: {"train": "train.csv", "val": "val.csv"})
    videos_from: str = "val"  # kinetics600_novel: K600 val (Open-VCLIP release) or test (ER-ZSAR)
    split_source: str = "er_zsar"  # kinetics600_novel: er_zsar (fixed lists) | seeded
    seed: int = 0
    eval_splits: list = dataclasses.field(default_factory=list)  # default: every split except train
    frames: dict = dataclasses.field(default_factory=dict)  # frame store settings (see data/frame_writer.py)
    description: str = ""
    max_unreadable: float = DEFAULT_MAX_UNREADABLE  # read by training and evaluation (data/lost_videos.py)
    # Class descriptions (FROSTER's rephrased names): {files: [sources of one file, ...], aliases: {ours: theirs}}
    descriptions: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: Mapping, name: str) -> "RealSet":
        from ..config import from_mapping

        spec = from_mapping(cls, values, f"datasets.{name}")
        if spec.format not in ROLES:
            raise UserError(f"datasets.{name}.format = {spec.format!r}; known: synthetic, {', '.join(ROLES)}")
        roles = set(spec.files)
        needed = [r for r in ROLES[spec.format] if not any(k == r or k.startswith(r + "_") for k in roles)]
        if spec.format == "kinetics600_novel" and spec.videos_from == "test" and "k600_test_csv" not in roles:
            needed.append("k600_test_csv")
        if needed:
            raise UserError(
                f"datasets.{name}.files lacks role(s) {needed} that format {spec.format} needs "
                f"({', '.join(ROLES[spec.format])})"
            )
        for role, sources in spec.files.items():
            for i, source in enumerate(_as_list(sources)):
                Source.from_dict(source, f"datasets.{name}.files.{role}[{i}]")
        for k, sources in enumerate(spec.descriptions.get("files", [])):
            for i, source in enumerate(_as_list(sources)):
                Source.from_dict(source, f"datasets.{name}.descriptions.files[{k}][{i}]")
        return spec

    def sources(self, role: str) -> List[Source]:
        return [Source.from_dict(s, role) for s in _as_list(self.files[role])]


def _as_list(sources) -> list:
    return list(sources) if isinstance(sources, (list, tuple)) else [sources]


def materialise(spec: RealSet, downloads: Path, raw: Path, progress: bool = True, at_once: int = 1) -> Dict[str, Path]:
    """Fetch and unpack every role (a URL list's archives ``at_once`` at a time); returns role -> folder holding
    its files. What is already there (a finished download, an unpacked archive: an earlier run's, or the
    shard jobs' of :mod:`.shards`) is kept."""
    folders = {}
    for role in spec.files:
        files = fetch(spec.sources(role), Path(downloads) / role, progress, at_once=at_once)
        folder = Path(raw) / role
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            if path.is_dir():
                folders.setdefault(role, path)
                continue
            place(spec, role, path, folder, progress)
        folders.setdefault(role, folder)
    return folders


def place(spec: RealSet, role: str, path: Path, folder: Path, progress: bool = True) -> Path:
    """Put one fetched file of ``role`` into its raw ``folder``: an archive unpacked into ``folder/<stem>``
    (kept when already there), a plain file linked. Returns where it went."""
    folder.mkdir(parents=True, exist_ok=True)
    if is_archive(path):
        return extract(
            path,
            folder / archive_stem(path.name),
            nested=(spec.format, role.split("_")[0]) in NESTED,
            progress=progress,
        )
    link, target = folder / path.name, path.resolve()
    if link.is_symlink() and link.resolve() != target:  # the source changed since the last run
        link.unlink()
    if not link.exists():
        link.symlink_to(target)
    return link


def parse(spec: RealSet, folders: Mapping[str, Path]) -> Tuple[List[dict], List[str], Dict[str, str]]:
    """``(rows, classes, missing)`` of a materialised data set; ``missing`` maps each video the annotations list
    but the files lack to its split field (as a row's ``split``: the splits it is in)."""
    from .sets import hmdb51, kinetics, msrvtt, ucf101

    videos = [folders[r] for r in folders if r == "videos" or r.startswith("videos_")]
    if spec.format == "ucf101":
        return ucf101.parse(videos, folders["splits"], spec.splits, spec.full)
    if spec.format == "hmdb51":
        return hmdb51.parse(videos, folders["splits"], spec.splits)
    if spec.format == "msrvtt":
        return msrvtt.parse(videos, folders["annotations"])
    annotations = [folders[r] for r in folders if r.endswith("_csv") and not r.startswith("k400_")]
    if spec.format == "kinetics":
        return kinetics.parse(videos, annotations, spec.annotation_splits, folders.get("replacement"))
    k400 = [folders[r] for r in folders if r.startswith("k400_")]
    return kinetics.parse_novel(
        videos, annotations, k400, spec.videos_from, spec.split_source, spec.seed, folders.get("replacement")
    )
