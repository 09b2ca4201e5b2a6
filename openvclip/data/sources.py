"""Where a data set's files come from: URLs tried in order (resumable, retried, checksum-verified) or local copies.

A source is a mapping from the config (``datasets.<name>.files.<role>``):

- ``{url: https://..., sha256: ..., md5: ..., size: ..., verify_tls: true, name: file.zip}``: downloaded with HTTP
  range requests (an interrupted download resumes), retried with exponential back-off, written to
  ``<name>.part`` and renamed only when complete and verified. A checksum or size mismatch deletes the file
  and names the URL that gave it; the next source is tried.
- ``{path: /data/UCF101.rar}``: a file or folder the user already has; checked (size/checksum when given) and
  linked, never copied.
- ``{url_list: https://.../k400_train_path.txt}``: a text file of URLs (one per line, e.g. Kinetics' CVDF
  shards), each fetched as above into the same folder.

``verify_tls: false`` switches certificate checks off for that one source, explicitly: the UCF101 host's chain is
often rejected by default trust stores, and the config says so where it uses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from ..errors import MissingInput, UserError

CHUNK = 1 << 20


class SourceError(RuntimeError):
    """No source of a file could be fetched; the message lists what each one gave."""


@dataclasses.dataclass(frozen=True)
class Source:
    url: Optional[str] = None
    path: Optional[str] = None
    url_list: Optional[str] = None
    sha256: Optional[str] = None
    md5: Optional[str] = None
    size: Optional[int] = None
    verify_tls: bool = True
    name: Optional[str] = None  # file name to save under (default: the URL's last path component)

    @classmethod
    def from_dict(cls, values: Mapping, where: str) -> "Source":
        if isinstance(values, str):  # shorthand: a URL or a path
            values = {"url": values} if "://" in values else {"path": values}
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise UserError(
                f"{where} has unknown key(s) {sorted(unknown)}; allowed: url | path | url_list, "
                "sha256, md5, size, verify_tls, name"
            )
        given = [k for k in ("url", "path", "url_list") if values.get(k)]
        if len(given) != 1:
            raise UserError(f"{where} must give exactly one of url, path, url_list (got {given or 'none'})")
        return cls(**values)

    @property
    def filename(self) -> str:
        if self.name:
            return self.name
        location = self.url or self.url_list or self.path
        return Path(unquote(urlparse(location).path)).name or "download"

    def describe(self) -> str:
        return self.url or self.url_list or f"local {self.path}"


def file_digest(path: Path, algorithm: str, progress: bool = False) -> str:
    digest = hashlib.new(algorithm)
    with (
        open(path, "rb") as f,
        tqdm(
            total=os.path.getsize(path),
            unit="B",
            unit_scale=True,
            desc=f"{algorithm} {Path(path).name}",
            disable=not progress,
        ) as bar,
    ):
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def verify(path: Path, source: Source, progress: bool = False) -> Optional[str]:
    """``None`` when ``path`` matches the source's size and checksums, else what is wrong."""
    size = os.path.getsize(path)
    if source.size is not None and size != source.size:
        return f"size {size} bytes, expected {source.size}"
    for algorithm in ("sha256", "md5"):
        expected = getattr(source, algorithm)
        if expected and file_digest(path, algorithm, progress) != expected.lower():
            return f"{algorithm} mismatch (expected {expected})"
    return None


def _context(source: Source) -> Optional[ssl.SSLContext]:
    if source.verify_tls:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _transfer(url: str, part: Path, source: Source, progress: bool, timeout: float) -> None:
    """Append what ``part`` lacks of ``url`` (HTTP range from its current size); restart if the server ignores it."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "openvclip"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout, context=_context(source))
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # asked past the end: the part file is already complete
            return
        raise
    with response:
        if start and response.status != 206:  # no range support: start over
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else source.size
        with (
            open(part, "ab" if start else "wb") as out,
            tqdm(
                total=total, initial=start, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress
            ) as bar,
        ):
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
        if length is not None and part.stat().st_size < start + int(length):
            raise ConnectionError(f"connection closed after {part.stat().st_size} of {start + int(length)} bytes")


def download(
    url: str,
    dest: Path,
    source: Source,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place; returns ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, source, progress, timeout)
            break
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code not in (408, 429):
                raise  # not found, forbidden, ...: retrying will not help
            reason = error
        except (
            urllib.error.URLError,
            ConnectionError,
            TimeoutError,
            OSError,
            http.client.HTTPException,
        ) as error:  # HTTPException: e.g. IncompleteRead of a chunked answer
            if isinstance(error, urllib.error.URLError) and isinstance(error.reason, ssl.SSLError):
                raise  # a certificate problem does not go away by retrying
            reason = error
        if attempt == retries:
            raise ConnectionError(f"{url}: gave up after {retries + 1} attempts: {reason}")
        sleep(backoff * 2**attempt)
    problem = verify(part, source, progress)
    if problem:
        part.unlink()
        raise UserError(f"{url} gave a bad file ({problem}); deleted it")
    os.replace(part, dest)
    return dest


def _local(source: Source, dest_dir: Path, progress: bool) -> Path:
    path = Path(source.path).expanduser()
    if not path.exists():
        raise MissingInput(f"local source {path} does not exist")
    if path.is_file():
        problem = verify(path, source, progress)
        if problem:
            raise UserError(f"local source {path}: {problem}")
    link = dest_dir / (source.name or path.name)
    if link.exists() and link.resolve() == path.resolve():  # already there (the file itself, or a link to it)
        return link
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(path.resolve(), target_is_directory=path.is_dir())
    return link


def listed_urls(source: Source, dest_dir: Path, **kwargs) -> List[str]:
    """The URLs of a ``url_list`` source, one per line of its listing; the listing is fetched once into
    ``dest_dir/.<name>`` and kept (a finished set of shards is checked offline)."""
    listing = Path(dest_dir) / f".{source.filename}"
    if not listing.is_file():
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
        download(
            source.url_list,
            listing,
            Source(url=source.url_list, verify_tls=source.verify_tls),
            progress=False,
            **kwargs,
        )
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()]


def url_target(url: str, dest_dir: Path) -> Path:
    """Where a listed URL's file goes: ``dest_dir/<its last path component>``."""
    return Path(dest_dir) / Path(unquote(urlparse(url).path)).name


def download_many(
    urls: Sequence[str],
    dest_dir: Path,
    *,
    verify_tls: bool = True,
    at_once: int = 1,
    progress: bool = True,
    desc: str = "archives",
    **kwargs,
) -> List[Path]:
    """Fetch the listed ``urls`` into ``dest_dir``, ``at_once`` at a time (a host serving many small archives,
    as Kinetics' CVDF host does, is faster with a few connections open); returns their files in list order.

    A file already there is never fetched again. Every URL is tried before a failure is raised, so the files that
    did arrive are kept for the next run; the error names each URL that failed and why."""
    from concurrent.futures import ThreadPoolExecutor

    targets = [url_target(url, dest_dir) for url in urls]
    todo = [(url, target) for url, target in zip(urls, targets) if not target.exists()]
    # One bar of files when several downloads interleave; the single download's own byte bar otherwise.
    per_file = progress and at_once <= 1

    def one(job):
        url, target = job
        try:
            download(url, target, Source(url=url, verify_tls=verify_tls), progress=per_file, **kwargs)
        except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException) as error:
            return f"  - {url}: {error}"
        return None

    failures = []
    with (
        ThreadPoolExecutor(max(1, at_once)) as pool,
        tqdm(total=len(urls), initial=len(urls) - len(todo), desc=desc, unit="file", disable=not progress) as bar,
    ):
        for failure in pool.map(one, todo):
            bar.update()
            if failure:
                failures.append(failure)
    if failures:
        raise SourceError(
            f"{len(failures)} of {len(urls)} listed file(s) could not be fetched (the {len(urls) - len(failures)} "
            f"others are in {dest_dir} and are kept):\n" + "\n".join(failures)
        )
    return targets


def _url_list(source: Source, dest_dir: Path, progress: bool, at_once: int = 1, **kwargs) -> List[Path]:
    urls = listed_urls(source, dest_dir, **kwargs)
    return download_many(
        urls,
        dest_dir,
        verify_tls=source.verify_tls,
        at_once=at_once,
        progress=progress,
        desc=f"shards of {source.filename}",
        **kwargs,
    )


def fetch(sources: Sequence[Source], dest_dir: Path, progress: bool = True, at_once: int = 1, **kwargs) -> List[Path]:
    """Get a file from the first source that works; returns the file(s) (several for a ``url_list``, fetched
    ``at_once`` at a time).

    A file already in ``dest_dir`` that verifies is kept. Raises :class:`SourceError` listing every source's
    failure when none works.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in sources:
        try:
            if source.path:
                return [_local(source, dest_dir, progress)]
            if source.url_list:
                return _url_list(source, dest_dir, progress, at_once, **kwargs)
            dest = dest_dir / source.filename
            if dest.is_file() and not dest.is_symlink() and verify(dest, source, progress) is None:
                return [dest]
            return [download(source.url, dest, source, progress=progress, **kwargs)]
        except (SourceError, OSError, ValueError, urllib.error.URLError, http.client.HTTPException) as error:
            failures.append(f"  - {source.describe()}: {error}")
    raise SourceError("no source worked:\n" + "\n".join(failures))
