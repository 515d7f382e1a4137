"""One process's use of a cache repository: a lookup before ``go build``, a store after.

A binary that must be rebuilt locally is first looked up by its key (one manifest GET). A
hit brings the binary layer into the store, the binary out of it, and a layer memo, so the
steps after the build go on as after a build, compressing nothing. A miss builds; once its
layer exists the artifact is stored by a background thread, and the reference is printed
without waiting for it (the process waits for its stores when the run has ended).

The cache must never fail a build nor slow it by more than one short timeout: requests get
``KOTASKS_CACHE_TIMEOUT`` seconds and no retries, and the first failure turns the cache off
for the rest of the process with one warning line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tarfile
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kotasks.buildcache.artifact import (
    EMPTY_CONFIG,
    MANIFEST_TYPE,
    CachedBinary,
    artifact_manifest,
    key_tag,
    last_tag,
    parse_artifact,
)
from kotasks.buildcache.key import canonical, first_difference, key_digest, key_inputs
from kotasks.buildcache.records import write_records
from kotasks.buildcache.spec import CacheSpec
from kotasks.errors import KotasksError
from kotasks.fsutil import file_digest
from kotasks.gobuild.build import BuildRequest, install_binary
from kotasks.gobuild.layermemo import remember_layer, remembered_layer
from kotasks.gobuild.vcs import UnknownStamp, vcs_stamp
from kotasks.oci.digest import sha256_digest
from kotasks.oci.layer import LayerInfo
from kotasks.oci.layout import Layout

if TYPE_CHECKING:
    from kotasks.registry.client import RegistryClient

log = logging.getLogger("kotasks")


@dataclass
class Probe:
    """One binary's key in this run, and what became of it."""

    import_path: str
    platform: str
    target: str
    key: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    #: "hit", "miss" or "off" (not cacheable, or the cache was unreachable)
    result: str = "off"
    #: a miss: the first input that differs from the package's last stored artifact;
    #: off: why
    why: str = ""
    #: "", "stored" or "failed: …"
    stored: str = ""

    def to_json(self) -> dict[str, str]:
        """The record ``kotasks cache`` prints."""
        return {"package": self.import_path, "platform": self.platform, "key": self.key,
                "result": self.result, "why": self.why, "stored": self.stored}


def _files(request: BuildRequest, inputs: Sequence[str]) -> dict[str, str]:
    """The build's source files (relative to its directory) → content SHA-256; git's own
    files are left to the VCS stamp."""
    found = {}
    for path in inputs:
        if ".git" in path.split(os.sep):
            continue
        found[os.path.relpath(path, request.workdir).replace(os.sep, "/")] = \
            file_digest(path, os.stat(path))
    return found


class CacheSession:
    """The cache repository as this process uses it (thread-safe)."""

    def __init__(self, spec: CacheSpec) -> None:
        from kotasks.registry.reference import parse_repository

        self.spec = spec
        repository = parse_repository(spec.repository, "KOTASKS_CACHE_REPO")
        self.path, self._registry = repository.path, repository.registry
        self.client = self._new_client()
        self._lock = threading.Lock()
        self._reachable: bool | None = None
        self._warned = False
        self._stamps: dict[tuple[str, tuple[str, ...]], dict[str, str] | str] = {}
        self._probes: list[Probe] = []
        self._pending: dict[str, Probe] = {}
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="cache-store")
        self._stores: list[Future[None]] = []

    def _new_client(self) -> RegistryClient:
        """A client with one short timeout and no retries."""
        from kotasks.registry.client import RegistryClient
        from kotasks.registry.retry import RetryPolicy

        return RegistryClient(self._registry, insecure=self.spec.insecure,
                              policy=RetryPolicy(1, 0.0),
                              timeout=(self.spec.timeout, self.spec.timeout))

    # -- keys -------------------------------------------------------------------------

    def _stamp(self, request: BuildRequest) -> dict[str, str] | str:
        """Go's VCS stamp for the request (memoised), or why it cannot be known."""
        memo = (os.path.abspath(request.workdir),
                (request.env.get("GOFLAGS", ""), *request.flags))
        with self._lock:
            if memo in self._stamps:
                return self._stamps[memo]
        try:
            stamp: dict[str, str] | str = vcs_stamp(request.workdir, request.env,
                                                    request.flags)
        except UnknownStamp as exc:
            stamp = str(exc)
        with self._lock:
            self._stamps[memo] = stamp
        return stamp

    def probe(self, request: BuildRequest, inputs: Sequence[str],
              modules: Sequence[str] | None, target: str, why_not: str) -> Probe:
        """The binary's key (or why it has none); recorded for ``kotasks cache``."""
        probe = Probe(request.import_path, str(request.platform), target, why=why_not)
        if modules is None:
            probe.why = "a package of another module's cache"
        if not probe.why:
            stamp = self._stamp(request)
            if isinstance(stamp, str):
                probe.why = stamp
            else:
                probe.inputs = key_inputs(self.spec.go_version, request,
                                          _files(request, inputs), modules or (), stamp)
                probe.key = key_digest(probe.inputs)
        with self._lock:
            self._probes.append(probe)
        return probe

    # -- reachability -----------------------------------------------------------------

    def _usable(self) -> bool:
        """Whether the cache answers (one ping per process, whatever the threads)."""
        with self._lock:
            if self._reachable is None:
                try:
                    self.client.ping()
                    self._reachable = True
                except KotasksError as exc:
                    self._reachable = False
                    self._warn(exc)
            return self._reachable

    def _warn(self, exc: Exception) -> None:
        """One warning line per process; the cache is off from now on."""
        self._reachable = False
        if not self._warned:
            self._warned = True
            log.warning("kotasks: warning: build cache %s is off for this run: %s",
                        self.spec.repository, exc)

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._warn(exc)

    # -- hits -------------------------------------------------------------------------

    def take(self, probe: Probe) -> bool:
        """Look the key up; on a hit put the binary at its target (with its layer in the
        store and the layer memo written) and return True."""
        if not probe.key or not self._usable():
            if probe.key:
                probe.why = "the build cache is unreachable"
            return False
        try:
            found = self._lookup(probe)
            if found is None:
                probe.result = "miss"
                return False
            self._install(found, probe.target)
        except (KotasksError, OSError, tarfile.TarError, ValueError) as exc:
            self._failed(exc)
            probe.result, probe.why = "off", f"the build cache failed: {exc}"
            return False
        probe.result = "hit"
        log.info("Took %s for %s from the build cache", probe.import_path, probe.platform)
        return True

    def _lookup(self, probe: Probe) -> CachedBinary | None:
        resp = self.client.send("GET", f"/v2/{self.path}/manifests/{key_tag(probe.key)}",
                                self.path, self.client.pull_scopes(self.path),
                                "look up cached build in",
                                headers={"Accept": MANIFEST_TYPE})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.client.error(resp, self.path, "look up cached build in")
        cached = parse_artifact(resp.content)
        if cached.key != probe.key or canonical(cached.inputs) != canonical(probe.inputs):
            raise ValueError(f"the artifact tagged {key_tag(probe.key)} holds another key")
        return cached

    def _install(self, cached: CachedBinary, target: str) -> None:
        store = Layout(self.spec.store)
        digest = cached.layer.digest
        if not store.has(digest):
            with contextlib.closing(self.client.open_blob(self.path, digest)) as resp:
                store.ingest(resp.raw, expected=digest)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", suffix=".tmp",
                                   prefix=f".{os.path.basename(target)}.")
        try:
            with os.fdopen(fd, "wb") as out, store.open(digest) as blob, \
                    tarfile.open(fileobj=blob, mode="r|gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.lstrip("/") == \
                            cached.member.lstrip("/"):
                        source = tar.extractfile(member)
                        assert source is not None
                        while chunk := source.read(1 << 20):
                            out.write(chunk)
                        break
                else:
                    raise ValueError(f"{cached.member} is not in layer {digest}")
            install_binary(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        remember_layer(target, cached.recipe, cached.layer)

    # -- stores -----------------------------------------------------------------------

    def built(self, probe: Probe) -> None:
        """The binary was built here: store it once its layer exists (now, if the layer
        memo already has a layer of these bytes: the layer step will not run)."""
        if probe.result != "miss":
            return
        with self._lock:
            self._pending[os.path.abspath(probe.target)] = probe
        memo = remembered_layer(probe.target)
        if memo is not None and Layout(self.spec.store).has(memo[1].digest):
            self.layer_made(probe.target, memo[0], memo[1])

    def layer_made(self, binary: str, recipe: Mapping[str, Any], layer: LayerInfo) -> None:
        """A layer of ``binary`` exists: store the pending artifact, in the background."""
        with self._lock:
            probe = self._pending.pop(os.path.abspath(binary), None)
            if probe is None or self._reachable is False:
                return
            self._stores.append(self._pool.submit(self._store, probe, dict(recipe), layer))

    def _store(self, probe: Probe, recipe: dict[str, Any], layer: LayerInfo) -> None:
        try:
            probe.why = self._explain(probe)
            store = Layout(self.spec.store)
            config = sha256_digest(EMPTY_CONFIG)
            if not self.client.has_blob(self.path, layer.digest):
                self.client.upload_blob(self.path, layer.digest, layer.size,
                                        lambda: store.open(layer.digest))
            if not self.client.has_blob(self.path, config):
                self.client.upload_blob(self.path, config, len(EMPTY_CONFIG),
                                        lambda: contextlib.nullcontext(
                                            io.BytesIO(EMPTY_CONFIG)))
            manifest = artifact_manifest(probe.key, probe.inputs, layer, recipe)
            for tag in (key_tag(probe.key), last_tag(probe.import_path, probe.platform)):
                self.client.put_manifest(self.path, tag, manifest, MANIFEST_TYPE)
            probe.stored = "stored"
        except (KotasksError, OSError) as exc:
            probe.stored = f"failed: {exc}"
            self._failed(exc)

    def _explain(self, probe: Probe) -> str:
        """For a miss: the first input that differs from the last artifact stored for the
        package and platform (read before this one replaces it)."""
        tag = last_tag(probe.import_path, probe.platform)
        resp = self.client.send("GET", f"/v2/{self.path}/manifests/{tag}", self.path,
                                self.client.pull_scopes(self.path), "look up cached build in",
                                headers={"Accept": MANIFEST_TYPE})
        if resp.status_code != 200:
            return "nothing was stored for this package and platform before"
        try:
            return first_difference(parse_artifact(resp.content).inputs, probe.inputs)
        except ValueError as exc:
            return str(exc)

    def finish(self) -> None:
        """Wait for the stores still running; write the records of this process's keys."""
        with self._lock:
            stores, self._stores = self._stores, []
            probes, self._probes = self._probes, []
        wait(stores)
        with self._lock:  # the next run (a --watch round) tries the cache again
            self._reachable, self._warned = None, False
        if probes:
            write_records(self.spec.state_dir, self.spec.repository,
                          [p.to_json() for p in probes])


_SESSIONS: dict[CacheSpec, CacheSession] = {}
_SESSIONS_LOCK = threading.Lock()


def session(spec: CacheSpec) -> CacheSession:
    """The process's session for a cache repository."""
    with _SESSIONS_LOCK:
        if spec not in _SESSIONS:
            _SESSIONS[spec] = CacheSession(spec)
        return _SESSIONS[spec]


def layer_made(binary: str, recipe: Mapping[str, Any], layer: LayerInfo) -> None:
    """A binary layer was made: any session waiting to store that binary stores it."""
    with _SESSIONS_LOCK:
        sessions = list(_SESSIONS.values())
    for each in sessions:
        each.layer_made(binary, recipe, layer)


def finish_sessions() -> None:
    """At the end of a run: wait for the stores, write the records."""
    with _SESSIONS_LOCK:
        sessions = list(_SESSIONS.values())
    for each in sessions:
        each.finish()
