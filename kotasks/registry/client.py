"""A client for one registry (distribution spec v2) over requests.

One :class:`RegistryClient` per registry host and process. It pings ``/v2/`` once to learn
the scheme (plain HTTP only for loopback hosts or ``--insecure-registry``) and the auth
challenge, answers Basic and Bearer challenges with credentials from the keychain, and never
attaches credentials to a request for another host: Basic credentials go only to the
registry; a Bearer token realm on another host gets them only over HTTPS.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kotasks import __version__
from kotasks.errors import RegistryError
from kotasks.oci.digest import Readable, sha256_digest
from kotasks.oci.mediatypes import MANIFEST_ACCEPT
from kotasks.registry import holders
from kotasks.registry.auth import Keychain
from kotasks.registry.credentials import Credentials
from kotasks.registry.reference import allows_plain_http
from kotasks.registry.retry import Answers, RetryPolicy, retry_after, retryable_status
from kotasks.registry.upload import BlobUpload, chunk_bytes

if TYPE_CHECKING:
    import requests


log = logging.getLogger("kotasks.registry")
USER_AGENT = f"kotasks/{__version__}"
_TIMEOUT = (10, 300)
#: the distribution-spec code to report when a response has no error body (HEAD, say)
_STATUS_CODES = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}
#: connection failures that another try will not mend: nothing listens, no such host, TLS
_NO_RETRY_REASONS = ("Connection refused", "Name or service not known", "No address",
                     "nodename nor servname", "Temporary failure in name resolution",
                     "wrong version number", "certificate verify failed", "SSLError")


@dataclass(frozen=True)
class ManifestInfo:
    """A manifest fetched (or HEADed) from a registry."""

    digest: str
    media_type: str
    size: int
    data: bytes = b""


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse ``WWW-Authenticate: Scheme k="v", …`` into (scheme, params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _connection_reason(exc: Exception) -> str:
    """Return the innermost, readable reason of a requests connection error."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\"]+)", text)
    if match:
        return match.group(1).strip()
    for marker in ("certificate verify failed", "wrong version number", "timed out",
                   "Connection reset", "Connection aborted", "RemoteDisconnected"):
        if marker in text:
            return marker
    return exc.__class__.__name__


def _error_from(resp: requests.Response, registry: str, repository: str,
                action: str) -> RegistryError:
    code, message = "", ""
    try:
        body = resp.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            code = str(errors[0].get("code") or "")
            message = str(errors[0].get("message") or "")
    except ValueError:
        message = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
    code = code or _STATUS_CODES.get(resp.status_code, "")
    return RegistryError(registry, repository, action, resp.status_code, code, message)


class RegistryClient:
    """Talk to one registry host; safe to share between threads."""

    def __init__(self, registry: str, *, insecure: bool = False,
                 keychain: Keychain | None = None, policy: RetryPolicy | None = None,
                 timeout: tuple[float, float] = _TIMEOUT) -> None:
        self.registry = registry
        self._policy = policy or RetryPolicy.from_environment()
        #: (connect, read) seconds of every request
        self._timeout = timeout
        #: blobs larger than this go in PATCH chunks of this size (kotasks.registry.upload)
        self.chunk = chunk_bytes()
        #: False once the registry refused a chunk: then every blob goes in one PUT
        self.takes_chunks = True
        #: what the registry answered: a retried request asks whether it is flaky or broken
        self.answers = Answers()
        self.insecure = insecure
        self._keychain = keychain if keychain is not None else Keychain()
        import requests  # imported on first use: it costs ~50 ms, too much for a no-op run

        self._requests = requests
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        # per request, so that REQUESTS_CA_BUNDLE cannot turn verification back on
        self._verify: bool | None = False if insecure else None
        if insecure:  # asked for: no warning on every request
            import urllib3

            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self._lock = threading.Lock()
        self._base: str | None = None
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._tokens: dict[tuple[str, ...], str] = {}

    # -- connection and auth ------------------------------------------------------------

    def ping(self) -> str:
        """Find the scheme and the auth challenge; return the base URL."""
        with self._lock:
            if self._base is not None:
                return self._base
            # loopback registries are usually plain HTTP: try that first, it saves a handshake
            if allows_plain_http(self.registry):
                schemes = ["http", "https"]
            else:
                schemes = ["https", "http"] if self.insecure else ["https"]
            last: Exception | None = None
            for scheme in schemes:
                url = f"{scheme}://{self.registry}/v2/"
                try:
                    resp = self._get_retrying(url, f"ping {self.registry}")
                except self._requests.exceptions.Timeout as exc:
                    last = exc  # nothing answers: another scheme will not either
                    break
                except self._requests.exceptions.RequestException as exc:
                    last = exc
                    continue
                if resp.status_code not in (200, 401):  # not a registry on this scheme
                    last = RuntimeError(f"{url} answered HTTP {resp.status_code}")
                    continue
                if resp.status_code == 401 and resp.headers.get("WWW-Authenticate"):
                    self._challenge = _challenge(resp.headers["WWW-Authenticate"])
                self._base = f"{scheme}://{self.registry}"
                return self._base
            assert last is not None
            raise RegistryError(self.registry, "", "connect to",
                                message=f"cannot connect: {_connection_reason(last)}")

    def _get_retrying(self, url: str, what: str, **kwargs: Any) -> requests.Response:
        """A GET without our auth (a ping, a token), retried on 408/429/5xx and on resets;
        a connection that cannot be made at all is the caller's to handle."""
        retries = self._policy.start(what, self.answers)
        while True:
            try:
                resp = self._session.get(url, timeout=self._timeout, allow_redirects=False,
                                         verify=self._verify, **kwargs)
            except self._requests.exceptions.RequestException as exc:
                if any(r in str(exc) for r in _NO_RETRY_REASONS) or \
                        not retries.wait(_connection_reason(exc)):
                    raise
                continue
            if not retryable_status(resp.status_code):
                self.answers.note("")
            elif retries.wait(f"HTTP {resp.status_code}",
                              retry_after(resp.headers.get("Retry-After"))):
                resp.close()
                continue
            return resp

    def _credentials(self, repository: str) -> Credentials | None:
        return self._keychain.resolve(self.registry, repository)

    def error(self, resp: requests.Response, repository: str, action: str) -> RegistryError:
        """A RegistryError for ``resp``; a 401 without credentials says where to add them."""
        err = _error_from(resp, self.registry, repository, action)
        if resp.status_code == 401 and self._credentials(repository) is None:
            where = self._keychain.path or "~/.docker/config.json"
            hint = f"no credentials for {self.registry} in {where} (see DOCKER_CONFIG)"
            if self._keychain.hint(self.registry):
                hint += f"; {self._keychain.hint(self.registry)}"
            err = RegistryError(self.registry, repository, action, err.status, err.code,
                                f"{err.message}; {hint}" if err.message else hint)
        return err

    def _auth_header(self, repository: str, scopes: tuple[str, ...]) -> str | None:
        if self._challenge is None:
            return None
        scheme, params = self._challenge
        creds = self._credentials(repository)
        if scheme == "basic":
            return creds.basic() if creds is not None and creds.has_password else None
        if scheme != "bearer":
            return None
        with self._lock:
            token = self._tokens.get(scopes)
        if token is None:
            token = self._fetch_token(params, scopes, creds, repository)
            with self._lock:
                self._tokens[scopes] = token
        return f"Bearer {token}"

    def _may_send_credentials(self, url: str) -> bool:
        realm = urllib.parse.urlsplit(url)
        own = urllib.parse.urlsplit(f"//{self.registry}")
        return realm.hostname == own.hostname or realm.scheme == "https"

    def _fetch_token(self, params: dict[str, str], scopes: tuple[str, ...],
                     creds: Credentials | None, repository: str) -> str:
        realm = params.get("realm", "")
        if not realm:
            raise RegistryError(self.registry, repository, "authenticate to",
                                message="Bearer challenge without a realm")
        if creds is not None and creds.registry_token:
            return creds.registry_token
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scopes]
        headers: dict[str, str] = {}
        trusted = self._may_send_credentials(realm)
        if creds is not None and not trusted:
            log.warning("not sending credentials for %s to token service %s over plain HTTP",
                        self.registry, realm)
        try:
            if creds is not None and trusted and creds.identity_token:
                form = dict(query) | {"grant_type": "refresh_token", "client_id": "kotasks",
                                      "refresh_token": creds.identity_token,
                                      "scope": " ".join(scopes)}
                resp = self._session.post(realm, data=form, timeout=self._timeout,
                                          verify=self._verify)
            else:
                if creds is not None and trusted and creds.has_password:
                    headers["Authorization"] = creds.basic()
                resp = self._get_retrying(realm, f"get a token for {self.registry}/"
                                                 f"{repository}", params=query,
                                          headers=headers)
        except self._requests.exceptions.RequestException as exc:
            raise RegistryError(self.registry, repository, "get a token for",
                                message=f"token service {realm}: "
                                        f"{_connection_reason(exc)}") from None
        if resp.status_code != 200:
            err = _error_from(resp, self.registry, repository, "get a token for")
            raise RegistryError(self.registry, repository, "get a token for", resp.status_code,
                                err.code or "UNAUTHORIZED", err.message)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(self.registry, repository, "get a token for",
                                message="token service answered without a token")
        return str(token)

    def send(self, method: str, url: str, repository: str, scopes: tuple[str, ...],
              action: str, *, headers: dict[str, str] | None = None, body: Any = None,
              params: dict[str, str] | None = None, stream: bool = False,
              replayable: bool = True) -> requests.Response:
        """Send one request with auth, answering a fresh 401 challenge once."""
        if _OFFLINE.is_set():
            what = url if url.startswith("/") else urllib.parse.urlsplit(url).path
            raise RegistryError(self.registry, repository, action,
                                message=f"{method} {what} not sent: offline (--offline, "
                                        "KOTASKS_OFFLINE)")
        try:
            base = self.ping()
        except RegistryError as exc:
            raise RegistryError(self.registry, repository, action, exc.status, exc.code,
                                exc.message) from None
        if not url.startswith(("http://", "https://")):
            url = base + url
        same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(base).netloc
        retries = self._policy.start(f"{action} {self.registry}/{repository}", self.answers,
                                     repository)
        challenged = False
        while True:
            hdrs = dict(headers or {})
            auth = self._auth_header(repository, scopes) if same_host else None
            if auth:
                hdrs["Authorization"] = auth
            try:
                resp = self._session.request(method, url, headers=hdrs, data=body,
                                             params=params, stream=stream, timeout=self._timeout,
                                             verify=self._verify,
                                             allow_redirects=method in ("GET", "HEAD"))
            except self._requests.exceptions.RequestException as exc:
                reason = _connection_reason(exc)
                mendable = not any(r in str(exc) for r in _NO_RETRY_REASONS)
                if not replayable or not mendable or not retries.wait(reason):
                    error = RegistryError(self.registry, repository, action,
                                          message=f"cannot connect: {reason}")
                    error.retryable = mendable and not replayable  # the caller's to retry
                    raise error from None
                continue
            if resp.status_code == 401 and same_host and not challenged and replayable:
                fresh = resp.headers.get("WWW-Authenticate")
                if fresh:
                    challenged = True
                    with self._lock:
                        self._challenge = _challenge(fresh)
                        self._tokens.pop(scopes, None)
                    resp.close()
                    continue
            if not retryable_status(resp.status_code):
                self.answers.note(repository)
            elif replayable and retries.wait(f"HTTP {resp.status_code}",
                                             retry_after(resp.headers.get("Retry-After"))):
                resp.close()
                continue
            return resp

    # -- manifests --------------------------------------------------------------------

    @staticmethod
    def pull_scopes(repository: str) -> tuple[str, ...]:
        """The token scope to pull from ``repository``."""
        return (f"repository:{repository}:pull",)

    @staticmethod
    def push_scopes(repository: str, *extra: str) -> tuple[str, ...]:
        """The token scopes to push to ``repository`` (and to pull from ``extra`` ones)."""
        return (f"repository:{repository}:pull,push", *(f"repository:{r}:pull" for r in extra))

    def get_manifest(self, repository: str, ref: str) -> ManifestInfo:
        """Fetch a manifest or index by tag or digest, unconverted."""
        resp = self.send("GET", f"/v2/{repository}/manifests/{ref}", repository,
                          self.pull_scopes(repository), "fetch manifest from",
                          headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code != 200:
            raise self.error(resp, repository, f"fetch manifest {ref} from")
        data = resp.content
        digest = sha256_digest(data)
        if ref.startswith("sha256:") and digest != ref:
            raise RegistryError(self.registry, repository, f"fetch manifest {ref} from",
                                message=f"content has digest {digest}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestInfo(digest, media_type, len(data), data)

    def head_manifest(self, repository: str, ref: str) -> ManifestInfo | None:
        """Return a manifest's digest, type and size without its body; None if absent."""
        resp = self.send("HEAD", f"/v2/{repository}/manifests/{ref}", repository,
                          self.pull_scopes(repository), "look up manifest in",
                          headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.error(resp, repository, f"look up manifest {ref} in")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest:
            info = self.get_manifest(repository, ref)
            return ManifestInfo(info.digest, info.media_type, info.size)
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestInfo(digest, media_type, int(resp.headers.get("Content-Length", 0)))

    def put_manifest(self, repository: str, ref: str, data: bytes, media_type: str) -> None:
        """Upload a manifest or index under a tag or digest.

        A ``DIGEST_INVALID`` answer for bytes that do match their digest is the registry's
        own race, not ours: the CNCF registry's file storage rewrites a blob's link in the
        repository in place when another push commits the same blob, and a manifest check
        that reads the link meanwhile finds no digest in it. That answer is tried again
        (within the retry limits); any other refusal is final."""
        retries = None
        while True:
            resp = self.send("PUT", f"/v2/{repository}/manifests/{ref}", repository,
                              self.push_scopes(repository), "push manifest to",
                              headers={"Content-Type": media_type}, body=data)
            if resp.status_code in (200, 201, 202):
                return
            error = self.error(resp, repository, f"push manifest {ref} to")
            ours_right = not ref.startswith("sha256:") or sha256_digest(data) == ref
            if error.code != "DIGEST_INVALID" or not ours_right:
                raise error
            if retries is None:
                retries = self._policy.start(f"push manifest {ref} to {self.registry}/"
                                             f"{repository}", self.answers, repository)
            if not retries.wait("DIGEST_INVALID for a manifest whose digest is right (a "
                                "concurrent push of the same blobs)"):
                raise error

    # -- blobs ------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository already holds the blob (a HEAD request)."""
        resp = self.send("HEAD", f"/v2/{repository}/blobs/{digest}", repository,
                          self.push_scopes(repository), "check blob in")
        if resp.status_code == 200:
            holders.note(self.registry, repository, digest)
            return True
        if resp.status_code == 404:
            return False
        raise self.error(resp, repository, f"check blob {digest} in")

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None:
        """Mount a blob from another repository; return None if mounted, else an upload URL."""
        resp = self.send("POST", f"/v2/{repository}/blobs/uploads/", repository,
                          self.push_scopes(repository, source), "mount blob into",
                          params={"mount": digest, "from": source})
        if resp.status_code == 201:
            return None
        if resp.status_code == 202 and resp.headers.get("Location"):
            return resp.headers["Location"]
        raise self.error(resp, repository, f"mount blob {digest} into")

    def upload_blob(self, repository: str, digest: str, size: int,
                    open_stream: Callable[[], AbstractContextManager[Readable]],
                    location: str | None = None) -> None:
        """Upload a blob streamed from ``open_stream`` (into the session at ``location``, if
        a mount opened one), resuming or starting again after a failure
        (:mod:`kotasks.registry.upload`). A blob this process has seen in another
        repository of the registry is mounted from there instead
        (:mod:`kotasks.registry.holders`)."""
        with holders.uploading(self.registry, repository, digest) as holder:
            if holder == repository:
                return
            if holder and location is None:
                try:
                    location = self.mount_blob(repository, digest, holder)
                except RegistryError:  # not allowed, or not there: send the bytes
                    location = None
                else:
                    if location is None:
                        return
            retries = self._policy.start(f"upload blob {digest} to {self.registry}/"
                                         f"{repository}", self.answers, repository)
            BlobUpload(self, repository, digest, size, open_stream, retries, location).run()

    def open_blob(self, repository: str, digest: str) -> requests.Response:
        """Start streaming a blob; the caller reads ``resp.raw`` and closes the response."""
        resp = self.send("GET", f"/v2/{repository}/blobs/{digest}", repository,
                          self.pull_scopes(repository), "fetch blob from", stream=True)
        if resp.status_code != 200:
            err = self.error(resp, repository, f"fetch blob {digest} from")
            resp.close()
            raise err
        resp.raw.decode_content = False
        return resp


_OFFLINE = threading.Event()


def set_offline(offline: bool) -> None:
    """Make every registry request of this process fail at once (``--offline``), or not."""
    if offline:
        _OFFLINE.set()
    else:
        _OFFLINE.clear()


_CLIENTS: dict[tuple[str, bool], RegistryClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(registry: str, insecure: bool = False) -> RegistryClient:
    """Return the process-wide client for ``registry``."""
    with _CLIENTS_LOCK:
        key = (registry, insecure)
        if key not in _CLIENTS:
            _CLIENTS[key] = RegistryClient(registry, insecure=insecure)
        return _CLIENTS[key]
