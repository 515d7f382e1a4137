"""A private ``podman system service``: Docker's Engine API (and libpod's) on a unix socket.

Its storage, run root, temporary and network config directories are its own, and it is set up
to work on this machine: runc (crun fails on hybrid cgroups), cgroupfs, limits below the hard
ones, no network for containers unless asked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.dockerd import (
    die_with_parent,
    run_cli,
    stop_process,
    tail,
    unmount_all,
    wait_for_ping,
)

# its access log (written at --log-level=debug): @ - - [date] "GET /_ping HTTP/1.1" 200 2 "" ""
_ACCESS = re.compile(rb'^@ \S+ \S+ \[[^]]*\] "([A-Z]+) (\S+) HTTP/[0-9.]+"', re.MULTILINE)


@dataclass
class PodmanService:
    """A running podman API service; ``host`` is ``unix://<socket>``."""

    host: str
    workdir: Path
    rundir: Path  # short directory under /tmp: the socket, run root and tmp dir
    log_path: Path
    storage_driver: str
    conf_env: dict[str, str]
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def socket(self) -> Path:
        return Path(self.host.removeprefix("unix://"))

    @property
    def env(self) -> dict[str, str]:
        """What a Docker client needs to talk to this service."""
        return {"DOCKER_HOST": self.host}

    @property
    def root(self) -> Path:
        return self.workdir / "storage"

    @property
    def runroot(self) -> Path:
        return self.rundir / "run"

    def global_args(self) -> list[str]:
        return _global_args(self.root, self.runroot, self.storage_driver)

    def podman(self, *args: str, input: str | bytes | None = None, check: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI on the service's own storage (not through the socket)."""
        env = {**os.environ, **self.conf_env}
        env.pop("CONTAINER_HOST", None)
        return run_cli(["podman", *self.global_args(), *args], env, input, check, timeout)

    def log_mark(self) -> int:
        return self.log_path.stat().st_size

    def api_calls_since(self, mark: int) -> list[str]:
        """API calls the service logged after ``mark``, e.g. ``GET /v1.41/images/json``."""
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            data = log.read()
        return [f"{m.group(1).decode()} {m.group(2).decode(errors='replace')}"
                for m in _ACCESS.finditer(data)]

    def stop(self) -> None:
        """Remove every container, stop the service, unmount and delete its storage."""
        if self.process.poll() is None:
            self.podman("rm", "--all", "--force", "--time", "0", check=False, timeout=60)
        stop_process(self.process)
        unmount_all(self.root, self.rundir)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.rundir, ignore_errors=True)


def _global_args(root: Path, runroot: Path, driver: str) -> list[str]:
    return ["--root", str(root), "--runroot", str(runroot), "--storage-driver", driver]


def _write_confs(workdir: Path, rundir: Path, driver: str) -> dict[str, str]:
    confs = workdir / "conf"
    confs.mkdir(exist_ok=True)
    (workdir / "networks").mkdir(exist_ok=True)
    (confs / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"

[network]
network_config_dir = "{workdir / 'networks'}"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{workdir / 'events.log'}"
tmp_dir = "{rundir / 'tmp'}"
volume_path = "{workdir / 'storage' / 'volumes'}"
""")
    (confs / "storage.conf").write_text(f"""\
[storage]
driver = "{driver}"
graphroot = "{workdir / 'storage'}"
runroot = "{rundir / 'run'}"
""")
    (confs / "registries.conf").write_text('unqualified-search-registries = []\n')
    return {"CONTAINERS_CONF": str(confs / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(confs / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(confs / "registries.conf")}


def start_podman_service(workdir: Path, storage_driver: str = "vfs") -> PodmanService:
    """Start ``podman system service --time=0 unix://<sock>`` with storage under ``workdir``.

    vfs is the default: podman's overlay driver leaves mounts behind that teardown must undo,
    and the images tests load are small.
    """
    if shutil.which("podman") is None:
        raise RuntimeError("podman is not on PATH (install Debian's podman)")
    if shutil.which("runc") is None:
        raise RuntimeError("runc is not on PATH (install Debian's runc)")
    workdir.mkdir(parents=True, exist_ok=True)
    rundir = Path(tempfile.mkdtemp(prefix="kp-", dir="/tmp"))
    conf_env = _write_confs(workdir, rundir, storage_driver)
    sock = rundir / "podman.sock"
    log_path = workdir / "podman-service.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "CONTAINER_"))}
    env.update(conf_env)
    argv = ["podman", *_global_args(workdir / "storage", rundir / "run", storage_driver),
            "--log-level=debug", "system", "service",
            "--time=0", f"unix://{sock}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                cwd=workdir, start_new_session=True, preexec_fn=die_with_parent)
    service = PodmanService(f"unix://{sock}", workdir, rundir, log_path, storage_driver, conf_env,
                            proc)
    try:
        wait_for_ping(sock, service.process, log_path, "podman system service")
    except RuntimeError:
        service.stop()
        raise RuntimeError(f"podman system service did not start:\n{tail(log_path)}") from None
    return service
