"""An OCI image layout on disk: the content-addressed store of every blob, and a destination.

``blobs/sha256/<hex>`` files are written once, atomically (temporary file + rename), so a
reader never sees a partial blob and an interrupted run leaves nothing behind but temporary
files, which are ignored. ``index.json`` names what was published here; it is rewritten under
a lock so that threads and concurrent processes do not lose each other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from kotasks.errors import CorruptBlobError, ImageError
from kotasks.fsutil import write_atomic
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.digest import CHUNK, Readable, check_digest, digest_hex, sha256_digest
from kotasks.oci.encoding import go_json
from kotasks.oci.layer import GzipLayerWriter, LayerInfo
from kotasks.oci.mediatypes import OCI_INDEX

if TYPE_CHECKING:
    from kotasks.oci.estargz import TarSpool

REF_NAME = "org.opencontainers.image.ref.name"
_INDEX_LOCK = threading.Lock()


class Layout:
    """A directory holding an OCI image layout."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs" / "sha256"

    def ensure(self) -> Layout:
        """Create the layout's skeleton if it is missing; return self."""
        self._blobs.mkdir(parents=True, exist_ok=True)
        marker = self.root / "oci-layout"
        if not marker.exists():
            write_atomic(marker, b'{"imageLayoutVersion":"1.0.0"}')
        if not (self.root / "index.json").exists():
            write_atomic(self.root / "index.json", _encode_index([]))
        return self

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives (whether or not it exists)."""
        return self._blobs / digest_hex(digest)

    def has(self, digest: str) -> bool:
        """Whether the blob is present."""
        return self.blob_path(digest).is_file()

    def read(self, digest: str) -> bytes:
        """Return a small blob's bytes, checking them against the digest."""
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from {self.root}") from None
        if sha256_digest(data) != digest:
            raise ImageError(f"blob {digest} in {self.root} is corrupt (digest mismatch)")
        return data

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming; the caller checks the digest while reading."""
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from {self.root}") from None

    def verify(self, digest: str) -> None:
        """Check a blob's bytes against its digest (streamed); a blob that does not match is
        removed from the store, so the step that made it runs again, and an ImageError says
        so."""
        h = hashlib.sha256()
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != digest:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blob_path(digest))
            raise CorruptBlobError(f"blob {digest} in {self.root} does not match its digest "
                                   "(the file was changed on disk); removed it, to be rebuilt")

    def put(self, data: bytes) -> str:
        """Store ``data`` as a blob; return its digest."""
        digest = sha256_digest(data)
        if not self.has(digest):
            self.ensure()
            write_atomic(self.blob_path(digest), data)
        return digest

    @contextlib.contextmanager
    def _temp_blob(self) -> Iterator[tuple[IO[bytes], Callable[[str], None]]]:
        """Yield a temporary file and a ``commit(digest)`` that moves it into place."""
        self.ensure()
        fd, tmp = tempfile.mkstemp(dir=self._blobs, prefix=".ingest-", suffix=".tmp")
        done = False

        def commit(digest: str) -> None:
            nonlocal done
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.blob_path(digest))
            done = True

        try:
            with os.fdopen(fd, "wb") as out:
                yield out, commit
        finally:
            if not done:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def ingest(self, stream: Readable, expected: str | None = None) -> tuple[str, int]:
        """Copy ``stream`` into a blob, hashing as it goes; verify ``expected`` if given."""
        with self._temp_blob() as (out, commit):
            h, size = hashlib.sha256(), 0
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
            out.flush()
            digest = "sha256:" + h.hexdigest()
            if expected is not None and digest != check_digest(expected):
                raise ImageError(f"blob content does not match {expected} (got {digest})")
            commit(digest)
        return digest, size

    def ingest_tar(self, stream: Readable) -> LayerInfo:
        """Store a whole uncompressed tar archive read from ``stream`` as a gzip layer (its
        bytes kept as they are: the diff_id is the archive's own digest)."""

        def fill(writer: GzipLayerWriter) -> None:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)

        return self.write_layer(fill, end_tar=False)

    def write_estargz(self, fill: Callable[[TarSpool], None], prioritized: Sequence[str] = ()
                      ) -> LayerInfo:
        """Build an eStargz layer with ``fill`` (:mod:`kotasks.oci.estargz`) and store it;
        its annotations are the TOC digest and the uncompressed size."""
        from kotasks.oci.estargz import (  # tarfile and the rest: not for every no-op run
            TOC_DIGEST_ANNOTATION,
            UNCOMPRESSED_SIZE_ANNOTATION,
            estargz_spooled,
        )

        with self._temp_blob() as (out, commit):
            info = estargz_spooled(fill, out, prioritized)
            out.flush()
            commit(info.layer.digest)
        return LayerInfo(info.layer.digest, info.layer.diff_id, info.layer.size, (
            (TOC_DIGEST_ANNOTATION, info.toc_digest),
            (UNCOMPRESSED_SIZE_ANNOTATION, str(info.uncompressed_size))))

    def write_layer(self, fill: Callable[[GzipLayerWriter], None], end_tar: bool = True
                    ) -> LayerInfo:
        """Build a gzip tar layer with ``fill`` (which adds entries) and store it."""
        with self._temp_blob() as (out, commit):
            writer = GzipLayerWriter(out)
            try:
                fill(writer)
            except BaseException:
                writer.abort()
                raise
            info = writer.finish(end_tar)
            out.flush()
            commit(info.digest)
        return info

    def index(self) -> dict[str, Any]:
        """Return the parsed ``index.json`` (an empty index if there is none)."""
        try:
            data: dict[str, Any] = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        return data

    def set_refs(self, entries: list[tuple[str | None, Descriptor]]) -> None:
        """Add descriptors to ``index.json``; one with the same ref name is replaced.

        A ``None`` name adds the descriptor without a ref name (once per digest).
        """
        self.ensure()
        with _INDEX_LOCK, open(self.root / ".index.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifests: list[dict[str, Any]] = list(self.index().get("manifests") or [])
            for name, desc in entries:
                entry = desc.to_json()
                if name is not None:
                    entry["annotations"] = {**(entry.get("annotations") or {}), REF_NAME: name}
                    manifests = [m for m in manifests
                                 if (m.get("annotations") or {}).get(REF_NAME) != name]
                elif any(m.get("digest") == desc.digest and not (m.get("annotations") or {})
                         .get(REF_NAME) for m in manifests):
                    continue
                manifests.append(entry)
            write_atomic(self.root / "index.json", _encode_index(manifests))


def _encode_index(manifests: list[dict[str, Any]]) -> bytes:
    return go_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
