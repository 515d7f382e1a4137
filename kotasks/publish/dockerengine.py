"""The Docker Engine API through the ``docker`` SDK: load, export, tag, inspect, list, exec.

The daemon is the one ``DOCKER_HOST`` names (``unix://`` by default, ``tcp://``, TLS from
``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, as the docker CLI reads them); podman's
Docker-compatible socket works the same way. Every failure becomes one :class:`DaemonError`
line naming the daemon and what was being done. Archives are sent as a stream of chunks
(a chunked HTTP body, or an exec's stdin), never held in memory.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests
from docker.utils import kwargs_from_env
from docker.utils.socket import frames_iter

from kotasks.errors import DaemonError
from kotasks.publish.dockerprobe import DEFAULT_HOST, KIND_CLUSTER_LABEL, node_names

#: seconds the daemon may stay silent (a large load is digested before it answers)
TIMEOUT = 600


def docker_host(environ: Mapping[str, str]) -> str:
    """The daemon endpoint the environment names."""
    return environ.get("DOCKER_HOST") or DEFAULT_HOST


def _reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    text = str(exc)
    if "Connection refused" in text or "No such file or directory" in text or \
            "Connection aborted" in text:
        return "cannot connect: is the daemon running, and is DOCKER_HOST right?"
    return text.splitlines()[0] if text else type(exc).__name__


class Engine:
    """A connection to one daemon."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.endpoint = docker_host(environ)
        env = {k: v for k, v in environ.items() if k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = self.endpoint
        with self.failing("connect"):
            self.api = docker.APIClient(version=env.get("DOCKER_API_VERSION") or "auto",
                                        timeout=TIMEOUT, **kwargs_from_env(environment=env))

    @contextmanager
    def failing(self, action: str) -> Iterator[None]:
        """Turn the SDK's and requests' exceptions into one DaemonError line."""
        try:
            yield
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise DaemonError(self.endpoint, action, _reason(exc)) from None

    def image_tags(self, image_id: str) -> list[str] | None:
        """The names the image with this ID (config digest) has, or None if it is absent."""
        with self.failing(f"inspect image {image_id}"):
            try:
                info = self.api.inspect_image(image_id)
            except docker.errors.NotFound:
                return None
        if info.get("Id") != image_id:
            return None
        return list(info.get("RepoTags") or [])

    def inspect(self, name: str) -> dict[str, Any] | None:
        """The daemon's record of the image ``name`` (or ID), or None if it has no such one."""
        with self.failing(f"inspect image {name}"):
            try:
                return dict(self.api.inspect_image(name))
            except docker.errors.NotFound:
                return None

    def export(self, name: str) -> Iterator[bytes]:
        """``docker save`` of one image, as a stream of chunks."""
        with self.failing(f"export image {name}"):
            yield from self.api.get_image(name, chunk_size=1 << 20)

    def load(self, archive: Iterable[bytes], what: str) -> None:
        """``docker load`` a streamed archive; the daemon's own error if it refuses it."""
        with self.failing(f"load {what}"):
            for message in self.api.load_image(archive):
                error = message.get("error") or (message.get("errorDetail") or {}).get("message")
                if error:
                    raise DaemonError(self.endpoint, f"load {what}", str(error).strip())

    def tag(self, source: str, name: str, tag: str) -> None:
        """Give the image ``source`` the name ``name:tag`` (moving it if it exists)."""
        with self.failing(f"tag {source} as {name}:{tag}"):
            self.api.tag(source, name, tag, force=True)

    def kind_nodes(self, cluster: str) -> list[str]:
        """The node containers of a kind cluster (its load balancer excluded), by name."""
        with self.failing(f"list the nodes of kind cluster {cluster!r}"):
            containers = self.api.containers(
                filters={"label": f"{KIND_CLUSTER_LABEL}={cluster}"})
        return node_names(containers)

    def execute(self, container: str, command: Sequence[str],
                stdin: Iterable[bytes] | None = None) -> tuple[int, str]:
        """Run ``command`` in ``container``, streaming ``stdin`` into it; return its exit code
        and its output. Not ``--privileged`` (kind's own exec is): ``ctr`` only talks to
        containerd's socket, and the node's own privileges apply to an exec anyway."""
        what = f"run {' '.join(command[:4])} in {container}"
        with self.failing(what):
            exec_id = self.api.exec_create(container, list(command),
                                           stdin=stdin is not None)["Id"]
            connection = self.api.exec_start(exec_id, socket=True)
            raw = getattr(connection, "_sock", connection)
            output: list[bytes] = []
            reader = threading.Thread(target=_collect, args=(raw, output), daemon=True)
            reader.start()
            try:
                _send(raw, stdin)
                reader.join(TIMEOUT)
            finally:
                connection.close()
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        return int(code if code is not None else -1), b"".join(output).decode(errors="replace")


def _send(raw: Any, stdin: Iterable[bytes] | None) -> None:
    """Write ``stdin`` into an exec's connection, then close our side so the command sees
    the end of its input. A command that ends early shows in its exit code and output."""
    if stdin is None:
        return
    try:
        for chunk in stdin:
            raw.sendall(chunk)
        raw.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _collect(raw: Any, output: list[bytes]) -> None:
    """Read an exec's multiplexed stdout/stderr frames until the stream ends."""
    try:
        for _, data in frames_iter(raw, tty=False):
            output.append(data)
    except OSError:
        pass
