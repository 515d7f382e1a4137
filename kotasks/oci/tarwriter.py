"""A tar writer whose bytes equal those of Go's ``archive/tar`` for the entries ko writes.

Python's :mod:`tarfile` differs from Go in small ways (record padding to 10 KiB, device fields,
PAX header names) and between Python versions, so layer digests would drift; this writer
produces Go's USTAR/PAX headers exactly: octal fields zero-padded and NUL-terminated, the
checksum as six digits, NUL and space, PAX headers named ``<dir>/PaxHeaders.0/<file>`` with
sorted records, and two zero blocks at the end with no further padding.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping

from kotasks.errors import ImageError
from kotasks.oci.digest import Readable

BLOCK = 512
NAME_SIZE = 100
PREFIX_SIZE = 155
REGULAR = b"0"
DIRECTORY = b"5"
PAX_HEADER = b"x"
_MAX_OCTAL_11 = 8**11  # size and mtime fields hold 11 octal digits


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero-padded octal leaving room for a NUL (0 if it does not fit)."""
    if value < 0 or (width < 22 and value >= 1 << ((width - 1) * 3)):
        value = 0
    text = format(value, "o").rjust(width - 1, "0").encode("ascii")
    return _field(text, width)


def _field(data: bytes, width: int) -> bytes:
    """Go's formatString: copy (truncating), NUL-padded to ``width``."""
    return data[:width].ljust(width, b"\0")


def _ascii(text: str) -> bytes:
    """Go's toASCII: drop every non-ASCII character."""
    return "".join(ch for ch in text if ord(ch) < 0x80).encode("ascii")


def _split_ustar(name: str) -> tuple[str, str] | None:
    """Go's splitUSTARPath: a (prefix, suffix) pair for a long ASCII name, or None."""
    length = len(name)
    if length <= NAME_SIZE or not name.isascii():
        return None
    if length > PREFIX_SIZE + 1:
        length = PREFIX_SIZE + 1
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    suffix_len, prefix_len = len(name) - i - 1, i
    if i <= 0 or suffix_len > NAME_SIZE or suffix_len == 0 or prefix_len > PREFIX_SIZE:
        return None
    return name[:i], name[i + 1:]


def _pax_record(key: str, value: bytes) -> bytes:
    """Go's formatPAXRecord: ``<len> <key>=<value>\\n`` where len counts itself."""
    body = key.encode("utf-8") + b"=" + value + b"\n"
    size = len(body) + 1
    size += len(str(size))
    record = str(size).encode() + b" " + body
    if len(record) != size:
        record = str(len(record)).encode() + b" " + body
    return record


def _finish(block: bytearray) -> bytes:
    """Set the USTAR magic and the checksum, as Go's block.setFormat does."""
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    checksum = sum(block)
    block[148:155] = _octal(checksum, 7)
    block[155] = ord(" ")
    return bytes(block)


def _header(name: bytes, typeflag: bytes, mode: int, size: int, mtime: int,
            prefix: bytes = b"") -> bytes:
    block = bytearray(BLOCK)
    block[0:100] = _field(name, 100)
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(mtime, 12)
    block[156:157] = typeflag
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[345:500] = _field(prefix, 155)
    return _finish(block)


def _raw_pax_header(real_name: str, data: bytes) -> bytes:
    """Go's writeRawFile for a PAX extended header: only the V7 fields are set."""
    directory, file = posixpath.split(real_name)
    name = _ascii(posixpath.join(directory, "PaxHeaders.0", file))[:NAME_SIZE].rstrip(b"/")
    block = bytearray(BLOCK)
    block[0:100] = _field(name, 100)
    block[100:108] = _octal(0, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(len(data), 12)
    block[136:148] = _octal(0, 12)
    block[156:157] = PAX_HEADER
    return _finish(block)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _header_blocks(name: str, typeflag: bytes, mode: int, size: int, mtime: int,
                   pax: Mapping[str, bytes]) -> list[bytes]:
    """The header block(s) of one entry: a USTAR header, or a PAX header and its records
    followed by the USTAR header."""
    if mtime < 0 or mtime >= _MAX_OCTAL_11:
        raise ImageError(f"{name}: modification time {mtime} is outside 0..8^11-1")
    records: dict[str, bytes] = {}
    split = None
    if not name.isascii() or len(name) > NAME_SIZE:
        records["path"] = name.encode("utf-8")
        split = _split_ustar(name)
    if size >= _MAX_OCTAL_11:
        records["size"] = str(size).encode()
    ustar = not pax and "size" not in records and (("path" not in records) or split)
    if ustar:
        prefix, short = split if split else ("", name)
        return [_header(short.encode("ascii"), typeflag, mode, size, mtime,
                        prefix.encode("ascii"))]
    for key, value in pax.items():
        records.setdefault(key, value)
    data = b"".join(_pax_record(k, records[k]) for k in sorted(records))
    return [_raw_pax_header(name, data), data + _padding(len(data)),
            _header(_ascii(name), typeflag, mode, size, mtime)]


def file_chunks(name: str, size: int, content: Readable, mode: int = 0o555, mtime: int = 0,
                pax: Mapping[str, bytes] | None = None) -> Iterator[bytes]:
    """A regular file entry of ``size`` bytes streamed from ``content``, as byte chunks
    (header, content in pieces of at most 1 MiB, padding): memory stays flat."""
    yield from _header_blocks(name, REGULAR, mode, size, mtime, pax or {})
    remaining = size
    while remaining:
        chunk = content.read(min(remaining, 1 << 20))
        if not chunk:
            raise ImageError(f"{name}: file shrank while it was being archived")
        yield chunk
        remaining -= len(chunk)
    if content.read(1):
        raise ImageError(f"{name}: file grew while it was being archived")
    yield _padding(size)


#: the two zero blocks that end an archive
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


class TarWriter:
    """Write tar entries to a byte sink with Go's header encoding; uid/gid 0, no owner names."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write

    def add_directory(self, name: str, mode: int = 0o555, mtime: int = 0,
                      pax: Mapping[str, bytes] | None = None) -> None:
        """Write a directory entry (no trailing slash is added, as in ko)."""
        for block in _header_blocks(name, DIRECTORY, mode, 0, mtime, pax or {}):
            self._write(block)

    def add_file(self, name: str, size: int, content: Readable, mode: int = 0o555,
                 mtime: int = 0, pax: Mapping[str, bytes] | None = None) -> None:
        """Write a regular file of ``size`` bytes streamed from ``content``."""
        for chunk in file_chunks(name, size, content, mode, mtime, pax):
            self._write(chunk)

    def close(self) -> None:
        """Write the two zero blocks that end the archive."""
        self._write(END_OF_ARCHIVE)
