"""A real Kubernetes API server: kube-apiserver (built by ``scripts/kube-apiserver``) on
Debian's etcd, both on 127.0.0.1, as children of the test process.

No kubelet or controllers run: objects are stored and served as by a real cluster, but Pods
stay Pending, namespaces never finish deleting and nothing waits for a controller. Give each
test its own namespace (:meth:`KubeAPI.new_namespace`) and delete objects, not namespaces.
See shared/notes/kube-apiserver.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.dockerd import die_with_parent, run_cli, stop_process, tail

VERSION = "v1.37.2"
TOKEN = "test-token"
CONTEXT = "t"


def cache_binary() -> Path:
    """Where ``scripts/kube-apiserver`` puts the binary."""
    root = os.environ.get("KOTASKS_CACHE") or str(Path.home() / ".cache" / "kotasks")
    return Path(root) / "kube-apiserver" / VERSION / "kube-apiserver"


def find_binary() -> Path:
    """``$KOTASKS_KUBE_APISERVER`` if set, else the script's cache path (may not exist)."""
    env = os.environ.get("KOTASKS_KUBE_APISERVER")
    return Path(env) if env else cache_binary()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_kubeconfig(path: Path, server: str, token: str, context: str = CONTEXT,
                     namespace: str = "default", ca: Path | None = None) -> Path:
    """Write a kubeconfig whose only (and current) context ``context`` is ``token`` at
    ``server`` in ``namespace``; ``ca`` verifies the server (without it, TLS isn't verified).
    """
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(Path(ca).resolve())
    else:
        cluster["insecure-skip-tls-verify"] = True
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": context,
                      "context": {"cluster": context, "user": "admin", "namespace": namespace}}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML, which kubectl reads
    return path


def _kubectl_env(kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KUBECTL_"))}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


@dataclass
class KubeAPI:
    """A running kube-apiserver and its etcd; ``server`` is ``https://127.0.0.1:<port>``."""

    server: str
    kubeconfig: Path
    ca: Path
    token: str
    workdir: Path
    etcd: subprocess.Popen[bytes] = field(repr=False)
    apiserver: subprocess.Popen[bytes] = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl (and ko) at this server."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def write_kubeconfig(self, path: Path, context: str,
                         namespace: str = "default") -> Path:
        """Another kubeconfig for this server, with context ``context``."""
        return write_kubeconfig(path, self.server, self.token, context, namespace, self.ca)

    def kubectl(self, *args: str, input: str | bytes | None = None, check: bool = True,
                namespace: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl ARGS`` against this server (never ``~/.kube``)."""
        argv = ["kubectl", "--kubeconfig", str(self.kubeconfig),
                "--cache-dir", str(self.workdir / "kubectl-cache")]
        if namespace is not None:
            argv += ["--namespace", namespace]
        return run_cli([*argv, *args], _kubectl_env(self.kubeconfig), input, check, timeout)

    def get_json(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        """``kubectl get KIND NAME -n NAMESPACE -o json``, parsed."""
        out = self.kubectl("get", kind, name, "-o", "json", namespace=namespace).stdout
        data: dict[str, Any] = json.loads(out)
        return data

    def new_namespace(self, prefix: str) -> str:
        """Create a namespace named ``<prefix>-<random>`` and return its name.

        Namespaces are never deleted: without a controller-manager they stay Terminating.
        """
        base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40].strip("-") or "t"
        name = f"{base}-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name

    def logs(self) -> str:
        return (f"--- kube-apiserver.log\n{tail(self.workdir / 'kube-apiserver.log')}\n"
                f"--- etcd.log\n{tail(self.workdir / 'etcd.log')}")

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, and delete etcd's data."""
        stop_process(self.apiserver)
        stop_process(self.etcd)
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        shutil.rmtree(self.workdir / "kubectl-cache", ignore_errors=True)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def _make_credentials(workdir: Path) -> None:
    """The serving certificate (also the kubeconfig's CA), service-account keys, tokens."""
    if not (workdir / "tls.crt").exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key",
                 "-out", "tls.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", cwd=workdir)
    if not (workdir / "sa.pub").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=workdir)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=workdir)
    (workdir / "tokens.csv").write_text(f"{TOKEN},admin,1,system:masters\n")


def _spawn(argv: list[str], log_path: Path, env: dict[str, str],
           cwd: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=cwd, start_new_session=True,
                                preexec_fn=die_with_parent)


def _launch(workdir: Path, binary: str) -> KubeAPI:
    etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
    data = workdir / "etcd"
    shutil.rmtree(data, ignore_errors=True)
    etcd_env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    etcd = _spawn(["etcd", "--data-dir", str(data),
                   "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
                   "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
                   "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                   "--initial-cluster", f"default=http://127.0.0.1:{etcd_peer}"],
                  workdir / "etcd.log", etcd_env, workdir)
    apiserver = _spawn([
        binary, f"--etcd-servers=http://127.0.0.1:{etcd_client}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={api_port}",
        f"--tls-cert-file={workdir / 'tls.crt'}", f"--tls-private-key-file={workdir / 'tls.key'}",
        f"--token-auth-file={workdir / 'tokens.csv'}", "--authorization-mode=AlwaysAllow",
        f"--service-account-key-file={workdir / 'sa.pub'}",
        f"--service-account-signing-key-file={workdir / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-cluster-ip-range=10.96.0.0/16", "--disable-admission-plugins=ServiceAccount",
        "--endpoint-reconciler-type=none",
    ], workdir / "kube-apiserver.log", dict(os.environ), workdir)
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", server, TOKEN, CONTEXT, "default",
                                  workdir / "tls.crt")
    return KubeAPI(server, kubeconfig, workdir / "tls.crt", TOKEN, workdir, etcd, apiserver)


def _wait_ready(api: KubeAPI, timeout: float) -> str | None:
    """None once ``/readyz`` says ok; else why not (a child exited, or time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in (("etcd", api.etcd), ("kube-apiserver", api.apiserver)):
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}"
        done = api.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
        if done.returncode == 0 and done.stdout.strip() == "ok":
            return None
        time.sleep(0.1)
    return f"/readyz did not say ok within {timeout:.0f}s"


def start_kube_apiserver(workdir: Path, binary: str, timeout: float = 90) -> KubeAPI:
    """Start etcd and kube-apiserver under ``workdir`` on free ports; return once ready."""
    for tool in ("etcd", "kubectl", "openssl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not on PATH (scripts/test installs etcd-server)")
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"no kube-apiserver at {binary}: run `bash scripts/kube-apiserver`")
    workdir.mkdir(parents=True, exist_ok=True)
    _make_credentials(workdir)
    errors = []
    for _ in range(3):  # a free port may be taken by someone else before we use it
        api = _launch(workdir, binary)
        why = _wait_ready(api, timeout)
        if why is None:
            return api
        errors.append(f"{why}:\n{api.logs()}")
        api.stop()
    raise RuntimeError("kube-apiserver did not start:\n" + "\n\n".join(errors))
