"""eStargz layers (``GGCR_EXPERIMENT_ESTARGZ=1``): gzip tar layers that a lazy puller can
open file by file, as stargz-snapshotter's ``docs/estargz.md`` specifies.

The layer's tar entries are first spooled, uncompressed, to a temporary file (streamed: the
layer is never in memory); then they are written in eStargz order: the prioritized files
(the Go binary) with their parent directories, the ``.prefetch.landmark`` (or, with none,
the ``.no.prefetch.landmark`` first), then the rest. Each regular file's payload starts a
gzip member of its own, chunk by chunk (4 MiB, as the stargz library); a tar header goes at
the end of the member before it, as the library writes them. Then the TOC
(``stargz.index.json``, the last tar entry, in a member of its own) and the 51-byte footer
naming its offset. The result is still one valid gzip stream of one tar archive, so every
other reader sees an ordinary layer. Compression is zlib's at level 1, deterministic: the
same entries give the same blob.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from kotasks.oci.layer import LayerInfo
from kotasks.oci.tarwriter import TarWriter

TOC_NAME = "stargz.index.json"
PREFETCH_LANDMARK = ".prefetch.landmark"
NO_PREFETCH_LANDMARK = ".no.prefetch.landmark"
LANDMARK_CONTENTS = b"\x0f"
CHUNK_SIZE = 4 << 20
#: the layer descriptor's annotations stargz-snapshotter reads
TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size"
_LEVEL = 1
#: a gzip member header as Go writes it: no name, mtime 0, XFL 4 (fastest), OS unknown
_MEMBER_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 4, 255])
_BLOCK = 512
_READ = 1 << 20


@dataclass(frozen=True)
class EstargzInfo:
    """What an image needs of an eStargz layer: the layer, and its descriptor's annotations."""

    layer: LayerInfo
    toc_digest: str
    uncompressed_size: int


class TarSpool:
    """What a layer's ``fill`` writes into: ``tar`` (a :class:`TarWriter`) onto a file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.tar = TarWriter(out.write)


class _Members:
    """The blob being written: gzip members one after the other, counted and hashed."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.offset = 0  # compressed bytes written
        self.digest = hashlib.sha256()
        self.diff = hashlib.sha256()  # of the uncompressed tar
        self.uncompressed = 0
        self._zip: Any = None
        self._crc = 0
        self._size = 0

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.digest.update(data)
            self.offset += len(data)

    def open(self) -> None:
        if self._zip is None:
            self._emit(_MEMBER_HEADER)
            self._zip = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
            self._crc = self._size = 0

    def close(self) -> None:
        if self._zip is not None:
            self._emit(self._zip.flush(zlib.Z_FINISH))
            self._emit(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
            self._zip = None

    def write(self, data: bytes) -> None:
        self.open()
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self.diff.update(data)
        self.uncompressed += len(data)
        self._emit(self._zip.compress(data))

    def footer(self, toc_offset: int) -> None:
        subfield = f"{toc_offset:016x}STARGZ".encode()
        extra = b"SG" + struct.pack("<H", len(subfield)) + subfield
        # an empty member: the header with FEXTRA, then one empty stored final block
        self._emit(bytes([0x1F, 0x8B, 8, 4, 0, 0, 0, 0, 0, 255])
                   + struct.pack("<H", len(extra)) + extra
                   + bytes([1, 0, 0, 0xFF, 0xFF]) + bytes(8))


def _modtime(mtime: float) -> str:
    if not mtime:
        return ""
    return datetime.datetime.fromtimestamp(round(mtime), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


_TYPES = {tarfile.DIRTYPE: "dir", tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def _entry(member: tarfile.TarInfo) -> dict[str, Any]:
    """A tar member's TOC metadata (see :func:`_toc_entry` for the order)."""
    xattrs = {key.removeprefix("SCHILY.xattr."): base64.b64encode(
        value.encode("utf-8", "surrogateescape")).decode()
        for key, value in sorted(member.pax_headers.items())
        if key.startswith("SCHILY.xattr.")}
    kind = _TYPES[member.type]
    fields: dict[str, Any] = {"name": member.name, "type": kind,
                              "size": member.size if kind == "reg" else 0,
                              "modtime": _modtime(member.mtime),
                              "linkName": member.linkname, "mode": member.mode,
                              "uid": member.uid, "gid": member.gid,
                              "userName": member.uname, "groupName": member.gname}
    if kind in ("char", "block"):
        fields.update(devMajor=member.devmajor, devMinor=member.devminor)
    if xattrs:
        fields["xattrs"] = xattrs
    return fields


def _ordered(members: list[tarfile.TarInfo], prioritized: Sequence[str]
             ) -> list[tarfile.TarInfo | str]:
    """The prioritized files after their parent directories, the landmark, the rest (a
    landmark is named by its string)."""
    def clean(name: str) -> str:
        return name.strip("/")

    by_name = {clean(m.name): m for m in members}
    picked: list[tarfile.TarInfo] = []
    for wanted in prioritized:
        parts = clean(wanted).split("/")
        for depth in range(1, len(parts) + 1):
            found = by_name.get("/".join(parts[:depth]))
            if found is not None and found not in picked:
                picked.append(found)
    landmark = PREFETCH_LANDMARK if picked else NO_PREFETCH_LANDMARK
    rest = [m for m in members if m not in picked]
    return [*picked, landmark, *rest]


def _landmark_header(name: str) -> bytes:
    out = io.BytesIO()
    TarWriter(out.write).add_file(name, 1, io.BytesIO(LANDMARK_CONTENTS), 0, 0)
    return out.getvalue()[:_BLOCK]


_ORDER = ("name", "type", "size", "modtime", "linkName", "mode", "uid", "gid", "userName",
          "groupName", "offset", "innerOffset", "devMajor", "devMinor", "xattrs", "digest",
          "chunkOffset", "chunkSize", "chunkDigest")


def _toc_entry(**fields: Any) -> dict[str, Any]:
    """A TOC entry in the stargz library's field order, zero values left out (omitempty)."""
    return {k: fields[k] for k in _ORDER if fields.get(k)}


def write_estargz(spool: IO[bytes], out: IO[bytes], prioritized: Sequence[str] = (),
                  chunk_size: int = CHUNK_SIZE) -> EstargzInfo:
    """Write the entries of the tar spooled in ``spool`` to ``out`` as eStargz."""
    spool.seek(0)
    with tarfile.open(fileobj=spool, mode="r:", format=tarfile.PAX_FORMAT) as archive:
        members = archive.getmembers()
    blob = _Members(out)
    entries: list[dict[str, Any]] = []
    for item in _ordered(members, prioritized):
        if isinstance(item, str):
            header, size, meta = _landmark_header(item), 1, {"name": item, "type": "reg",
                                                             "size": 1}
            read: Callable[[int], bytes] = io.BytesIO(LANDMARK_CONTENTS).read
        else:
            spool.seek(item.offset)
            header = spool.read(item.offset_data - item.offset)
            size, meta = (item.size if item.isreg() else 0), _entry(item)
            spool.seek(item.offset_data)
            read = spool.read
        blob.open()
        blob.write(header)
        if not size:
            entries.append(_toc_entry(**meta))
            continue
        whole, written, chunks = hashlib.sha256(), 0, []
        while written < size:
            remain = size - written
            length = min(chunk_size, remain)
            blob.close()  # each chunk's payload starts a member
            offset, digest = blob.offset, hashlib.sha256()
            left = length
            while left:
                data = read(min(_READ, left))
                if not data:
                    raise OSError(f"tar entry {meta['name']} ended early")
                digest.update(data)
                whole.update(data)
                blob.write(data)
                left -= len(data)
            # as the library: chunkSize is set unless the chunk is shorter than a whole one
            chunks.append((offset, written, chunk_size if remain >= chunk_size else 0,
                           "sha256:" + digest.hexdigest()))
            written += length
        for i, (offset, chunk_offset, length, chunk_digest) in enumerate(chunks):
            fields = {**meta, "digest": "sha256:" + whole.hexdigest()} if i == 0 else {
                "name": meta["name"], "type": "chunk"}
            entries.append(_toc_entry(**fields, offset=offset, chunkOffset=chunk_offset,
                                      chunkSize=length, chunkDigest=chunk_digest))
        blob.write(bytes(-size % _BLOCK))
    blob.close()
    toc_offset = blob.offset
    toc = json.dumps({"version": 1, "entries": entries}, indent="\t",
                     ensure_ascii=False).encode()
    tail = io.BytesIO()
    TarWriter(tail.write).add_file(TOC_NAME, len(toc), io.BytesIO(toc), 0, 0)
    blob.open()
    blob.write(tail.getvalue() + bytes(2 * _BLOCK))
    blob.close()
    blob.footer(toc_offset)
    layer = LayerInfo("sha256:" + blob.digest.hexdigest(), "sha256:" + blob.diff.hexdigest(),
                      blob.offset)
    return EstargzInfo(layer, "sha256:" + hashlib.sha256(toc).hexdigest(), blob.uncompressed)


def estargz_spooled(fill: Callable[[TarSpool], None], out: IO[bytes],
                    prioritized: Sequence[str] = ()) -> EstargzInfo:
    """Spool what ``fill`` writes to a temporary file, then write it to ``out`` as eStargz."""
    with tempfile.TemporaryFile() as spool:
        fill(TarSpool(spool))
        spool.flush()
        return write_estargz(spool, out, prioritized)
