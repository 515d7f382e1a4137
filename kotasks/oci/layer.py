"""Deterministic gzip layers, streamed: tar bytes → sha256 (diff_id) → deflate → sha256 (digest).

The gzip member is written by hand so no field depends on the clock or the file name: the
header is Go's for ``gzip.BestSpeed`` (mtime 0, XFL 4, OS 255), the body is zlib level 1.
Memory stays flat whatever the layer size: nothing holds more than one chunk.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import IO

from kotasks.oci.tarwriter import TarWriter

GZIP_LEVEL = 1
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
#: changes whenever the bytes a layer recipe produces would change
LAYER_FORMAT = f"tar-go/gzip-{GZIP_LEVEL}/zlib-{zlib.ZLIB_RUNTIME_VERSION}"


@dataclass(frozen=True)
class LayerInfo:
    """What an image needs to know of a layer blob."""

    digest: str
    diff_id: str
    size: int

    def to_json(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dict (doit task values)."""
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LayerInfo:
        """Read the dict written by :meth:`to_json`."""
        return cls(str(data["digest"]), str(data["diff_id"]), int(str(data["size"])))


class GzipLayerWriter:
    """Accept tar bytes and write a gzip blob to ``out``, hashing both sides."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._tar_hash = hashlib.sha256()
        self._gz_hash = hashlib.sha256()
        self._deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._raw_size = 0
        self._size = 0
        self._emit(_GZIP_HEADER)
        self.tar = TarWriter(self.write)

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._gz_hash.update(data)
            self._size += len(data)

    def write(self, data: bytes) -> None:
        """Feed uncompressed tar bytes."""
        self._tar_hash.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._raw_size += len(data)
        self._emit(self._deflate.compress(data))

    def finish(self) -> LayerInfo:
        """End the tar archive and the gzip member; return the layer's digests and size."""
        self.tar.close()
        self._emit(self._deflate.flush())
        trailer = (self._crc & 0xFFFFFFFF).to_bytes(4, "little")
        trailer += (self._raw_size & 0xFFFFFFFF).to_bytes(4, "little")
        self._emit(trailer)
        return LayerInfo(digest="sha256:" + self._gz_hash.hexdigest(),
                         diff_id="sha256:" + self._tar_hash.hexdigest(), size=self._size)
