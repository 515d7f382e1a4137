"""Rebasing ten images on a moved base against rebuilding them; prints figures (no pass/fail).

    python bench/bench_rebase.py [--rounds 3]

The 10-image workspace (tests/support/workspace) on a base image in a local registry, locked
by ``kotasks lock`` and pushed to that registry. Each round pushes a new base under the tag and
times ``kotasks rebase`` (configs and manifests on the new base: no go build, no layer), then
a rebuild of the same ten images from scratch on that base (``.kotasks/`` removed: go build
with a warm Go cache, layers, SBOMs, publishing), same machine, same run; and once against a
rebuild with an empty Go build cache too (a CI runner's). Target: rebase ≤ 0.1 × rebuild.
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

from bench.bench_core import kotasks  # noqa: E402
from bench.bench_vs_ko import IMAGES  # noqa: E402
from tests.support.images import push_base, write_base_layout  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workspace import write_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        root = write_workspace(work / "ws")
        base = push_base(write_base_layout(work / "base"), registry.host, "bench-base")
        (root / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
        env = bench_env({"KO_DOCKER_REPO": f"{registry.host}/bench", "KOTASKS_QUIET": "1"})
        env.pop("GOFLAGS", None)
        kotasks(root, env, "lock")
        kotasks(root, env, "build", *IMAGES)
        rebases, rebuilds = [], []
        for n in range(args.rounds):
            push_base(write_base_layout(work / f"base{n}", marker=f"fix {n}"), registry.host,
                      "bench-base")
            rebases.append(kotasks(root, env, "rebase"))
            shutil.rmtree(root / ".kotasks")  # the lock stays: the same base, from scratch
            rebuilds.append(kotasks(root, env, "build", *IMAGES))
        push_base(write_base_layout(work / "base-cold", marker="cold"), registry.host,
                  "bench-base")
        rebases.append(kotasks(root, env, "rebase"))
        shutil.rmtree(root / ".kotasks")
        cold = kotasks(root, {**env, "GOCACHE": str(work / "empty-gocache")}, "build", *IMAGES)
        a, b = statistics.median(rebases), statistics.median(rebuilds)
        print(f"rebase of {len(IMAGES)} images on a moved base: {a:.2f} s; a rebuild of them "
              f"from scratch: {b:.2f} s with a warm Go cache ({a / b:.2f} ×), {cold:.2f} s "
              f"with an empty one ({a / cold:.2f} ×) (target <= 0.1 ×)")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
