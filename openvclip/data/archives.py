"""Unpack ZIP, TAR(.GZ/.BZ2/.XZ) and RAR archives safely and atomically (nested RARs too, as HMDB51 ships).

Every format is read by libarchive through its Python binding ``libarchive-c`` (a dependency of the project; it
needs the libarchive library, present on most Linux systems): one reader, one set of checks. Every member path
is checked to stay inside the destination, links and special files are refused, and an archive is unpacked into a
temporary folder that is renamed into place only when complete, so an interrupted extraction never looks finished.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Iterator, List, Tuple

from tqdm.auto import tqdm

from ..errors import MissingInput, UserError
from ..io import atomic_path

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".rar")

LIBARCHIVE_HELP = (
    "archives are read with libarchive: `pip install libarchive-c` (installed with openvclip) and the "
    "libarchive library: Debian/Ubuntu `apt-get install libarchive13`, Fedora `dnf install libarchive`, "
    "conda `conda install -c conda-forge libarchive`, macOS `brew install libarchive` (then set "
    "LIBARCHIVE=/opt/homebrew/opt/libarchive/lib/libarchive.dylib)"
)


def archive_kind(path: Path) -> str:
    name = Path(path).name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    raise UserError(f"{path}: not an archive this pipeline unpacks (known: {', '.join(ARCHIVE_SUFFIXES)})")


def archive_stem(name: str) -> str:
    """``UCF101.rar`` -> ``UCF101``; ``part_0.tar.gz`` -> ``part_0`` (the folder an archive unpacks into)."""
    return name[: -len(archive_kind(Path(name))) - 1]


def is_archive(path: Path) -> bool:
    try:
        archive_kind(path)
        return True
    except ValueError:
        return False


def _safe_target(root: Path, member: str) -> Path:
    """``root / member``, refusing absolute paths and ``..`` that would escape ``root``."""
    relative = PurePosixPath(member.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise UserError(f"archive member {member!r} would be written outside {root}; refusing the archive")
    return root.joinpath(*relative.parts)


def _entries(path: Path) -> Iterator[Tuple[str, str, Iterator[bytes]]]:
    """(member name, kind: file | dir | other, its data blocks) of every member, in archive order."""
    try:
        import libarchive
    except (ImportError, OSError) as error:  # OSError: the binding found no libarchive library
        raise RuntimeError(f"cannot open {path}: {error}. {LIBARCHIVE_HELP}") from error
    with libarchive.file_reader(str(path)) as archive:
        for entry in archive:
            kind = "dir" if entry.isdir else "file" if entry.isreg and not entry.islnk else "other"
            yield entry.pathname, kind, entry.get_blocks()


def _unpack(path: Path, root: Path, progress: bool) -> int:
    archive_kind(path)  # libarchive would read more formats; the ones unpacked are the ones listed and tested
    count = 0
    for name, kind, blocks in tqdm(_entries(path), desc=f"unpack {path.name}", disable=not progress):
        target = _safe_target(root, name)
        if kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        if kind != "file":  # a link could point anywhere, a device file is no data set's
            raise UserError(f"archive {path}: member {name!r} is a link or a special file; refusing the archive")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as dst:
            for block in blocks:
                dst.write(block)
        count += 1
    return count


def extract(path: Path, dest: Path, nested: bool = False, progress: bool = True) -> Path:
    """Unpack ``path`` into the folder ``dest`` (created atomically); returns ``dest``.

    ``nested``: archives found inside are unpacked where they lie and then deleted (HMDB51: a RAR of 51
    per-class RARs). An existing ``dest`` is kept as it is: delete it to unpack again.
    """
    path, dest = Path(path), Path(dest)
    if dest.is_dir():
        return dest
    if not path.is_file():
        raise MissingInput(f"archive {path} does not exist")
    with atomic_path(dest, tag=".unpacking") as tmp:
        tmp.mkdir()
        _unpack(path, tmp, progress)
        if nested:
            inner = sorted(p for p in tmp.rglob("*") if p.is_file() and is_archive(p))
            for archive in tqdm(inner, desc=f"inner archives of {path.name}", disable=not progress or not inner):
                _unpack(archive, archive.parent, progress=False)
                archive.unlink()
    return dest


def list_files(root: Path) -> List[Path]:
    """Every file under ``root`` (following a linked local copy), sorted."""
    return sorted(p for p in Path(root).resolve().rglob("*") if p.is_file())
