"""Stand-ins for kind clusters: containers in the test dockerd that run the host's containerd.

kind's (and ko's) image load path is ``docker exec -i NODE ctr --namespace=k8s.io images
import --all-platforms -`` on every node of the cluster, found by its labels. kind's node
images can't be fetched here, so :func:`node_image` builds one from this machine's own
``containerd`` and ``ctr`` (and the shared libraries they link), and
:func:`start_kind_cluster` runs nodes named and labelled exactly as kind does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.support.dockerd import Dockerd

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
NAMESPACE = "k8s.io"
BINARIES = ("containerd", "ctr")
CONTAINERD_CONFIG = """\
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
# no Kubernetes here: without the CRI plugin containerd starts in a fraction of a second
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "/run/containerd/containerd.sock"
"""
# kind runs nodes --privileged, but that asks for every capability and this machine's bounding
# set lacks CAP_SYS_RESOURCE (runc: "unable to apply caps: operation not permitted"); this is
# --privileged minus that one capability (mounts, no seccomp/AppArmor, writable /proc, /sys).
PRIVILEGES = ("--cap-add=ALL", "--cap-drop=SYS_RESOURCE", "--security-opt=seccomp=unconfined",
              "--security-opt=apparmor=unconfined", "--security-opt=systempaths=unconfined")
IMAGE_CHANGES = (
    'ENTRYPOINT ["/usr/bin/containerd", "--config", "/etc/containerd/config.toml"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LABEL org.opencontainers.image.title=kotasks-kind-node",
)
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def _host_binary(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not on PATH (install Debian's containerd)")
    return Path(found)


def _libraries(binary: Path) -> list[Path]:
    """The shared objects ``binary`` loads, the dynamic loader included (from ``ldd``)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if "not a dynamic executable" in proc.stdout + proc.stderr:
        return []
    if proc.returncode != 0:
        raise RuntimeError(f"ldd {binary} failed:\n{proc.stdout}{proc.stderr}")
    return [Path(m.group(1)) for line in proc.stdout.splitlines()
            if (m := _LDD_PATH.search(line))]


def _rootfs_files() -> dict[str, Path]:
    """Path in the image → host file, for the node's binaries and their libraries."""
    files: dict[str, Path] = {}
    for name in BINARIES:
        binary = _host_binary(name)
        files[f"usr/bin/{name}"] = binary
        for lib in _libraries(binary):
            files[str(lib).lstrip("/")] = lib
    return dict(sorted(files.items()))


def _content_hash(files: dict[str, Path]) -> str:
    digest = hashlib.sha256("\0".join((CONTAINERD_CONFIG, *IMAGE_CHANGES)).encode())
    for name, host in files.items():
        digest.update(name.encode() + b"\0")
        with open(host, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _write_rootfs(out: IO[bytes], files: dict[str, Path]) -> None:
    """Stream the node's root filesystem as a tar to ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        dirs = {"tmp": 0o1777, "run": 0o755, "var/lib/containerd": 0o711, "etc/containerd": 0o755,
                "proc": 0o555, "sys": 0o555, "dev": 0o755}
        for name in files:
            parent = str(Path(name).parent)
            while parent not in (".", ""):
                dirs.setdefault(parent, 0o755)
                parent = str(Path(parent).parent)
        for d in sorted(dirs):  # parents sort before children
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, dirs[d]
            tar.addfile(info)
        config = CONTAINERD_CONFIG.encode()
        info = tarfile.TarInfo("etc/containerd/config.toml")
        info.size, info.mode = len(config), 0o644
        tar.addfile(info, io.BytesIO(config))
        for name, host in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = host.stat().st_size, 0o755
            with open(host, "rb") as f:
                tar.addfile(info, f)


def node_image(dockerd: Dockerd) -> str:
    """Build (once per daemon) the node image ``kotasks-kind-node:<hash of its content>``."""
    files = _rootfs_files()
    ref = f"kotasks-kind-node:{_content_hash(files)}"
    if dockerd.docker("image", "inspect", ref, check=False).returncode == 0:
        return ref
    changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
    argv = [dockerd.cli, "-H", dockerd.host, "import", *changes, "-", ref]
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=output,
                                env=dockerd.cli_env())
        assert proc.stdin is not None
        try:
            _write_rootfs(proc.stdin, files)
        finally:
            proc.stdin.close()
            proc.wait(timeout=120)
        output.seek(0)
        if proc.returncode != 0:
            raise RuntimeError("docker import of the kind node image failed:\n"
                               + output.read().decode(errors="replace"))
    return ref


def node_names(name: str, nodes: int) -> list[tuple[str, str]]:
    """kind's node names and roles: NAME-control-plane, NAME-worker, NAME-worker2, …"""
    names = [(f"{name}-control-plane", "control-plane")]
    names += [(f"{name}-worker{'' if i == 1 else i}", "worker") for i in range(1, nodes)]
    return names


@dataclass
class KindCluster:
    """Node containers labelled like a kind cluster ``name``; each runs containerd."""

    name: str
    nodes: list[str]
    snapshotter: str
    dockerd: Dockerd = field(repr=False)

    def ctr(self, node: str, *args: str, input: str | bytes | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """``docker exec [-i] NODE ctr --namespace=k8s.io ARGS``."""
        interactive = ["-i"] if input is not None else []
        return self.dockerd.docker("exec", *interactive, node, "ctr", f"--namespace={NAMESPACE}",
                                   *args, input=input, check=check)

    def images(self, node: str) -> dict[str, str]:
        """ref → target digest, from ``ctr --namespace=k8s.io images ls``."""
        lines = self.ctr(node, "images", "ls").stdout.splitlines()
        images = {}
        for line in lines[1:]:  # REF TYPE DIGEST SIZE PLATFORMS LABELS
            parts = line.split()
            if len(parts) >= 3:
                images[parts[0]] = parts[2]
        return images

    def stop(self) -> None:
        """Remove the node containers and their volumes."""
        if self.nodes:
            self.dockerd.docker("rm", "-f", "-v", *self.nodes, check=False, timeout=60)


def snapshotter_for(dockerd: Dockerd) -> str:
    """The snapshotter ``ctr`` in a node unpacks into (it reads CONTAINERD_SNAPSHOTTER).

    /var/lib/containerd is an anonymous volume (kind does the same with /var), so it lives on
    the daemon's own file system, where overlayfs works when dockerd's overlay2 did (on this
    machine it even works on the node's overlay root). After a vfs fallback use ``native``.
    """
    return "overlayfs" if dockerd.storage_driver == "overlay2" else "native"


def start_kind_cluster(dockerd: Dockerd, name: str, nodes: int = 1,
                       image: str | None = None, timeout: float = 30) -> KindCluster:
    """Run ``nodes`` kind-style node containers; wait until containerd answers in each."""
    if nodes < 1:
        raise ValueError("a kind cluster has at least one node")
    image = image or node_image(dockerd)
    cluster = KindCluster(name, [], snapshotter_for(dockerd), dockerd)
    try:
        for node, role in node_names(name, nodes):
            dockerd.docker("run", "--detach", *PRIVILEGES, "--network", "none",
                           "--name", node, "--hostname", node,
                           "--label", f"{CLUSTER_LABEL}={name}", "--label", f"{ROLE_LABEL}={role}",
                           "--env", f"CONTAINERD_SNAPSHOTTER={cluster.snapshotter}",
                           "--tmpfs", "/run", "--tmpfs", "/tmp",
                           "--volume", "/var/lib/containerd", image)
            cluster.nodes.append(node)
        deadline = time.monotonic() + timeout
        for node in cluster.nodes:
            while True:
                proc = dockerd.docker("exec", node, "ctr", "version", check=False, timeout=10)
                if proc.returncode == 0 and "Server:" in proc.stdout:
                    break
                if time.monotonic() > deadline:
                    logs = dockerd.docker("logs", "--tail", "30", node, check=False)
                    raise RuntimeError(f"containerd in {node} did not answer:\n{proc.stdout}"
                                       f"{proc.stderr}\n{logs.stdout}{logs.stderr}")
                time.sleep(0.05)
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster
