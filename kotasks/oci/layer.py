"""Deterministic gzip layers, streamed: tar bytes → sha256 (diff_id) → deflate → sha256 (digest).

The gzip member is written by hand so no field depends on the clock or the file name: the
header is Go's for ``gzip.BestSpeed`` (mtime 0, XFL 4, OS 255), the body is zlib level 1.
The deflate stream is cut into fixed 1 MiB blocks compressed on several threads (zlib
releases the GIL), each primed with the previous block's last 32 KiB and ended with a sync
flush, as pigz does; the blocks are fixed by the data, not the thread count, so the bytes are
the same on every machine with the same zlib. Memory stays flat whatever the layer size: at
most a few blocks are in flight.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from kotasks.oci.tarwriter import TarWriter

GZIP_LEVEL = 1
BLOCK = 1 << 20
_WINDOW = 32 << 10
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
#: changes whenever the bytes a layer recipe produces would change
LAYER_FORMAT = f"tar-go/gzip-{GZIP_LEVEL}-blocks-{BLOCK}/zlib-{zlib.ZLIB_RUNTIME_VERSION}"
#: the eStargz writer's version, in an eStargz layer's recipe (kotasks/oci/estargz.py)
ESTARGZ_FORMAT = f"estargz-1/zlib-{zlib.ZLIB_RUNTIME_VERSION}"
_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class LayerInfo:
    """What an image needs to know of a layer blob."""

    digest: str
    diff_id: str
    size: int
    #: the layer descriptor's annotations (an eStargz layer's TOC digest and size)
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dict (doit task values)."""
        values: dict[str, object] = {"digest": self.digest, "diff_id": self.diff_id,
                                     "size": self.size}
        if self.annotations:
            values["annotations"] = dict(self.annotations)
        return values

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LayerInfo:
        """Read the dict written by :meth:`to_json`."""
        annotations = data.get("annotations")
        pairs = tuple(sorted(annotations.items())) if isinstance(annotations, dict) else ()
        return cls(str(data["digest"]), str(data["diff_id"]), int(str(data["size"])),
                   tuple((str(k), str(v)) for k, v in pairs))


def _deflate_block(block: bytes, primer: bytes, last: bool) -> bytes:
    """Compress one block as part of a single raw deflate stream."""
    if primer:
        deflater = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=primer)
    else:
        deflater = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(block) + deflater.flush(zlib.Z_FINISH if last else
                                                     zlib.Z_SYNC_FLUSH)


class GzipLayerWriter:
    """Accept tar bytes and write a gzip blob to ``out``, hashing both sides."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._tar_hash = hashlib.sha256()
        self._gz_hash = hashlib.sha256()
        self._crc = 0
        self._raw_size = 0
        self._size = 0
        self._pending = bytearray()
        self._primer = b""
        self._inflight: deque[Future[bytes]] = deque()
        self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="deflate")
        self._emit(_GZIP_HEADER)
        self.tar = TarWriter(self.write)

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._gz_hash.update(data)
            self._size += len(data)

    def _submit(self, block: bytes, last: bool) -> None:
        self._inflight.append(self._pool.submit(_deflate_block, block, self._primer, last))
        self._primer = block[-_WINDOW:]
        while len(self._inflight) > 2 * _THREADS:
            self._emit(self._inflight.popleft().result())

    def write(self, data: bytes) -> None:
        """Feed uncompressed tar bytes."""
        self._tar_hash.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._raw_size += len(data)
        self._pending += data
        while len(self._pending) >= BLOCK:
            block = bytes(self._pending[:BLOCK])
            del self._pending[:BLOCK]
            self._submit(block, last=False)

    def abort(self) -> None:
        """Stop the compression threads after a failure; the output is to be discarded."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, end_tar: bool = True) -> LayerInfo:
        """End the tar archive (unless the bytes written are a whole archive already) and
        the gzip member; return the layer's digests and size."""
        try:
            if end_tar:
                self.tar.close()
            self._submit(bytes(self._pending), last=True)
            self._pending.clear()
            while self._inflight:
                self._emit(self._inflight.popleft().result())
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        trailer = (self._crc & 0xFFFFFFFF).to_bytes(4, "little")
        trailer += (self._raw_size & 0xFFFFFFFF).to_bytes(4, "little")
        self._emit(trailer)
        return LayerInfo(digest="sha256:" + self._gz_hash.hexdigest(),
                         diff_id="sha256:" + self._tar_hash.hexdigest(), size=self._size)
