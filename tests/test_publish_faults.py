"""Publishing through a flaky registry: every request retried within bounds, each image
finished when it can be, the failures summarised, and the next run redoing only those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.faultproxy import Fault, FaultProxy, start_fault_proxy
from tests.support.images import skopeo_copy
from tests.support.project import Result, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

APPS = 10
FAST = {"KOTASKS_RETRY_BASE": "0.05"}


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A module with ten main packages (cmd/app0 … cmd/app9) on scratch."""
    root = tmp_path / "apps"
    (root / "internal/lib").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/apps\n\ngo 1.21\n")
    (root / ".ko.yaml").write_text("defaultBaseImage: scratch\n")
    (root / "internal/lib/lib.go").write_text(
        'package lib\n\n// Name says hello.\nfunc Name(s string) string { return "hi " + s }\n')
    for i in range(APPS):
        (root / f"cmd/app{i}").mkdir(parents=True)
        (root / f"cmd/app{i}/main.go").write_text(
            'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/apps/internal/lib"\n)\n\n'
            f'func main() {{ fmt.Println(lib.Name("app{i}")) }}\n')
    return root


@pytest.fixture
def proxy(registry: Registry) -> FaultProxy:
    started = start_fault_proxy(registry.host)
    yield started  # type: ignore[misc]
    started.stop()


def build_all(apps: Path, repo: str, **env: str) -> Result:
    return run_kotasks(apps, "build", "--sbom=none", *(f"./cmd/app{i}" for i in range(APPS)),
                       env={"KO_DOCKER_REPO": repo, **FAST, **env})


def test_ten_images_survive_503s_429s_resets_and_slowness(apps: Path, proxy: FaultProxy,
                                                          registry: Registry,
                                                          tmp_path: Path) -> None:
    proxy.faults += [
        Fault(r"^HEAD /v2/.+/blobs/", status=503, times=3),
        Fault(r"^POST /v2/.+/blobs/uploads/", status=500, times=2),
        Fault(r"^PUT /v2/.+/blobs/uploads/", reset_after=2000, times=3),
        Fault(r"^PUT /v2/.+/manifests/", status=429, retry_after="1", times=2),
        Fault(r"^GET /v2/$", delay=1.0, times=1),
    ]
    result = build_all(apps, f"{proxy.host}/flaky").ok()
    assert len(result.refs) == APPS
    for outcome in ("503", "500", "reset", "429", "slow"):
        assert proxy.outcomes(outcome), outcome
    assert "retrying upload blob" in result.stderr and "HTTP 429" in result.stderr
    for i, ref in enumerate(result.refs):  # read back whole, past the proxy
        direct = ref.replace(proxy.host, registry.host)
        skopeo_copy(f"docker://{direct}", f"oci:{tmp_path}/copy{i}:latest")


def test_digest_before_tags(apps: Path, proxy: FaultProxy) -> None:
    build_all(apps, f"{proxy.host}/order", **{"KOTASKS_RETRY_ATTEMPTS": "1"}).ok()
    puts = [line for line, _ in proxy.log if line.startswith("PUT") and "/manifests/" in line]
    for i in range(APPS):
        mine = [p for p in puts if f"/app{i}-" in p]
        assert re.search(r"/manifests/sha256:[0-9a-f]{64}$", mine[0]), mine
        assert mine[-1].endswith("/manifests/latest"), mine


def test_a_broken_repository_does_not_stop_the_others(apps: Path, proxy: FaultProxy) -> None:
    proxy.faults.append(Fault(r"/v2/broken/app3-[0-9a-f]+/", status=503, times=-1))
    repo = f"{proxy.host}/broken"
    result = build_all(apps, repo, KOTASKS_RETRY_ATTEMPTS="2")
    assert result.returncode == 1
    assert len(result.refs) == APPS - 1 and not any("/app3-" in r for r in result.refs)
    last = result.stderr.rstrip().splitlines()[-2:]
    assert last[0] == f"kotasks: {APPS - 1} published, 1 failed"
    assert last[1].startswith("kotasks:   build:cmd/app3: ") and "HTTP 503" in last[1]
    proxy.faults.clear()
    mark = len(proxy.log)
    again = build_all(apps, repo).ok()
    assert [t for t in again.executed if t.startswith("build:")] == ["build:cmd/app3"]
    assert len(again.refs) == APPS
    uploads = [line for line, _ in proxy.log[mark:] if "/blobs/uploads/" in line]
    assert uploads and all("/app3-" in line for line in uploads)
