"""Benchmark of eStargz layers; prints its figures (no pass/fail, no asserts on time).

    python bench/bench_estargz.py [--noops 7]

On the 10-package workspace of bench_core, in one run, each into a local registry: a
"cold" build with the Go cache warm (every layer and image made and pushed) with
``GGCR_EXPERIMENT_ESTARGZ`` off and on (each in a workspace of its own), then the median
no-op of each (the no-op must not move), and the layer bytes of the two.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_core import doit  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workspace import write_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noops", type=int, default=7, help="no-op runs measured per mode")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        warm = work / "warm"
        write_workspace(warm)
        doit(warm, bench_env({"KOTASKS_QUIET": "1"}))  # the Go build cache, once
        for label, extra in (("off", {}), ("on", {"GGCR_EXPERIMENT_ESTARGZ": "1"})):
            root = work / label
            write_workspace(root)
            env = bench_env({"KO_DOCKER_REPO": f"{registry.host}/{label}",
                             "KOTASKS_QUIET": "1", **extra})
            cold, ran = doit(root, env)
            noops = [doit(root, env)[0] for _ in range(args.noops)]
            blobs = root / ".kotasks/oci/blobs/sha256"
            size = sum(p.stat().st_size for p in blobs.iterdir())
            print(f"eStargz {label}: cold {cold:.2f} s ({len(ran)} steps), no-op median "
                  f"{statistics.median(noops):.3f} s (best {min(noops):.3f}), store "
                  f"{size / (1 << 20):.1f} MiB")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
