"""The kube_api fixture is a real Kubernetes API server: kubectl stores and serves objects."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from tests.support.kubeapi import KubeAPI

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ko.local/web@sha256:%s
"""


def test_apply_get_delete_deployment(kube_api: KubeAPI, tmp_path: Path) -> None:
    ns = kube_api.new_namespace("rig-apply")
    digest = hashlib.sha256(b"web").hexdigest()
    manifest = tmp_path / "dep.yaml"
    manifest.write_text(DEPLOYMENT % digest)

    out = kube_api.kubectl("apply", "-f", str(manifest), namespace=ns).stdout
    assert "deployment.apps/web created" in out
    again = kube_api.kubectl("apply", "-f", str(manifest), namespace=ns).stdout
    assert "deployment.apps/web unchanged" in again

    dep = kube_api.get_json("deployment", "web", ns)
    assert dep["metadata"]["namespace"] == ns
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ko.local/web@sha256:{digest}"

    out = kube_api.kubectl("delete", "-f", str(manifest), namespace=ns).stdout
    assert 'deployment.apps "web" deleted' in out
    gone = kube_api.kubectl("get", "deployment", "web", namespace=ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_run_pod_keeps_image(kube_api: KubeAPI) -> None:
    ns = kube_api.new_namespace("rig-run")
    image = "x@sha256:" + hashlib.sha256(b"p").hexdigest()
    out = kube_api.kubectl("run", "p", "--image", image, "--restart=Never", namespace=ns).stdout
    assert "pod/p created" in out
    pod = kube_api.get_json("pod", "p", ns)
    assert pod["spec"]["containers"][0]["image"] == image
    assert pod["status"]["phase"] == "Pending"  # no kubelet: it never runs


def test_second_kubeconfig_context(kube_api: KubeAPI, tmp_path: Path) -> None:
    ns = kube_api.new_namespace("Rig_Context")  # made a valid name
    assert ns.startswith("rig-context-")
    other = kube_api.write_kubeconfig(tmp_path / "other.yaml", "other", namespace=ns)
    kube_api.kubectl("create", "configmap", "c", "--from-literal=k=v", namespace=ns)

    def kubectl(*args: str) -> str:  # only the other kubeconfig, by KUBECONFIG
        env = {**os.environ, "KUBECONFIG": str(other)}
        return subprocess.run(["kubectl", "--cache-dir", str(tmp_path / "cache"), *args],
                              env=env, capture_output=True, text=True, check=True).stdout

    assert kubectl("config", "current-context").strip() == "other"
    # Its context names ns as the namespace: no -n needed.
    assert json.loads(kubectl("get", "configmap", "c", "-o", "json"))["data"] == {"k": "v"}
