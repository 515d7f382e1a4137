"""Blob uploads: streamed from their source, hashed on the way, resumed after a failure.

A blob of at most one chunk (``KOTASKS_UPLOAD_CHUNK_MIB``, 64 MiB by default) goes in one
``PUT …?digest=`` into the session its ``POST`` opened. A larger one goes as the distribution
spec's chunked upload: ``PATCH`` requests of one chunk each (``Content-Range``), each
acknowledged with the registry's new offset, then the ``PUT`` with the digest. When a chunk is
dropped or answered 408/429/5xx, the upload asks the registry where the session stands
(``GET`` on the upload URL: its ``Range``) and continues from that offset; a session the
registry no longer knows starts again from zero. A registry that refuses chunks (a 4xx on a
``PATCH``) gets this and every later large blob in one ``PUT``.

Each try streams the blob again from ``open_stream`` (a file in the store, or the base image's
registry), re-hashing the bytes before the offset without sending them: nothing is held in
memory, and the digest of what the registry was sent is always checked. The retry budget is
the upload's, across sessions and chunks (:mod:`kotasks.registry.retry`): a session opened or
a chunk accepted counts as progress.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from kotasks import progress
from kotasks.errors import ImageError, RegistryError, UserError
from kotasks.oci.digest import Readable
from kotasks.registry.retry import Retries, retry_after, retryable_status

if TYPE_CHECKING:
    import requests

    from kotasks.progress import Transfer
    from kotasks.registry.client import RegistryClient

log = logging.getLogger("kotasks")
READ = 1 << 20
DEFAULT_CHUNK_MIB = 64.0
#: a PATCH answer that says the registry takes no chunks (rather than that this one failed)
_NO_CHUNKS = (400, 405, 411, 413, 501)

OpenStream = Callable[[], AbstractContextManager[Readable]]


def chunk_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The chunk size ``KOTASKS_UPLOAD_CHUNK_MIB`` asks for, in bytes."""
    env = os.environ if environ is None else environ
    text = env.get("KOTASKS_UPLOAD_CHUNK_MIB", "")
    if not text:
        return int(DEFAULT_CHUNK_MIB * (1 << 20))
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UserError(f"KOTASKS_UPLOAD_CHUNK_MIB={text}: expected a number of MiB above 0")
    return max(1, int(value * (1 << 20)))


class HashingBody:
    """Up to ``size`` bytes of ``stream`` as a request body, read in 1 MiB pieces, added to
    ``hasher`` and counted on ``sent_to`` (a progress display) as they are sent."""

    def __init__(self, stream: Readable, size: int, hasher: Any,
                 sent_to: Transfer | None = None) -> None:
        self._stream, self._size, self._hasher, self._sent_to = stream, size, hasher, sent_to
        self.sent = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self._size:
            chunk = self._stream.read(min(READ, self._size - self.sent))
            if not chunk:
                return
            self._hasher.update(chunk)
            self.sent += len(chunk)
            if self._sent_to is not None:
                self._sent_to.advance(len(chunk))
            yield chunk


class Dropped(Exception):
    """A try that failed in a way another try may mend (a reset, a 408/429/5xx)."""

    def __init__(self, reason: str, error: RegistryError, server_asks: float | None = None,
                 session_gone: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.error, self.server_asks = reason, error, server_asks
        self.session_gone = session_gone


class NoChunks(Exception):
    """The registry refused a chunk: it wants the blob in one PUT."""


def _offset(range_header: str | None) -> int | None:
    """The bytes a session holds from its ``Range: 0-<last>`` (``0-0``: none yet)."""
    match = re.fullmatch(r"(?:bytes=)?0-(\d+)", (range_header or "").strip())
    if match is None:
        return None
    last = int(match.group(1))
    return last + 1 if last else 0


class BlobUpload:
    """One blob's way into one repository (see the module's docstring)."""

    def __init__(self, client: RegistryClient, repository: str, digest: str, size: int,
                 open_stream: OpenStream, retries: Retries, location: str | None) -> None:
        self.client, self.repository, self.digest, self.size = client, repository, digest, size
        self.open_stream, self.retries = open_stream, retries
        self.location = location  # the session's URL; None: open one
        self.offset = 0  # bytes the session holds, as the registry last said
        self.verified = False  # every byte was sent and hashed to the digest
        self.chunked = size > client.chunk and client.takes_chunks

    def run(self) -> None:
        """Upload until the registry has the blob, or the retry budget is spent."""
        while True:
            if self.location is None:
                self.location, self.offset, self.verified = self._open_session(), 0, False
                self.retries.progressed()
            try:
                if self.chunked:
                    self._send_chunks()
                else:
                    self._send_whole()
                return
            except NoChunks:
                log.info("kotasks: %s takes no chunked uploads: sending blobs in one request",
                         self.client.registry)
                self.client.takes_chunks = self.chunked = False
                self.location = None
                continue
            except Dropped as dropped:
                failure = dropped
            before = self.offset
            if self.chunked and not failure.session_gone:
                self._ask_where()
            if self.offset > before:
                self.retries.progressed()
            if not self.retries.wait(failure.reason, failure.server_asks):
                raise failure.error
            if not self.chunked or failure.session_gone:
                self.location = None

    # -- steps ----------------------------------------------------------------------------

    def _url(self, location: str, digest: bool = False) -> str:
        url = location if location.startswith(("http://", "https://")) \
            else self.client.ping() + location
        if digest:
            url += ("&" if "?" in url else "?") + f"digest={urllib.parse.quote(self.digest)}"
        return url

    def _open_session(self) -> str:
        resp = self.client.send("POST", f"/v2/{self.repository}/blobs/uploads/",
                                self.repository, self.client.push_scopes(self.repository),
                                "start upload to")
        if resp.status_code != 202 or not resp.headers.get("Location"):
            raise self.client.error(resp, self.repository, "start upload to")
        return str(resp.headers["Location"])

    def _request(self, method: str, url: str, headers: dict[str, str], body: Any = None
                 ) -> requests.Response:
        """One try of one step; a failure another try may mend is :class:`Dropped`."""
        action = f"upload blob {self.digest} to"
        try:
            resp = self.client.send(method, url, self.repository,
                                    self.client.push_scopes(self.repository), action,
                                    headers=headers, body=body, replayable=False)
        except RegistryError as exc:
            if not exc.retryable:
                raise
            raise Dropped(exc.message or str(exc), exc) from None
        if retryable_status(resp.status_code):
            error = self.client.error(resp, self.repository, action)
            resp.close()
            raise Dropped(f"HTTP {resp.status_code}", error,
                          retry_after(resp.headers.get("Retry-After")))
        return resp

    def _check_sent(self, sent: int, hasher: Any) -> None:
        digest = "sha256:" + hasher.hexdigest()
        if sent != self.size or digest != self.digest:
            raise ImageError(f"blob {self.digest} changed while it was uploaded "
                             f"(sent {sent} bytes with digest {digest})")

    def _send_whole(self) -> None:
        assert self.location is not None
        hasher = hashlib.sha256()
        with self.open_stream() as stream, self._shown() as shown:
            body = HashingBody(stream, self.size, hasher, shown)
            resp = self._request("PUT", self._url(self.location, digest=True),
                                 {"Content-Type": "application/octet-stream",
                                  "Content-Length": str(self.size)}, body)
        self._check_sent(body.sent, hasher)
        if resp.status_code not in (201, 202, 204):
            raise self.client.error(resp, self.repository, f"upload blob {self.digest} to")

    def _send_chunks(self) -> None:
        if not (self.verified and self.offset == self.size):
            hasher = hashlib.sha256()
            with self.open_stream() as stream, self._shown() as shown:
                read = self._skip(stream, hasher, shown)
                while self.offset < self.size:
                    read += self._send_chunk(stream, min(self.client.chunk,
                                                         self.size - self.offset), hasher, shown)
            self._check_sent(read, hasher)
            self.verified = True
        self._commit()

    def _skip(self, stream: Readable, hasher: Any, shown: Transfer) -> int:
        """Read and hash the bytes the session holds already (not sent again)."""
        left = self.offset
        while left:
            data = stream.read(min(READ, left))
            if not data:
                raise ImageError(f"blob {self.digest} is shorter than the {self.offset} bytes "
                                 "the registry holds of it")
            hasher.update(data)
            left -= len(data)
        shown.advance(self.offset)
        return self.offset

    def _send_chunk(self, stream: Readable, length: int, hasher: Any, shown: Transfer) -> int:
        """Send the next ``length`` bytes; return how many were read."""
        assert self.location is not None
        body = HashingBody(stream, length, hasher, shown)
        end = self.offset + length - 1
        resp = self._request("PATCH", self._url(self.location),
                             {"Content-Type": "application/octet-stream",
                              "Content-Length": str(length),
                              "Content-Range": f"{self.offset}-{end}"}, body)
        if resp.status_code == 404:
            raise Dropped("the registry lost the upload session",
                          self.client.error(resp, self.repository,
                                            f"upload blob {self.digest} to"), session_gone=True)
        if resp.status_code == 416:  # the registry holds another offset: ask it which
            raise Dropped("HTTP 416: the registry holds a different part",
                          self.client.error(resp, self.repository,
                                            f"upload blob {self.digest} to"))
        if resp.status_code in _NO_CHUNKS:
            raise NoChunks()
        if resp.status_code != 202:
            raise self.client.error(resp, self.repository, f"upload blob {self.digest} to")
        if body.sent != length:
            raise ImageError(f"blob {self.digest} is shorter than its {self.size} bytes")
        self.location = resp.headers.get("Location") or self.location
        said = _offset(resp.headers.get("Range"))
        expected = self.offset + length
        self.offset = said if said is not None else expected
        self.retries.progressed()
        if self.offset != expected:  # it kept another part: stream again from its offset
            raise Dropped(f"the registry holds {self.offset} bytes, not {expected}",
                          self.client.error(resp, self.repository,
                                            f"upload blob {self.digest} to"))
        return length

    def _commit(self) -> None:
        assert self.location is not None
        try:
            resp = self._request("PUT", self._url(self.location, digest=True),
                                 {"Content-Length": "0"})
        except Dropped:
            # the answer may be what was lost: the blob may be there already
            if self.client.has_blob(self.repository, self.digest):
                return
            raise
        if resp.status_code not in (201, 202, 204):
            raise self.client.error(resp, self.repository, f"upload blob {self.digest} to")

    def _ask_where(self) -> None:
        """Learn the session's offset (and its fresh URL) after a failed chunk; forget the
        session when the registry no longer knows it."""
        assert self.location is not None
        try:
            resp = self.client.send("GET", self._url(self.location), self.repository,
                                    self.client.push_scopes(self.repository),
                                    "check upload in")
        except RegistryError:
            return  # keep what is known; the next try asks again
        said = _offset(resp.headers.get("Range")) if resp.status_code == 204 else None
        if said is None or said > self.size:
            self.location = None
            return
        self.location = resp.headers.get("Location") or self.location
        self.offset = said

    def _shown(self) -> Transfer:
        return progress.transfer(self.size)
