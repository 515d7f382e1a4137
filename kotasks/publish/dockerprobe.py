"""Cheap questions to a Docker daemon for up-to-date checks, with the standard library only.

A no-op run asks the daemon, per image, whether it still holds that image ID under those
names (``GET /images/<id>/json``), and asks each kind node once for its image list. These
checks run on every run before anything else, so they must not pay the ~0.15 s it takes to
import the ``docker`` SDK and ``requests``: this module speaks just those few requests over
one kept-alive connection (unix socket, or TCP with the TLS files of ``DOCKER_CERT_PATH``).
Any doubt (an unreachable daemon, an answer we do not understand, ``ssh://``) is "not up to
date": the task then runs and its action, through the SDK, decides and reports.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

_TIMEOUT = 10
DEFAULT_HOST = "unix:///var/run/docker.sock"
#: containerd's image list in a kind node (the namespace the kubelet uses)
CTR_IMAGES = ("ctr", "--namespace=k8s.io", "images")
KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"
KIND_ROLE_LABEL = "io.x-k8s.kind.role"
EXTERNAL_LOAD_BALANCER = "external-load-balancer"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=_TIMEOUT)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_TIMEOUT)
        sock.connect(self._path)
        self.sock = sock


def _connection(environ: Mapping[str, str]) -> http.client.HTTPConnection | None:
    host = environ.get("DOCKER_HOST") or DEFAULT_HOST
    url = urllib.parse.urlsplit(host)
    if url.scheme == "unix":
        return _UnixConnection(url.path)
    if url.scheme not in ("tcp", "http", "https") or not url.hostname:
        return None
    cert_path = environ.get("DOCKER_CERT_PATH") or ""
    verify = environ.get("DOCKER_TLS_VERIFY", None)
    if not (cert_path or verify) and url.scheme != "https":
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=_TIMEOUT)
    import ssl  # only for a TLS daemon: it costs ~10 ms to import

    certs = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem")) if verify \
        else ssl._create_unverified_context()
    context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    return http.client.HTTPSConnection(url.hostname, url.port or 2376, timeout=_TIMEOUT,
                                       context=context)


class DockerProbe:
    """One daemon, asked over one connection; answers are remembered for the run."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._conn: http.client.HTTPConnection | None = None
        self._nodes: dict[str, list[str] | None] = {}
        self._listings: dict[str, dict[str, str] | None] = {}

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = _connection(self._environ)
            if self._conn is None:
                raise OSError("DOCKER_HOST is not a unix or tcp address")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            self._conn.request(method, path, body=data, headers=headers)
            response = self._conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self._request(method, path, body)
        if status >= 300:
            raise OSError(f"HTTP {status} for {method} {path}")
        return json.loads(data)

    def holds_image(self, image_id: str, names: Sequence[str]) -> bool:
        """Whether the daemon has the image with this ID (config digest) under every name."""
        try:
            status, data = self._request("GET", f"/images/{image_id}/json")
            if status != 200:
                return False
            info = json.loads(data)
        except (OSError, ValueError, http.client.HTTPException):
            return False
        return info.get("Id") == image_id and set(names) <= set(info.get("RepoTags") or [])

    def image_id(self, name: str) -> str | None:
        """The ID (config digest) of the daemon's image ``name``; None if absent or unknown."""
        try:
            status, data = self._request("GET", f"/images/{urllib.parse.quote(name)}/json")
            if status != 200:
                return None
            found = json.loads(data).get("Id")
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return None
        return str(found) if found else None

    def kind_nodes(self, cluster: str) -> list[str] | None:
        """The node containers of a kind cluster (None if the daemon cannot say)."""
        if cluster not in self._nodes:
            filters = urllib.parse.quote(json.dumps({"label": [f"{KIND_CLUSTER_LABEL}={cluster}"]}))
            try:
                containers = self._json("GET", f"/containers/json?filters={filters}")
                self._nodes[cluster] = node_names(containers)
            except (OSError, ValueError, KeyError, IndexError, http.client.HTTPException):
                self._nodes[cluster] = None
        return self._nodes[cluster]

    def node_images(self, node: str) -> dict[str, str] | None:
        """A kind node's images in containerd's k8s.io namespace: name → target digest."""
        if node not in self._listings:
            try:
                self._listings[node] = parse_ctr_images(self._exec(node, (*CTR_IMAGES, "ls")))
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                self._listings[node] = None
        return self._listings[node]

    def holds_in_kind(self, cluster: str, names: Sequence[str]) -> bool:
        """Whether every node of the cluster has ``names[0]``, and every other name points
        at the same image."""
        nodes = self.kind_nodes(cluster)
        if not nodes:
            return False
        for node in nodes:
            images = self.node_images(node)
            if images is None or names[0] not in images:
                return False
            if any(images.get(name) != images[names[0]] for name in names[1:]):
                return False
        return True

    def _exec(self, container: str, command: Sequence[str]) -> str:
        created = self._json("POST", f"/containers/{urllib.parse.quote(container)}/exec",
                             {"AttachStdout": True, "AttachStderr": True,
                              "Cmd": list(command)})
        status, data = self._request("POST", f"/exec/{created['Id']}/start",
                                     {"Detach": False, "Tty": False})
        if status != 200:
            raise OSError(f"exec start: HTTP {status}")
        if self._json("GET", f"/exec/{created['Id']}/json").get("ExitCode") != 0:
            raise OSError(f"{' '.join(command)} failed in {container}")
        return _stdout(data)


def node_names(containers: list[dict[str, Any]]) -> list[str]:
    """The names of a kind cluster's node containers (from a container listing of the
    cluster's label), its external load balancer left out, sorted."""
    return sorted(c["Names"][0].lstrip("/") for c in containers
                  if (c.get("Labels") or {}).get(KIND_ROLE_LABEL) != EXTERNAL_LOAD_BALANCER)


def _stdout(stream: bytes) -> str:
    """The stdout frames of a multiplexed exec stream."""
    out, offset = [], 0
    while offset + 8 <= len(stream):
        kind, size = stream[offset], struct.unpack(">I", stream[offset + 4:offset + 8])[0]
        if kind == 1:
            out.append(stream[offset + 8:offset + 8 + size])
        offset += 8 + size
    return b"".join(out).decode(errors="replace")


def parse_ctr_images(listing: str) -> dict[str, str]:
    """``ctr images ls`` output (REF TYPE DIGEST …) as name → target digest."""
    images = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            images[fields[0]] = fields[2]
    return images
