"""kubectl, as ko drives it: which cluster it talks to, and running it with our YAML.

The cluster identity (kubeconfig context, its server and namespace, and the kubectl flags
that change them) is read from the kubeconfig files themselves (``KUBECONFIG``, else
``~/.kube/config``) when tasks are made, without running kubectl, so that a run with nothing
to apply runs no kubectl at all, and switching context re-applies everything.
kubectl's own output passes through unchanged; its exit status becomes ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kotasks import progress
from kotasks.errors import KotasksError, UserError

_FAILED: list[int] = []
_FAILED_LOCK = threading.Lock()


class KubectlError(KotasksError):
    """kubectl exited non-zero (it has printed why)."""

    def __init__(self, verb: str, what: str, code: int) -> None:
        super().__init__(f"kubectl {verb} {what} exited with status {code}")
        self.code = code


def find_kubectl(environ: Mapping[str, str]) -> str:
    """The kubectl on PATH; a UserError if there is none (before anything is built)."""
    found = shutil.which("kubectl", path=environ.get("PATH"))
    if not found:
        raise UserError("kubectl is not on PATH (kotasks apply, create, delete and run use it)")
    return found


def _kubeconfig_files(environ: Mapping[str, str], args: Sequence[str]) -> list[str]:
    explicit = _flag_value(args, "--kubeconfig")
    if explicit:
        return [explicit]
    if environ.get("KUBECONFIG"):
        return [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    return [os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".kube", "config")]


def _flag_value(args: Sequence[str], *names: str) -> str:
    """The value of the last ``--name value`` or ``--name=value`` among kubectl args."""
    value = ""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _merged(files: Sequence[str]) -> dict[str, Any]:
    """kubectl's merge of kubeconfig files: the first file to set a value wins."""
    import yaml

    merged: dict[str, Any] = {"current-context": "", "contexts": {}, "clusters": {}}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        merged["current-context"] = merged["current-context"] or doc.get("current-context", "")
        for key, field in (("contexts", "context"), ("clusters", "cluster")):
            for entry in doc.get(key) or []:
                if isinstance(entry, dict) and entry.get("name") not in merged[key]:
                    merged[key][entry.get("name")] = entry.get(field) or {}
    return merged


def cluster_identity(environ: Mapping[str, str], args: Sequence[str] = ()) -> dict[str, str]:
    """What decides where kubectl applies: the context (``--context`` among ``args``, else the
    current one), its cluster's server and its namespace."""
    config = _merged(_kubeconfig_files(environ, args))
    context_name = _flag_value(args, "--context") or config["current-context"]
    context = config["contexts"].get(context_name) or {}
    cluster = config["clusters"].get(_flag_value(args, "--cluster") or context.get("cluster"))
    return {"context": str(context_name), "server": str((cluster or {}).get("server", "")),
            "namespace": str(context.get("namespace", ""))}


def run_kubectl(kubectl: str, verb: str, args: Sequence[str], what: str,
                stdin_path: str | None = None) -> None:
    """Run ``kubectl VERB ARGS`` (with a file on stdin), its output passing through; a
    KubectlError carrying its exit status if it fails."""
    stdin = open(stdin_path, "rb") if stdin_path else None  # noqa: SIM115 - closed below
    try:
        with progress.suspended():  # its output goes straight to the terminal
            code = subprocess.run([kubectl, verb, *args], stdin=stdin, check=False).returncode
    finally:
        if stdin:
            stdin.close()
    if code != 0:
        with _FAILED_LOCK:
            _FAILED.append(code)
        raise KubectlError(verb, what, code)


def take_kubectl_status() -> int:
    """The exit status of the first kubectl that failed since the last call (0 if none);
    each run (each ``--watch`` round) takes its own."""
    with _FAILED_LOCK:
        status = _FAILED[0] if _FAILED else 0
        _FAILED.clear()
    return status
