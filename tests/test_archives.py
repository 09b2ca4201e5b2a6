"""Unpacking archives (openvclip.data.archives): zip / tar / tar.gz / rar, path checks, atomicity, nested RARs."""

import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import libarchive
import pytest

from openvclip.data.archives import ARCHIVE_SUFFIXES, archive_kind, extract, is_archive, list_files
from tests.rar_writer import write_rar

FILES = {
    "UCF101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": bytes(range(256)) * 40 + b"end",
    "UCF101/Archery/v_Archery_g01_c01.avi": b"\x00\xffRIFF" * 333,
    "UCF101/readme.txt": b"hello\n",
    "empty.txt": b"",
}


def write_zip(path, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tar(path, files, mode="w"):
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


WRITERS = {
    "zip": write_zip,
    "tar": write_tar,
    "tar.gz": lambda path, files: write_tar(path, files, "w:gz"),
    "tgz": lambda path, files: write_tar(path, files, "w:gz"),
    "rar": write_rar,
}


def contents(root):
    """{relative posix path: bytes} of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def rar_members(path):
    with libarchive.file_reader(str(path)) as archive:
        return {entry.pathname.rstrip("/"): (entry.isdir, entry.size) for entry in archive}


def expected_rar_members(files):
    folders = {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
    return {**{folder: (True, 0) for folder in folders}, **{name: (False, len(data)) for name, data in files.items()}}


def unar_contents(path, tmp):
    """What The Unarchiver (Debian's unar, a RAR reader independent of libarchive) extracts from ``path``."""
    unar = shutil.which("unar")
    assert unar, "the RAR fixtures are checked with Debian's unar: apt-get install unar (.ci/run installs it)"
    out = Path(tmp) / f"unar-{path.name}"
    subprocess.run([unar, "-q", "-no-directory", "-o", str(out), str(path)], check=True, capture_output=True)
    return contents(out)


def lsar_members(path):
    """{name: (is folder, size)} as Debian's lsar lists ``path`` (its JSON listing)."""
    listed = json.loads(
        subprocess.run(
            [shutil.which("lsar") or "lsar", "-j", str(path)], capture_output=True, text=True, check=True
        ).stdout
    )
    return {
        e["XADFileName"].rstrip("/"): (bool(e.get("XADIsDirectory")), int(e.get("XADFileSize", 0)))
        for e in listed["lsarContents"]
    }


def check_rar(path, files):
    """The RAR fixture opens with two independent readers: libarchive (the one under test) and unar/lsar."""
    assert rar_members(path) == expected_rar_members(files)
    assert lsar_members(path) == expected_rar_members(files)
    assert unar_contents(path, path.parent) == dict(files)


# -- the fixtures themselves -----------------------------------------------------------------------------------


def test_rar_fixture_is_read_by_libarchive(tmp_path):
    path = write_rar(tmp_path / "UCF101.rar", FILES)
    assert rar_members(path) == expected_rar_members(FILES)
    with libarchive.file_reader(str(path)) as archive:
        read = {e.pathname: b"".join(e.get_blocks()) for e in archive if e.isfile}
    assert read == FILES


def test_rar_fixture_is_read_back_by_unar(tmp_path):
    path = write_rar(tmp_path / "UCF101.rar", FILES)
    assert lsar_members(path) == expected_rar_members(FILES)
    assert unar_contents(path, tmp_path) == FILES
    # The independent reader rejects what it should: a flipped stored byte fails its CRC check.
    broken = bytearray(path.read_bytes())
    broken[broken.index(b"hello\n")] ^= 0xFF
    (tmp_path / "bad.rar").write_bytes(bytes(broken))
    with pytest.raises(subprocess.CalledProcessError):
        unar_contents(tmp_path / "bad.rar", tmp_path)


# -- extraction ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_format_extracts_the_same_files(tmp_path, kind):
    archive = WRITERS[kind](tmp_path / f"UCF101.{kind}", FILES)
    if kind == "rar":
        check_rar(archive, FILES)
    dest = tmp_path / "out" / "ucf101"
    assert extract(archive, dest, progress=False) == dest
    assert contents(dest) == FILES
    assert (dest / "UCF101" / "Archery").is_dir()
    assert not (tmp_path / "out" / "ucf101.unpacking").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ucf101"]
    assert archive.exists()  # the archive itself is kept
    assert [p.relative_to(dest.resolve()).as_posix() for p in list_files(dest)] == sorted(FILES)


def test_archive_kind_and_is_archive():
    assert archive_kind("a/UCF101.RAR") == "rar"
    assert archive_kind("x.tar.gz") == "tar.gz"  # the longest suffix wins over ".gz"-less ".tar"
    assert archive_kind("x.tar") == "tar"
    assert is_archive("hmdb51_org.rar") and is_archive("k.tgz")
    assert not is_archive("v_x.avi") and not is_archive("x.gz")


BAD_NAMES = ["../evil.txt", "<absolute>", "UCF101/../../evil.txt", "..\\evil.txt"]


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "rar"])
@pytest.mark.parametrize("bad", BAD_NAMES)
def test_member_outside_the_destination_is_refused(tmp_path, kind, bad):
    if bad == "<absolute>":  # an absolute path where this test may look (and where nothing else writes)
        bad = str(tmp_path / "absolute" / "evil.txt")
    files = {"good.txt": b"fine", "UCF101/a.avi": b"video", bad: b"evil"}  # good members first: cleaned up too
    work = tmp_path / "work"
    archive = WRITERS[kind](tmp_path / f"bad.{kind}", files)
    dest = work / "out"
    with pytest.raises(ValueError, match="outside"):
        extract(archive, dest, progress=False)
    assert not dest.exists()
    assert not (work / "out.unpacking").exists()
    for escaped in (tmp_path / "evil.txt", work / "evil.txt", tmp_path.parent / "evil.txt"):
        assert not escaped.exists()
    if bad.startswith("/"):
        assert not os.path.exists(bad)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_member_is_refused(tmp_path, link):
    import io
    import tarfile

    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tar:
        data = b"video"
        info = tarfile.TarInfo("UCF101/a.avi")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        member = tarfile.TarInfo("UCF101/b.avi")
        member.type = tarfile.SYMTYPE if link == "symlink" else tarfile.LNKTYPE
        member.linkname = "/etc/passwd" if link == "symlink" else "UCF101/a.avi"
        tar.addfile(member)
    with pytest.raises(ValueError, match="'UCF101/b.avi' is a link or a special file"):
        extract(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.tar"]


def test_stale_unpacking_folder_is_replaced(tmp_path):
    archive = write_zip(tmp_path / "a.zip", FILES)
    stale = tmp_path / "out.unpacking"
    stale.mkdir()
    (stale / "half_written.avi").write_bytes(b"junk")
    dest = extract(archive, tmp_path / "out", progress=False)
    assert contents(dest) == FILES
    assert not stale.exists()


def test_failed_extraction_leaves_nothing(tmp_path):
    good = write_zip(tmp_path / "good.zip", FILES).read_bytes()
    archive = tmp_path / "broken.zip"
    archive.write_bytes(good[: len(good) // 2])  # truncated download
    from libarchive.exception import ArchiveError

    with pytest.raises(ArchiveError, match="Truncated"):
        extract(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.zip", "good.zip"]


def test_truncated_rar_fails_and_leaves_nothing(tmp_path):
    whole = write_rar(tmp_path / "whole.rar", FILES).read_bytes()
    archive = tmp_path / "broken.rar"
    archive.write_bytes(whole[: len(whole) - 600])
    from libarchive.exception import ArchiveError

    with pytest.raises(ArchiveError):
        extract(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.rar", "whole.rar"]


# -- nested archives (HMDB51) -----------------------------------------------------------------------------------


@pytest.fixture
def hmdb_like(tmp_path):
    """An outer RAR of per-class RARs, as HMDB51 ships."""
    inner = {"brush_hair": {"brush_hair/a.avi": b"A" * 1234}, "cartwheel": {"cartwheel/b.avi": b"B" * 4321}}
    staged = {}
    for label, files in inner.items():
        path = write_rar(tmp_path / "stage" / f"{label}.rar", files)
        check_rar(path, files)
        staged[f"{label}.rar"] = path.read_bytes()
    outer = write_rar(tmp_path / "hmdb51_org.rar", staged)
    check_rar(outer, staged)
    return outer, staged


def test_nested_rars_are_unpacked_and_removed(tmp_path, hmdb_like):
    outer, _ = hmdb_like
    dest = extract(outer, tmp_path / "hmdb51", nested=True, progress=False)
    assert contents(dest) == {"brush_hair/a.avi": b"A" * 1234, "cartwheel/b.avi": b"B" * 4321}
    assert not list(dest.rglob("*.rar"))
    assert not (tmp_path / "hmdb51.unpacking").exists()


def test_without_nested_the_inner_archives_stay(tmp_path, hmdb_like):
    outer, staged = hmdb_like
    dest = extract(outer, tmp_path / "hmdb51", progress=False)
    assert contents(dest) == staged


def test_nested_archive_with_a_bad_member_is_refused(tmp_path):
    inner = write_rar(tmp_path / "stage" / "brush_hair.rar", {"../../evil.avi": b"x"}).read_bytes()
    outer = write_rar(tmp_path / "hmdb51_org.rar", {"brush_hair.rar": inner})
    with pytest.raises(ValueError, match="outside"):
        extract(outer, tmp_path / "hmdb51", nested=True, progress=False)
    assert not (tmp_path / "hmdb51").exists() and not (tmp_path / "hmdb51.unpacking").exists()
    assert not (tmp_path / "evil.avi").exists()


# -- what extract refuses or skips ------------------------------------------------------------------------------


def test_existing_destination_is_kept_as_is(tmp_path):
    archive = write_zip(tmp_path / "a.zip", FILES)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    assert extract(archive, dest, progress=False) == dest
    assert contents(dest) == {"mine.txt": b"keep me"}
    assert not (tmp_path / "out.unpacking").exists()


def test_unknown_suffix_names_the_known_ones(tmp_path):
    archive = tmp_path / "UCF101.7z"
    archive.write_bytes(b"7z\xbc\xaf\x27\x1c")
    with pytest.raises(ValueError) as caught:
        extract(archive, tmp_path / "out", progress=False)
    message = str(caught.value)
    assert "UCF101.7z" in message
    for suffix in ARCHIVE_SUFFIXES:
        assert suffix in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UCF101.7z"]


def test_missing_archive_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.rar"):
        extract(tmp_path / "nothing.rar", tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_rar_reader_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    archive = write_rar(tmp_path / "UCF101.rar", {"UCF-101/a.avi": b"x"})
    monkeypatch.setitem(sys.modules, "libarchive", None)  # as if the binding or the library were absent
    with pytest.raises(RuntimeError, match=r"apt-get install libarchive13.*conda install -c conda-forge libarchive"):
        extract(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.unpacking").exists()
