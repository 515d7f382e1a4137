"""A private, real Docker daemon (Debian's docker.io dockerd) on a unix socket.

It has its own data root, exec root and socket, no bridge and no iptables rules, and a debug
log from which tests read the Engine API calls it served.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CONTAINERD = Path("/run/containerd/containerd.sock")
_CALLING = re.compile(rb'msg="Calling ((?:[^"\\]|\\.)*)"')
_PR_SET_PDEATHSIG = 1


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a unix socket (the Docker Engine API's transport)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def unix_http(sock: str | Path, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """One HTTP request over a unix socket; returns (status, body)."""
    conn = UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for_ping(sock: Path, proc: subprocess.Popen[bytes], log: Path, what: str,
                  timeout: float = 30) -> None:
    """Poll ``GET /_ping`` on ``sock`` until it answers 200 OK."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, body = unix_http(sock, "GET", "/_ping", timeout=2)
            if status == 200 and body.strip() == b"OK":
                return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not answer GET /_ping within {timeout}s:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the test runner dies without tearing down."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def docker_cli() -> str:
    for candidate in ("/usr/local/bin/docker", "/usr/bin/docker"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("docker")
    if not found:
        raise RuntimeError("no docker CLI (install Debian's docker.io)")
    return found


def run_cli(argv: list[str], env: dict[str, str], input: str | bytes | None, check: bool,
            timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a CLI; ``input`` may be text or bytes (a tarball); output is always text."""
    proc = subprocess.run(argv, input=input.encode() if isinstance(input, str) else input,
                          capture_output=True, env=env, timeout=timeout)
    done = subprocess.CompletedProcess(argv, proc.returncode,
                                       proc.stdout.decode(errors="replace"),
                                       proc.stderr.decode(errors="replace"))
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n"
                             f"{done.stderr}")
    return done


def mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below any of ``roots``, deepest first."""
    prefixes = [str(r) for r in roots]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(*roots: Path) -> None:
    for point in mounts_under(*roots):
        subprocess.run(["umount", "-l", point], capture_output=True)


def kill_pid(pid: int, marker: str, timeout: float = 10) -> None:
    """SIGKILL ``pid`` if it still runs a command line containing ``marker`` (not our child)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if marker not in cmdline:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.02)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Dockerd:
    """A running dockerd: ``host`` is ``unix://<socket>``; its debug log is readable."""

    host: str
    storage_driver: str
    log_path: Path
    data_root: Path
    rundir: Path  # fresh short directory under /tmp: socket, exec root, pid file
    process: subprocess.Popen[bytes] = field(repr=False)
    cli: str = field(default_factory=docker_cli)
    cli_config: Path | None = None
    containerd_pid: int | None = None

    @property
    def socket(self) -> Path:
        return Path(self.host.removeprefix("unix://"))

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DOCKER_", "BUILDKIT_"))}
        if self.cli_config:  # no ~/.docker contexts, credential helpers or plugins
            env["DOCKER_CONFIG"] = str(self.cli_config)
        return env

    def docker(self, *args: str, input: str | bytes | None = None, check: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``docker -H <host> ARGS``; with ``check``, fail with its output on error."""
        return run_cli([self.cli, "-H", self.host, *args], self.cli_env(), input, check, timeout)

    def log_mark(self) -> int:
        """A byte offset into the debug log; see :meth:`api_calls_since`."""
        return self.log_path.stat().st_size

    def api_calls_since(self, mark: int) -> list[str]:
        """Engine API calls logged after ``mark``, e.g. ``POST /v1.41/images/load?quiet=1``."""
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            data = log.read()
        return [m.group(1).decode(errors="replace").replace('\\"', '"')
                for m in _CALLING.finditer(data)]

    def stop(self) -> None:
        """Remove every container, stop dockerd (and its containerd), unmount, delete data."""
        if self.process.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                self.docker("rm", "-f", "-v", *ids, check=False, timeout=60)
        stop_process(self.process)
        if self.containerd_pid:
            kill_pid(self.containerd_pid, str(self.rundir))
        unmount_all(self.data_root, self.rundir)
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.rundir, ignore_errors=True)


def _launch(workdir: Path, driver: str) -> Dockerd:
    rundir = Path(tempfile.mkdtemp(prefix="kd-", dir="/tmp"))
    data_root = Path(tempfile.mkdtemp(prefix=f"data-{driver}-", dir=workdir))
    sock = rundir / "docker.sock"
    log_path = workdir / f"dockerd-{driver}.log"
    config = workdir / "daemon.json"  # not /etc/docker/daemon.json; no trust key in /etc/docker
    config.write_text(json.dumps({"deprecated-key-path": str(workdir / "key.json")}))
    argv = ["dockerd", "--config-file", str(config), "--data-root", str(data_root),
            "--exec-root", str(rundir / "exec"), "--pidfile", str(rundir / "dockerd.pid"),
            "--host", f"unix://{sock}",
            "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
            "--userland-proxy=false", "--debug", f"--storage-driver={driver}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                cwd=workdir, start_new_session=True, preexec_fn=die_with_parent)
    return Dockerd(f"unix://{sock}", driver, log_path, data_root, rundir, proc)


def start_dockerd(workdir: Path, drivers: tuple[str, ...] = ("overlay2", "vfs")) -> Dockerd:
    """Start dockerd under ``workdir`` with the first storage driver in ``drivers`` that works."""
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not on PATH (install Debian's docker.io)")
    if SYSTEM_CONTAINERD.exists():
        raise RuntimeError(f"{SYSTEM_CONTAINERD} exists: dockerd would use that system "
                           "containerd instead of starting its own; stop it first")
    workdir.mkdir(parents=True, exist_ok=True)
    cli_config = workdir / "docker-config"
    cli_config.mkdir(exist_ok=True)
    errors = []
    for driver in drivers:
        daemon = _launch(workdir, driver)
        daemon.cli_config = cli_config
        try:
            wait_for_ping(daemon.socket, daemon.process, daemon.log_path, f"dockerd ({driver})")
        except RuntimeError as err:
            errors.append(str(err))
            daemon.stop()
            continue
        pidfile = daemon.rundir / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            daemon.containerd_pid = int(pidfile.read_text().strip())
        if daemon.containerd_pid is None:
            daemon.stop()
            raise RuntimeError("dockerd did not start its own containerd:\n"
                               + tail(daemon.log_path))
        return daemon
    raise RuntimeError("dockerd did not start with any storage driver:\n" + "\n\n".join(errors))
