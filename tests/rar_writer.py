"""A minimal writer of RAR 4.x archives in store mode (no compression), for test fixtures only.

Nothing in Debian main or on PyPI writes RAR, and the real data sets (UCF101, HMDB51) ship as RAR, so the tests
write small archives themselves from the documented format (RAR 4.x "technote"): a marker block, an archive
header, one file header plus the stored bytes per member, and an end-of-archive block. Each header starts with
the low 16 bits of the CRC-32 of the header's bytes after that field.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Mapping

MARKER = b"Rar!\x1a\x07\x00"
HOST_WINDOWS = 2
METHOD_STORE = 0x30
LONG_BLOCK = 0x8000
DIRECTORY = 0x00E0
DOS_TIME = (2013 - 1980) << 25 | 10 << 21 | 1 << 16  # 2013-10-01 00:00:00, the HMDB51 upload month


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    header = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header


def _file_header(name: str, data: bytes, is_dir: bool) -> bytes:
    # RAR 1.5-4.x stores Windows paths (UCF101.rar and hmdb51_org.rar were packed on Windows): backslash
    # separators and DOS attributes (0x10 folder, 0x20 archive), as unrar's arcread.cpp reads them.
    encoded = name.replace("/", "\\").encode("utf-8")
    attributes = 0x10 if is_dir else 0x20
    body = (
        struct.pack(
            "<IIBIIBBHI",
            len(data),
            len(data),
            HOST_WINDOWS,
            zlib.crc32(data) & 0xFFFFFFFF,
            DOS_TIME,
            20,
            METHOD_STORE,
            len(encoded),
            attributes,
        )
        + encoded
    )
    return _block(0x74, LONG_BLOCK | (DIRECTORY if is_dir else 0), body) + data


def rar_bytes(files: Mapping[str, bytes]) -> bytes:
    """A RAR archive holding ``files`` (name with '/' separators -> content); parent folders are added."""
    folders = sorted({str(Path(name).parents[i]) for name in files for i in range(len(Path(name).parents) - 1)})
    parts = [MARKER, _block(0x73, 0, struct.pack("<HI", 0, 0))]
    parts += [_file_header(folder, b"", True) for folder in folders]
    parts += [_file_header(name, data, False) for name, data in files.items()]
    parts.append(_block(0x7B, 0x4000, b""))
    return b"".join(parts)


def write_rar(path: Path, files: Mapping[str, bytes]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rar_bytes(files))
    return path
