"""Downloads and local sources (openvclip.data.sources) against a loopback HTTP server (tests/http_server.py)."""

import hashlib
import os
import ssl
import urllib.error

import pytest

from openvclip.data.sources import Source, SourceError, _context, download, fetch, verify

DATA = bytes(range(256)) * 1200 + b"tail"  # ~300 KB, not a multiple of anything convenient
OTHER = b"not the file you want " * 5000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Sleeps(list):
    """A fake ``sleep`` that records the delays instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


def get(url, dest, source=None, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("timeout", 10)
    return download(url, dest, source or Source(url=url), **kwargs)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# -- plain downloads, resume, retries ---------------------------------------------------------------------------


def test_download_writes_the_file_and_no_part(http_server, tmp_path, sleeps):
    url = http_server.add("data/clip.bin", DATA)
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA), size=len(DATA)), sleep=sleeps)
    assert dest == tmp_path / "clip.bin"
    assert dest.read_bytes() == DATA
    assert leftovers(tmp_path) == ["clip.bin"]
    [request] = http_server.requests_for("data/clip.bin")
    assert request.range is None
    assert sleeps == []


def test_interrupted_download_resumes_with_a_range_request(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, drop_after=[1000, 50_000])
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA)), sleep=sleeps)
    assert dest.read_bytes() == DATA
    ranges = [r.range for r in http_server.requests_for("clip.bin")]
    assert ranges == [None, "bytes=1000-", "bytes=51000-"]  # each attempt starts where the last one stopped
    assert sleeps == [1.0, 2.0]
    assert leftovers(tmp_path) == ["clip.bin"]


def test_part_file_from_an_earlier_run_is_resumed(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, drop_after=[4096])
    with pytest.raises(ConnectionError, match="gave up after 1 attempts"):
        get(url, tmp_path / "clip.bin", retries=0, sleep=sleeps)
    part = tmp_path / "clip.bin.part"
    assert part.read_bytes() == DATA[:4096]
    assert not (tmp_path / "clip.bin").exists()  # an incomplete download never looks finished

    dest = get(url, tmp_path / "clip.bin", Source(url=url, md5=md5(DATA)), sleep=sleeps)
    assert dest.read_bytes() == DATA
    assert [r.range for r in http_server.requests_for("clip.bin")] == [None, "bytes=4096-"]
    assert not part.exists()


def test_complete_part_file_is_verified_and_renamed(http_server, tmp_path):
    """A finished ``.part`` (killed before the rename): the server answers 416 to the range; nothing is lost."""
    url = http_server.add("clip.bin", DATA)
    (tmp_path / "clip.bin.part").write_bytes(DATA)
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA)))
    assert dest.read_bytes() == DATA
    assert [r.range for r in http_server.requests_for("clip.bin")] == [f"bytes={len(DATA)}-"]
    assert leftovers(tmp_path) == ["clip.bin"]


def test_server_without_range_support_restarts_the_download(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, ranges=False, drop_after=[1000])
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA)), sleep=sleeps)
    # the client asked to resume, the server sent the whole file with 200: it must be written from the start
    assert [r.range for r in http_server.requests_for("clip.bin")] == [None, "bytes=1000-"]
    assert dest.read_bytes() == DATA
    assert len(sleeps) == 1


def test_chunked_answer_cut_short_is_retried_and_resumed(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, chunked=True, drop_after=[3000])
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA)), sleep=sleeps)
    assert dest.read_bytes() == DATA
    # http.client drops the bytes of a cut chunk, so the retry may start over or resume; either way it is retried
    ranges = [r.range for r in http_server.requests_for("clip.bin")]
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] in (None, "bytes=3000-")
    assert sleeps == [1.0]
    assert leftovers(tmp_path) == ["clip.bin"]


def test_fetch_moves_on_after_a_chunked_answer_cut_short(http_server, tmp_path, sleeps):
    cut = http_server.add("a/clip.bin", OTHER, chunked=True, drop_after=[10, 10])
    good = http_server.add("b/clip.bin", DATA)
    [path] = fetch([Source(url=cut), Source(url=good)], tmp_path, progress=False, retries=1, sleep=sleeps, timeout=10)
    assert path.read_bytes() == DATA
    assert len(http_server.requests_for("a/clip.bin")) == 2


def test_503_is_retried_with_doubling_back_off(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, fail=[503, 503, 503])
    dest = get(url, tmp_path / "clip.bin", retries=4, backoff=0.5, sleep=sleeps)
    assert dest.read_bytes() == DATA
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(http_server.requests_for("clip.bin")) == 4


def test_retries_give_up_naming_the_url(http_server, tmp_path, sleeps):
    url = http_server.add("clip.bin", DATA, fail=[503] * 10)
    with pytest.raises(ConnectionError) as caught:
        get(url, tmp_path / "clip.bin", retries=3, backoff=2.0, sleep=sleeps)
    assert url in str(caught.value) and "4 attempts" in str(caught.value)
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(http_server.requests_for("clip.bin")) == 4
    assert not (tmp_path / "clip.bin").exists()


def test_404_is_not_retried_and_the_error_names_the_url(http_server, tmp_path, sleeps):
    url = http_server.url("missing.zip")
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(url, tmp_path / "missing.zip", sleep=sleeps)
    assert caught.value.code == 404
    assert sleeps == []
    assert len(http_server.requests_for("missing.zip")) == 1

    with pytest.raises(SourceError) as caught:
        fetch([Source(url=url)], tmp_path, progress=False, sleep=sleeps, timeout=10)
    assert url in str(caught.value) and "404" in str(caught.value)
    assert len(http_server.requests_for("missing.zip")) == 2  # once more for fetch, no retry
    assert sleeps == []
    assert not (tmp_path / "missing.zip").exists()


# -- verification ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_checksum_mismatch_deletes_the_file_and_names_the_url(http_server, tmp_path, algorithm):
    url = http_server.add("clip.bin", DATA)
    wrong = {"sha256": sha256, "md5": md5}[algorithm](OTHER)
    with pytest.raises(ValueError) as caught:
        get(url, tmp_path / "clip.bin", Source(url=url, **{algorithm: wrong}))
    assert url in str(caught.value) and f"{algorithm} mismatch" in str(caught.value)
    assert leftovers(tmp_path) == []  # neither clip.bin nor clip.bin.part


def test_checksums_compare_case_insensitively(http_server, tmp_path):
    url = http_server.add("clip.bin", DATA)
    dest = get(url, tmp_path / "clip.bin", Source(url=url, sha256=sha256(DATA).upper(), md5=md5(DATA).upper()))
    assert dest.read_bytes() == DATA


def test_size_mismatch_is_caught(http_server, tmp_path):
    url = http_server.add("clip.bin", DATA)
    with pytest.raises(ValueError, match=f"size {len(DATA)} bytes, expected {len(DATA) + 1}") as caught:
        get(url, tmp_path / "clip.bin", Source(url=url, size=len(DATA) + 1))
    assert url in str(caught.value)
    assert leftovers(tmp_path) == []


def test_verify_reports_each_kind_of_problem(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(DATA)
    assert verify(path, Source(path=str(path), size=len(DATA), sha256=sha256(DATA), md5=md5(DATA))) is None
    assert "size" in verify(path, Source(path=str(path), size=1))
    assert "sha256" in verify(path, Source(path=str(path), sha256=sha256(OTHER), md5=md5(DATA)))
    assert "md5" in verify(path, Source(path=str(path), sha256=sha256(DATA), md5=md5(OTHER)))


# -- fetch: several sources ------------------------------------------------------------------------------------


def test_fetch_falls_back_to_the_next_source_after_a_bad_checksum(http_server, tmp_path, sleeps):
    bad = http_server.add("mirror1/clip.bin", OTHER)
    good = http_server.add("mirror2/clip.bin", DATA)
    sources = [Source(url=bad, sha256=sha256(DATA)), Source(url=good, sha256=sha256(DATA))]
    [path] = fetch(sources, tmp_path, progress=False, sleep=sleeps, timeout=10)
    assert path == tmp_path / "clip.bin"
    assert path.read_bytes() == DATA
    assert len(http_server.requests_for("mirror1/clip.bin")) == 1
    assert len(http_server.requests_for("mirror2/clip.bin")) == 1
    assert leftovers(tmp_path) == ["clip.bin"]
    assert sleeps == []


def test_source_error_lists_every_failed_source(http_server, tmp_path, sleeps):
    gone = http_server.url("gone/clip.bin")
    bad = http_server.add("bad/clip.bin", OTHER)
    missing = tmp_path / "nowhere" / "clip.bin"
    sources = [Source(url=gone), Source(url=bad, sha256=sha256(DATA)), Source(path=str(missing))]
    with pytest.raises(SourceError) as caught:
        fetch(sources, tmp_path / "out", progress=False, sleep=sleeps, timeout=10)
    message = str(caught.value)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3
    assert gone in lines[0] and "404" in lines[0]
    assert bad in lines[1] and "sha256 mismatch" in lines[1]
    assert str(missing) in lines[2] and "does not exist" in lines[2]
    assert leftovers(tmp_path / "out") == []


def test_verified_file_already_present_is_not_downloaded_again(http_server, tmp_path):
    url = http_server.add("clip.bin", DATA)
    source = Source(url=url, sha256=sha256(DATA), size=len(DATA))
    first = fetch([source], tmp_path, progress=False, timeout=10)
    second = fetch([source], tmp_path, progress=False, timeout=10)
    assert first == second == [tmp_path / "clip.bin"]
    assert len(http_server.requests_for("clip.bin")) == 1


def test_corrupt_file_already_present_is_downloaded_again(http_server, tmp_path):
    url = http_server.add("clip.bin", DATA)
    (tmp_path / "clip.bin").write_bytes(DATA[:-1] + b"X")
    [path] = fetch([Source(url=url, sha256=sha256(DATA))], tmp_path, progress=False, timeout=10)
    assert path.read_bytes() == DATA
    assert len(http_server.requests_for("clip.bin")) == 1


def test_fetch_uses_the_configured_file_name(http_server, tmp_path):
    url = http_server.add("download.php", DATA)
    [path] = fetch(
        [Source.from_dict({"url": url + "?id=7", "name": "UCF101.rar"}, "test")], tmp_path, progress=False, timeout=10
    )
    assert path == tmp_path / "UCF101.rar"
    assert path.read_bytes() == DATA


# -- local sources -----------------------------------------------------------------------------------------------


def test_local_file_is_checked_and_linked(tmp_path):
    original = tmp_path / "have" / "UCF101.rar"
    original.parent.mkdir()
    original.write_bytes(DATA)
    [link] = fetch([Source(path=str(original), sha256=sha256(DATA), size=len(DATA))], tmp_path / "raw", progress=False)
    assert link == tmp_path / "raw" / "UCF101.rar"
    assert link.is_symlink() and link.resolve() == original.resolve()
    assert link.read_bytes() == DATA


def test_local_file_with_a_wrong_checksum_fails_naming_the_path(tmp_path):
    original = tmp_path / "have" / "UCF101.rar"
    original.parent.mkdir()
    original.write_bytes(DATA)
    with pytest.raises(SourceError) as caught:
        fetch([Source(path=str(original), md5=md5(OTHER))], tmp_path / "raw", progress=False)
    assert str(original) in str(caught.value) and "md5 mismatch" in str(caught.value)
    assert leftovers(tmp_path / "raw") == []
    assert original.read_bytes() == DATA  # the user's file is never touched


def test_local_folder_is_linked_not_copied(tmp_path):
    folder = tmp_path / "have" / "hmdb51"
    (folder / "brush_hair").mkdir(parents=True)
    (folder / "brush_hair" / "a.avi").write_bytes(b"video")
    [link] = fetch([Source(path=str(folder))], tmp_path / "raw", progress=False)
    assert link == tmp_path / "raw" / "hmdb51"
    assert link.is_symlink() and os.readlink(link) == str(folder.resolve())
    assert (link / "brush_hair" / "a.avi").read_bytes() == b"video"
    (folder / "new.txt").write_text("x")  # a link sees later changes; a copy would not
    assert (link / "new.txt").exists()


def test_missing_local_path_fails_clearly(tmp_path):
    missing = tmp_path / "no" / "such.rar"
    with pytest.raises(SourceError) as caught:
        fetch([Source(path=str(missing))], tmp_path / "raw", progress=False)
    assert f"local {missing}" in str(caught.value) and "does not exist" in str(caught.value)


def test_local_file_already_in_the_destination_is_kept(tmp_path):
    """A local path that is the very file ``fetch`` would link must not be deleted to make room for the link."""
    raw = tmp_path / "raw"
    raw.mkdir()
    original = raw / "UCF101.rar"
    original.write_bytes(DATA)
    [path] = fetch([Source(path=str(original), sha256=sha256(DATA))], raw, progress=False)
    assert path.resolve() == original.resolve()
    assert original.is_file() and not original.is_symlink()
    assert original.read_bytes() == DATA


def test_existing_link_is_replaced_by_a_new_local_source(tmp_path):
    old, new = tmp_path / "old.rar", tmp_path / "new.rar"
    old.write_bytes(OTHER)
    new.write_bytes(DATA)
    raw = tmp_path / "raw"
    fetch([Source(path=str(old), name="UCF101.rar")], raw, progress=False)
    [link] = fetch([Source(path=str(new), name="UCF101.rar")], raw, progress=False)
    assert link.resolve() == new.resolve() and link.read_bytes() == DATA
    assert old.read_bytes() == OTHER


# -- url_list -----------------------------------------------------------------------------------------------------


def test_url_list_downloads_every_shard_once(http_server, tmp_path):
    shards = {f"k400/train/part_{i}.tar.gz": bytes([i]) * (1000 + i) for i in range(3)}
    urls = [http_server.add(path, data) for path, data in shards.items()]
    listing = http_server.add("k400/k400_train_path.txt", ("\n".join(urls) + "\n\n").encode())
    source = Source.from_dict({"url_list": listing}, "test")

    files = fetch([source], tmp_path, progress=False, timeout=10)
    assert files == [tmp_path / f"part_{i}.tar.gz" for i in range(3)]
    for path, data in zip(files, shards.values()):
        assert path.read_bytes() == data
    assert not list(tmp_path.glob("*.part"))

    again = fetch([source], tmp_path, progress=False, timeout=10)
    assert again == files
    for path in shards:
        assert len(http_server.requests_for(path)) == 1, path


def test_url_list_resumes_an_interrupted_shard(http_server, tmp_path, sleeps):
    urls = [http_server.add("s/a.bin", DATA, drop_after=[777]), http_server.add("s/b.bin", OTHER)]
    listing = http_server.add("s/list.txt", "\n".join(urls).encode())
    files = fetch([Source(url_list=listing)], tmp_path, progress=False, sleep=sleeps, timeout=10)
    assert [f.read_bytes() for f in files] == [DATA, OTHER]
    assert [r.range for r in http_server.requests_for("s/a.bin")] == [None, "bytes=777-"]


def test_url_list_that_cannot_be_fetched_is_reported(http_server, tmp_path):
    listing = http_server.url("nope/list.txt")
    with pytest.raises(SourceError, match="nope/list.txt"):
        fetch([Source(url_list=listing)], tmp_path, progress=False, timeout=10)


# -- configuration and TLS ---------------------------------------------------------------------------------------


def test_verify_tls_false_disables_certificate_checks():
    context = _context(Source(url="https://www.crcv.ucf.edu/data/UCF101/UCF101.rar", verify_tls=False))
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_NONE
    assert _context(Source(url="https://example.org/a.zip")) is None  # default: urllib's verified context


def test_source_from_dict():
    assert Source.from_dict("https://h/x/UCF101.rar", "f").url == "https://h/x/UCF101.rar"
    assert Source.from_dict("/data/UCF101.rar", "f").path == "/data/UCF101.rar"
    assert Source.from_dict({"url": "https://h/a%20b.zip"}, "f").filename == "a b.zip"
    assert Source.from_dict({"url": "https://h/a", "verify_tls": False}, "f").verify_tls is False
    with pytest.raises(ValueError, match=r"files\.train has unknown key\(s\) \['sha1'\]"):
        Source.from_dict({"url": "https://h/a", "sha1": "00"}, "files.train")
    with pytest.raises(ValueError, match="exactly one of url, path, url_list"):
        Source.from_dict({"url": "https://h/a", "path": "/a"}, "files.train")
    with pytest.raises(ValueError, match="exactly one"):
        Source.from_dict({"sha256": "00"}, "files.train")


def test_url_list_fetches_several_at_once_and_a_failed_one_is_named_while_the_others_are_kept(
    http_server, tmp_path, monkeypatch
):
    import threading

    import openvclip.data.sources as sources

    urls = [http_server.add(f"k/part_{i}.tar.gz", bytes([i]) * 500) for i in range(6)]
    urls[4] = http_server.url("k/part_4_is_gone.tar.gz")  # a 404
    listing = http_server.add("k/list.txt", "\n".join(urls).encode())
    together = threading.Barrier(3, timeout=10)  # passes only if 3 downloads are under way at the same time
    original = sources.download

    def download(url, *args, **kwargs):
        if url.endswith(("part_0.tar.gz", "part_1.tar.gz", "part_2.tar.gz")):
            together.wait()
        return original(url, *args, **kwargs)

    monkeypatch.setattr(sources, "download", download)
    with pytest.raises(SourceError, match=r"1 of 6 listed file\(s\) could not be fetched \(the 5 others") as error:
        fetch([Source(url_list=listing)], tmp_path, progress=False, at_once=3, timeout=10)
    assert "part_4_is_gone.tar.gz: HTTP Error 404" in str(error.value)
    assert sorted(p.name for p in tmp_path.glob("part_*")) == [f"part_{i}.tar.gz" for i in (0, 1, 2, 3, 5)]
    http_server.add("k/part_4_is_gone.tar.gz", b"back")
    files = fetch([Source(url_list=listing)], tmp_path, progress=False, at_once=3, timeout=10)
    assert [f.name for f in files] == [f"part_{i}.tar.gz" for i in range(4)] + [
        "part_4_is_gone.tar.gz",
        "part_5.tar.gz",
    ]
    assert all(len(http_server.requests_for(f"k/part_{i}.tar.gz")) == 1 for i in (0, 1, 2, 3, 5))
