"""A loopback HTTP file server for tests: in-memory files, byte ranges, and scripted failures.

``FileServer`` serves ``{url path: bytes}`` on 127.0.0.1 (a free port) from a background thread. Per file it can:

- honour ``Range: bytes=N-`` (206 + ``Content-Range``; 416 past the end), or ignore it (``ranges=False``: 200 with
  the whole file, as some mirrors do);
- send the body with ``Transfer-Encoding: chunked`` instead of a ``Content-Length`` (``chunked=True``);
- follow a script of misbehaviours consumed one per request before serving normally: an ``int`` answers that HTTP
  status (e.g. ``503``), a :class:`Drop` sends the headers of the full answer but closes the connection after
  ``Drop.after`` bytes of the body (an interrupted download).

Unknown paths answer 404. Every request is recorded (:attr:`FileServer.requests`) with its path and headers, so a
test can count downloads and check the ``Range`` a resumed download sent. Files may be added from disk
(:meth:`FileServer.add_tree`) to serve data-set archives in their real layouts.

Use it as a context manager, or through the ``http_server`` pytest fixture (``tests/conftest.py``).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union
from urllib.parse import quote, unquote, urlparse


@dataclasses.dataclass(frozen=True)
class Drop:
    """Send the first ``after`` body bytes of the answer, then close the connection."""

    after: int


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: Dict[str, str]

    @property
    def range(self) -> Optional[str]:
        return self.headers.get("Range")


@dataclasses.dataclass
class _File:
    data: bytes
    ranges: bool = True
    chunked: bool = False
    script: List[Union[int, Drop]] = dataclasses.field(default_factory=list)


class FileServer:
    """In-memory HTTP file server on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.files: Dict[str, _File] = {}
        self.requests: List[Request] = []
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- content -------------------------------------------------------------------------------------------
    def add(
        self,
        path: str,
        data: Union[bytes, str, Path],
        *,
        ranges: bool = True,
        chunked: bool = False,
        fail: Iterable[int] = (),
        drop_after: Iterable[int] = (),
    ) -> str:
        """Serve ``data`` (bytes, or a file on disk) at ``path``; returns its URL.

        ``fail``: statuses answered first, one per request (e.g. ``[503, 503]``); ``drop_after``: then, one per
        request, answers cut after that many body bytes. Afterwards the file is served normally.
        """
        path = "/" + path.lstrip("/")
        if isinstance(data, (str, Path)):
            data = Path(data).read_bytes()
        script: List[Union[int, Drop]] = [int(code) for code in fail] + [Drop(int(k)) for k in drop_after]
        with self._lock:
            self.files[path] = _File(bytes(data), ranges, chunked, script)
        return self.url(path)

    def add_tree(self, root: Union[str, Path], prefix: str = "") -> Dict[str, str]:
        """Serve every file under the folder ``root`` at ``prefix/<relative path>``; returns {relative: URL}."""
        root = Path(root)
        urls = {}
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = file.relative_to(root).as_posix()
            urls[relative] = self.add(f"{prefix.strip('/')}/{relative}" if prefix else relative, file)
        return urls

    def url(self, path: str) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{quote(path.lstrip('/'))}"

    def requests_for(self, path: str) -> List[Request]:
        path = "/" + path.lstrip("/")
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "FileServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def do_HEAD(self):
                self._answer(send_body=False)

            def do_GET(self):
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                with server._lock:
                    server.requests.append(Request(self.command, path, dict(self.headers.items())))
                    file = server.files.get(path)
                    action = file.script.pop(0) if file is not None and file.script else None
                if file is None:
                    return self._status(404)
                if isinstance(action, int):
                    return self._status(action)
                data, start = file.data, 0
                wanted = self.headers.get("Range") if file.ranges else None
                if wanted:
                    match = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
                    if match is None:
                        return self._status(400)
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                    if file.ranges:
                        self.send_header("Accept-Ranges", "bytes")
                body = data[start:]
                self.send_header("Content-Type", "application/octet-stream")
                if file.chunked:  # one chunk holding the body, then the last (empty) chunk
                    self.send_header("Transfer-Encoding", "chunked")
                    head, tail = f"{len(body):x}\r\n".encode(), b"\r\n0\r\n\r\n"
                else:
                    self.send_header("Content-Length", str(len(body)))
                    head, tail = b"", b""
                if isinstance(action, Drop):
                    self.send_header("Connection", "close")
                self.end_headers()
                if not send_body:
                    return
                if isinstance(action, Drop):
                    self.wfile.write(head + body[: action.after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(head + body + tail)

            def _status(self, code: int) -> None:
                body = f"status {code}\n".encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> "FileServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
