"""Benchmark of publishing through faults; prints its figures (no pass/fail, no asserts on time).

    python bench/bench_faults.py [--big-mib 1024]

Pushes an image with a ``--big-mib`` MiB kodata layer through the tests' fault-injecting
proxy (tests/support/faultproxy.py) in front of a local registry: the first upload of every
blob is reset halfway through its body, and one manifest PUT is answered 429 with
``Retry-After: 1``. Prints kotasks' peak RSS (target <= 100 MB: a retried upload streams the
blob again from the store, never from memory), the wall time, and how many uploads were
retried.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_core import generate, peak_rss_mib  # noqa: E402
from tests.support.faultproxy import Fault, start_fault_proxy  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big kodata file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    size = args.big_mib << 20
    proxy = start_fault_proxy(registry.host, [
        Fault(r"^PUT /v2/.+/blobs/uploads/", reset_after=size // 2, times=3),
        Fault(r"^PUT /v2/.+/manifests/", status=429, retry_after="1", times=1),
    ])
    try:
        root = work / "ws"
        generate(root)
        with open(root / "cmd/app0/kodata/big.bin", "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
        env = bench_env({"KO_DOCKER_REPO": f"{proxy.host}/faults", "KOTASKS_QUIET": "1",
                         "KOTASKS_RETRY_BASE": "0.1"})
        # build first, so that the figure is the push's own
        peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root,
                     {**env, "KO_DOCKER_REPO": ""})
        rss, seconds = peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root, env)
        print(f"push of a {args.big_mib} MiB layer through resets and a 429: peak RSS "
              f"{rss:.1f} MiB (target <= 100 MB), {seconds:.1f} s; "
              f"{len(proxy.outcomes('reset'))} uploads reset and retried, "
              f"{len(proxy.outcomes('429'))} manifest PUT answered 429")
    finally:
        proxy.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
