"""One parser per real data set: its own annotation files -> manifest rows and class list.

Every parser returns ``(rows, classes)``: rows ``{path, label, classname, split}`` (plus set-specific columns),
one row per video; ``split`` names every split the video belongs to, separated by spaces (a UCF101 video is in
several of its three official test splits, and is decoded once). ``classes`` are the class texts used for the
prompts, in label order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

from ...errors import MissingInput

Roots = Union[Path, str, Sequence[Union[Path, str]]]


def as_roots(roots: Roots) -> List[Path]:
    """One folder or several (the roles that together hold one kind of file)."""
    return [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]


def find_files(roots: Roots, pattern: str) -> Iterator[Path]:
    """Files matching ``pattern`` anywhere under ``roots`` (following linked local copies), sorted per root."""
    for root in as_roots(roots):
        yield from sorted(p for p in root.resolve().rglob(pattern) if p.is_file())


class VideoIndex:
    """Every video file under a root, found by its path relative to a class folder or by its file name.

    Archives and mirrors differ in their top folder (``UCF-101/``, ``UCF101/``) and sometimes in case, so
    lookups ignore both.
    """

    SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov")

    def __init__(self, roots: Roots):
        self.roots = as_roots(roots)
        self.by_tail: Dict[str, Path] = {}
        self.by_name: Dict[str, Path] = {}
        for path in find_files(self.roots, "*"):
            if path.suffix.lower() in self.SUFFIXES:
                self.by_tail.setdefault(f"{path.parent.name}/{path.name}".lower(), path)
                self.by_name.setdefault(path.name.lower(), path)
        if not self.by_name:
            raise MissingInput(f"no video files ({', '.join(self.SUFFIXES)}) under {', '.join(map(str, self.roots))}")

    def find(self, entry: str) -> Optional[Path]:
        """The file of a split-list entry such as ``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`` or a bare name."""
        parts = entry.strip().replace("\\", "/").split("/")
        if len(parts) >= 2:
            found = self.by_tail.get(f"{parts[-2]}/{parts[-1]}".lower())
            if found is not None:
                return found
        return self.by_name.get(parts[-1].lower())


def join_splits(names) -> str:
    return " ".join(sorted(set(names)))


def in_split(split_field: str, split: str) -> bool:
    return split in split_field.split()
