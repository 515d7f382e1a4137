"""Run an image's binary for real: umoci unpack, then runc (or chroot when runc is missing)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.support.images import umoci_unpack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare_bundle(bundle: Path, env: dict[str, str]) -> list[str]:
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    config["process"]["terminal"] = False
    config["process"]["env"] += [f"{k}={v}" for k, v in env.items()]
    # share the host network so the test can reach a server in the container
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                     if n["type"] != "network"]
    path.write_text(json.dumps(config))
    return list(config["process"]["args"])


def _command(bundle: Path, name: str, env: dict[str, str]) -> list[str]:
    args = _prepare_bundle(bundle, env)
    if shutil.which("runc"):
        return ["runc", "run", "--bundle", str(bundle), name]
    config = json.loads((bundle / "config.json").read_text())
    envs = [f"{e}" for e in config["process"]["env"]]
    return ["env", "-i", *envs, "chroot", str(bundle / "rootfs"), *args]


def run_to_completion(layout_ref: str, workdir: Path, env: dict[str, str] | None = None,
                      timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Unpack the image and run its entrypoint until it exits."""
    bundle = workdir / f"bundle-{uuid.uuid4().hex[:8]}"
    umoci_unpack(layout_ref, bundle)
    name = f"kt-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(_command(bundle, name, env or {}), capture_output=True, text=True,
                              timeout=timeout)
    finally:
        if shutil.which("runc"):
            subprocess.run(["runc", "delete", "--force", name], capture_output=True)


@contextlib.contextmanager
def running(layout_ref: str, workdir: Path) -> Iterator[Path]:
    """Run the image's entrypoint in the background, in the host's network; yield its log."""
    bundle = workdir / f"bundle-{uuid.uuid4().hex[:8]}"
    umoci_unpack(layout_ref, bundle)
    name = f"kt-{uuid.uuid4().hex[:12]}"
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(_command(bundle, name, {}), stdout=log, stderr=log)
    try:
        yield log_path
    finally:
        _stop(proc, name)


def _stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if shutil.which("runc"):
        subprocess.run(["runc", "kill", name, "KILL"], capture_output=True)
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if shutil.which("runc"):
        subprocess.run(["runc", "delete", "--force", name], capture_output=True)


@contextlib.contextmanager
def serving(layout_ref: str, workdir: Path) -> Iterator[str]:
    """Run an HTTP server image with ADDR on a free port; yield its base URL."""
    port = free_port()
    bundle = workdir / f"bundle-{uuid.uuid4().hex[:8]}"
    umoci_unpack(layout_ref, bundle)
    name = f"kt-{uuid.uuid4().hex[:12]}"
    with open(workdir / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(_command(bundle, name, {"ADDR": f"127.0.0.1:{port}"}),
                                stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    raise AssertionError((workdir / f"{name}.log").read_text()) from None
                time.sleep(0.05)
        yield url
    finally:
        _stop(proc, name)
