"""Publishing through a flaky registry: every request retried within bounds, each image
finished when it can be, the failures summarised, and the next run redoing only those."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from tests.support.faultproxy import Fault, FaultProxy, start_fault_proxy, steady_faults
from tests.support.images import skopeo_copy
from tests.support.project import Result, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

APPS = 10
FAST = {"KOTASKS_RETRY_BASE": "0.05"}
RUNS = 20


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


def test_every_image_is_published_run_after_run_through_steady_faults(
        apps: Path, proxy: FaultProxy, registry: Registry, tmp_path: Path) -> None:
    build_all(apps, f"{registry.host}/compiled").ok()  # compile once, past the proxy
    proxy.faults += steady_faults()
    for run in range(RUNS):  # a new repository each run: every blob is uploaded again
        result = build_all(apps, f"{proxy.host}/steady{run}")
        assert result.returncode == 0 and len(result.refs) == APPS, \
            f"run {run + 1} of {RUNS}:\n{result.stderr[-3000:]}"
        for i, ref in enumerate(result.refs):  # read back whole, past the proxy
            skopeo_copy(f"docker://{ref.replace(proxy.host, registry.host)}",
                        f"oci:{tmp_path}/steady{run}:app{i}")
    for outcome in ("503", "429", "reset"):
        assert len(proxy.outcomes(outcome)) >= RUNS, outcome


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


def test_the_registrys_own_digest_race_is_tried_again_and_a_real_one_is_not(
        apps: Path, proxy: FaultProxy) -> None:
    # the CNCF registry's answer to a manifest PUT while another push rewrites a blob link
    proxy.faults.append(Fault(r"^PUT /v2/race/app[0-4]-[0-9a-f]+/manifests/sha256:",
                              status=400, code="DIGEST_INVALID", times=5))
    raced = build_all(apps, f"{proxy.host}/race").ok()
    assert len(raced.refs) == APPS
    assert len([line for line in raced.stderr.splitlines()
                if line.startswith("kotasks: retrying push manifest sha256:")]) == 5
    # a DIGEST_INVALID that does not go away is a failure, within the retry limits
    proxy.faults.append(Fault(r"^PUT /v2/race-on/app3-[0-9a-f]+/manifests/sha256:",
                              status=400, code="DIGEST_INVALID", times=-1))
    never = build_all(apps, f"{proxy.host}/race-on", KOTASKS_RETRY_ATTEMPTS="3",
                      KOTASKS_RETRY_SECONDS="2")
    assert never.returncode == 1 and len(never.refs) == APPS - 1
    assert "HTTP 400: DIGEST_INVALID" in never.stderr.rstrip().splitlines()[-1]
    # any other refusal of a manifest is final at once
    proxy.faults.append(Fault(r"^PUT /v2/race-final/app3-[0-9a-f]+/manifests/sha256:",
                              status=400, code="MANIFEST_INVALID", times=-1))
    final = build_all(apps, f"{proxy.host}/race-final")
    assert final.returncode == 1 and "kotasks: retrying push manifest" not in final.stderr


@pytest.fixture
def big_app(apps: Path) -> Path:
    """cmd/app0 with 12 MiB of incompressible kodata: a layer of three 4 MiB chunks."""
    (apps / "cmd/app0/kodata").mkdir()
    (apps / "cmd/app0/kodata/big.bin").write_bytes(random.Random(30).randbytes(12 << 20))
    return apps


CHUNKED = {"KOTASKS_UPLOAD_CHUNK_MIB": "4"}
PATCHES = r"^PATCH /v2/.+/blobs/uploads/"


def test_a_dropped_chunk_is_sent_again_from_the_registrys_offset(
        big_app: Path, proxy: FaultProxy, registry: Registry, tmp_path: Path) -> None:
    proxy.faults.append(Fault(PATCHES, reset_at=0.5, every=2, times=1))  # the 2nd, halfway
    result = run_kotasks(big_app, "build", "--sbom=none", "./cmd/app0",
                         env={"KO_DOCKER_REPO": f"{proxy.host}/resume", **FAST, **CHUNKED}).ok()
    layer = 12 << 20  # at least: the kodata tar, gzipped, is a little larger
    sent = proxy.body_bytes(PATCHES)
    assert layer < sent < layer + (4 << 20), sent  # a restart from zero: + 6 MiB
    assert len(proxy.outcomes("reset")) == 1
    assert [line for line, _ in proxy.log if line.startswith("GET /v2/resume/")
            and "/blobs/uploads/" in line], "the registry was not asked where the upload stands"
    starts = [line for line, _ in proxy.log if line.startswith("POST /v2/resume/")]
    assert len(starts) == 3, starts  # one session per blob (kodata, binary, config)
    skopeo_copy(f"docker://{result.refs[0].replace(proxy.host, registry.host)}",
                f"oci:{tmp_path}/copy:latest")


def test_a_chunk_cut_off_at_the_registry_starts_a_new_session(
        big_app: Path, proxy: FaultProxy, registry: Registry, tmp_path: Path) -> None:
    # the registry gets half of the chunk, then the connection breaks: it keeps those bytes
    # and refuses the session after that (distribution), so the upload starts again
    proxy.faults.append(Fault(PATCHES, reset_at=0.5, every=2, times=1, forward_partial=True))
    result = run_kotasks(big_app, "build", "--sbom=none", "./cmd/app0",
                         env={"KO_DOCKER_REPO": f"{proxy.host}/cutoff", **FAST, **CHUNKED}).ok()
    assert len(proxy.outcomes("reset")) == 1
    skopeo_copy(f"docker://{result.refs[0].replace(proxy.host, registry.host)}",
                f"oci:{tmp_path}/copy:latest")


def test_a_registry_that_takes_no_chunks_gets_whole_blobs(
        big_app: Path, proxy: FaultProxy, registry: Registry, tmp_path: Path) -> None:
    proxy.faults.append(Fault(PATCHES, status=405, times=-1))
    result = run_kotasks(big_app, "build", "--sbom=none", "./cmd/app0",
                         env={"KO_DOCKER_REPO": f"{proxy.host}/nochunks", **FAST, **CHUNKED}).ok()
    assert len(proxy.outcomes("405")) == 1 and "takes no chunked uploads" in result.stderr
    skopeo_copy(f"docker://{result.refs[0].replace(proxy.host, registry.host)}",
                f"oci:{tmp_path}/copy:latest")


def test_uploads_that_never_land_end_within_the_time_cap(apps: Path, proxy: FaultProxy) -> None:
    # every session opens (progress), every upload into it is dropped: only the cap ends it
    proxy.faults.append(Fault(r"^PUT /v2/.+/blobs/uploads/", reset_at=0.5, times=-1))
    result = run_kotasks(apps, "build", "--sbom=none", "./cmd/app0",
                         env={"KO_DOCKER_REPO": f"{proxy.host}/never", **FAST,
                              "KOTASKS_RETRY_SECONDS": "2"})
    assert result.returncode == 1
    assert "would exceed KOTASKS_RETRY_SECONDS=2" in result.stderr
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith("kotasks:   build:cmd/app0: upload blob sha256:"), last


def test_a_registry_that_asks_to_wait_too_long_ends_at_once(apps: Path,
                                                            proxy: FaultProxy) -> None:
    proxy.faults.append(Fault(r"/v2/patient/", status=429, retry_after="600", times=-1))
    result = run_kotasks(apps, "build", "--sbom=none", "./cmd/app0",
                         env={"KO_DOCKER_REPO": f"{proxy.host}/patient", **FAST})
    assert result.returncode == 1 and "HTTP 429" in result.stderr.rstrip().splitlines()[-1]
    assert "600.0 s more would exceed KOTASKS_RETRY_SECONDS=120" in result.stderr
    asked = proxy.outcomes("429")
    assert asked and len(set(asked)) == len(asked)  # each asked once, none tried again


def test_the_report_counts_retries_per_image(apps: Path, proxy: FaultProxy,
                                            tmp_path: Path) -> None:
    proxy.faults.append(Fault(r"^PUT /v2/counted/app1-.+/manifests/", status=503, times=2))
    report = tmp_path / "report.json"
    run_kotasks(apps, "build", "--sbom=none", "./cmd/app0", "./cmd/app1",
                f"--report={report}", env={"KO_DOCKER_REPO": f"{proxy.host}/counted",
                                           **FAST}).ok()
    images = {i["package"]: i for i in json.loads(report.read_text())["images"]}
    assert images["example.com/apps/cmd/app0"]["retries"] == 0
    assert images["example.com/apps/cmd/app1"]["retries"] == 2
