"""Benchmark of publishing through faults; prints its figures (no pass/fail, no asserts on time).

    python bench/bench_faults.py [--big-mib 1024] [--runs 5]

Two measurements, through the tests' fault-injecting proxy (tests/support/faultproxy.py) in
front of a local registry:

* ten images (a 10-package workspace, compiled beforehand) published to a new repository,
  directly and through steady faults (every 4th blob upload dropped halfway, every 6th
  request 503, every 9th 429 with ``Retry-After: 1``): median wall time of ``--runs`` runs
  each, how many of the ten were published, the retries (``--report``), kotasks' peak RSS;
* a ``--big-mib`` MiB kodata layer pushed while the first upload of every blob is reset
  halfway and one manifest PUT is answered 429: peak RSS (target <= 100 MB: a retried upload
  streams the blob again from the store, never from memory) and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_core import peak_rss_mib  # noqa: E402
from tests.support.faultproxy import Fault, start_fault_proxy, steady_faults  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import Registry, start_registry  # noqa: E402
from tests.support.workspace import PACKAGES, write_workspace  # noqa: E402


def ten_images(work: Path, registry: Registry, runs: int) -> None:
    root = work / "ten"
    write_workspace(root)
    env = bench_env({"KOTASKS_QUIET": "1", "KOTASKS_RETRY_BASE": "0.1"})
    kotasks = [sys.executable, "-m", "kotasks", "build", "--sbom=none",
               *(f"./cmd/app{i}" for i in range(PACKAGES))]
    peak_rss_mib(kotasks, root, {**env, "KO_DOCKER_REPO": f"{registry.host}/compiled"})
    proxy = start_fault_proxy(registry.host, steady_faults())
    try:
        for label, host in (("directly", registry.host), ("through steady faults", proxy.host)):
            times, retries, rss, published = [], [], [], []
            for run in range(runs):
                report = work / f"report-{len(label)}-{run}.json"
                peak, seconds = peak_rss_mib(
                    [*kotasks, f"--report={report}"], root,
                    {**env, "KO_DOCKER_REPO": f"{host}/run{run}{label[0]}"})
                images = json.loads(report.read_text())["images"]
                times.append(seconds)
                rss.append(peak)
                retries.append(sum(i["retries"] for i in images))
                published.append(sum(1 for i in images if i["reference"]))
            print(f"ten images {label}: median {statistics.median(times):.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)}); published "
                  f"{min(published)}-{max(published)} of {PACKAGES}; retries per run "
                  f"{', '.join(map(str, retries))}; peak RSS {max(rss):.1f} MiB")
    finally:
        proxy.stop()


def big_layer(work: Path, registry: Registry, big_mib: int) -> None:
    size = big_mib << 20
    proxy = start_fault_proxy(registry.host, [
        Fault(r"^(PUT|PATCH) /v2/.+/blobs/uploads/", reset_at=0.5, times=3),
        Fault(r"^PUT /v2/.+/manifests/", status=429, retry_after="1", times=1),
    ])
    try:
        root = work / "ws"
        write_workspace(root)
        with open(root / "cmd/app0/kodata/big.bin", "wb") as f:
            for _ in range(big_mib):
                f.write(os.urandom(1 << 20))
        env = bench_env({"KO_DOCKER_REPO": f"{proxy.host}/faults", "KOTASKS_QUIET": "1",
                         "KOTASKS_RETRY_BASE": "0.1"})
        # build first, so that the figure is the push's own
        peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root,
                     {**env, "KO_DOCKER_REPO": ""})
        rss, seconds = peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root, env)
        print(f"push of a {big_mib} MiB layer through resets and a 429: peak RSS "
              f"{rss:.1f} MiB (target <= 100 MB), {seconds:.1f} s; "
              f"{len(proxy.outcomes('reset'))} uploads reset and retried, "
              f"{len(proxy.outcomes('429'))} manifest PUT answered 429, "
              f"{proxy.body_bytes('/blobs/uploads/') / size:.2f} x the layer's bytes sent")
    finally:
        proxy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big kodata file")
    parser.add_argument("--runs", type=int, default=5, help="runs of the ten-image build")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        ten_images(work, registry, args.runs)
        big_layer(work, registry, args.big_mib)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
