"""Benchmark of the edit-to-cluster loop; prints its figures (no pass/fail, no timing asserts).

    python bench/bench_watch.py [--ko PATH] [--rounds 3]

Starts a local registry and a real kube-apiserver (tests/support), generates bench_core's
10-package workspace plus one Deployment per image in ``config/``, and measures:

* ``kotasks apply -f config --watch``: from writing a one-line change to one main package to
  the updated Deployment being readable in the API server (target: that package's own
  ``go build`` + 0.5 s);
* the same edit followed by ``ko apply -f config/`` run by hand (ko v0.19.1, when ``--ko``
  names its binary or ``ko`` is on PATH: ``go install github.com/google/ko@v0.19.1``).

Both push to the same registry on the same base image.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_core import go_build_time  # noqa: E402
from tests.support.images import push_base, write_base_layout  # noqa: E402
from tests.support.kubeapi import KubeAPI, find_binary, start_kube_apiserver  # noqa: E402
from tests.support.project import bench_env, stderr_lines, wait_for_line  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workspace import PACKAGES, write_workspace  # noqa: E402

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{i}}}
spec:
  selector: {{matchLabels: {{app: app{i}}}}}
  template:
    metadata: {{labels: {{app: app{i}}}}}
    spec:
      containers: [{{name: app, image: "ko://example.com/bench/cmd/app{i}"}}]
"""


def image_of(api: KubeAPI, namespace: str, name: str) -> str:
    """The Deployment's image, read straight from the API server (no kubectl start-up)."""
    url = f"{api.server}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api.token}"})
    context = ssl.create_default_context(cafile=str(api.ca))
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return ""
    return str(body["spec"]["template"]["spec"]["containers"][0]["image"])


def wait_for_change(api: KubeAPI, namespace: str, name: str, before: str,
                    timeout: float = 120) -> float:
    """Poll until the image differs from ``before``; return when it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if image_of(api, namespace, name) not in ("", before):
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit(f"{name} was not updated within {timeout} s")


def edit(main: Path, marker: str) -> None:
    main.write_text(re.sub(r'Shout\("app3[^"]*"', f'Shout("app3.{marker}"', main.read_text()))


def bench_watch(root: Path, env: dict[str, str], api: KubeAPI, rounds: int) -> list[float]:
    namespace = api.new_namespace("bench-watch")
    proc = subprocess.Popen([sys.executable, "-m", "kotasks", "apply", "-f", "config",
                             "--watch", "--", "-n", namespace], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = stderr_lines(proc)

    def wait_round(number: int) -> None:
        wait_for_line(lines, f"round {number}:", timeout=300)

    latencies = []
    try:
        wait_round(1)
        for n in range(rounds):
            before = image_of(api, namespace, "app3")
            started = time.monotonic()
            edit(root / "cmd/app3/main.go", f"w{n}")
            latencies.append(wait_for_change(api, namespace, "app3", before) - started)
            wait_round(n + 2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return latencies


def bench_ko(root: Path, env: dict[str, str], api: KubeAPI, ko: str, rounds: int
             ) -> list[float]:
    namespace = api.new_namespace("bench-ko")
    argv = [ko, "apply", "-f", "config", "--", "-n", namespace]
    subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    times = []
    for n in range(rounds):
        started = time.monotonic()
        edit(root / "cmd/app3/main.go", f"k{n}")
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
        times.append(time.monotonic() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ko", default=shutil.which("ko") or "", help="the ko binary")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    api = start_kube_apiserver(work / "kube", str(find_binary()))
    try:
        root = work / "ws"
        write_workspace(root)
        base = push_base(write_base_layout(work / "base"), registry.host, "bench-base")
        (root / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
        (root / "config").mkdir()
        for i in range(PACKAGES):
            (root / f"config/app{i}.yaml").write_text(DEPLOYMENT.format(i=i))
        env = bench_env({**api.env, "KO_DOCKER_REPO": f"{registry.host}/bench"})
        env.pop("GOFLAGS", None)
        latencies = bench_watch(root, env, api, args.rounds)
        gobuild = statistics.median(go_build_time(root, env, "./cmd/app3")
                                    for _ in range(args.rounds))
        print(f"watch, edit to applied (1 of {PACKAGES} images): median "
              f"{statistics.median(latencies):.2f} s, best {min(latencies):.2f} s; that "
              f"package's go build alone {gobuild:.2f} s (target <= go build + 0.5 s)")
        if args.ko:
            ko_env = {**env, "KOCACHE": str(work / "kocache")}
            times = bench_ko(root, ko_env, api, args.ko, args.rounds)
            print(f"ko apply -f config/ by hand after the same edit: median "
                  f"{statistics.median(times):.2f} s, best {min(times):.2f} s")
        else:
            print("ko: not measured (no ko binary; go install github.com/google/ko@v0.19.1)")
    finally:
        api.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
