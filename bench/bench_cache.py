"""The registry as a build cache: a second machine against its cold build; prints figures.

    python bench/bench_cache.py [--rounds 3]

The 10-image workspace (tests/support/workspace) as a git repository, cloned into
"machines": a checkout with its own ``.kotasks/``, HOME and empty Go build cache, all
publishing to one local registry (destination and ``KOTASKS_CACHE_REPO``). Measured, with
``kotasks build`` of the ten images:

* the first machine's cold build with the cache (it fills it), and a one-package edit with
  and without the cache, alternately (target: no slower with it, ± noise);
* a second machine's cold build (empty Go cache) taking everything from the cache, against
  a third machine's cold build with ``--no-cache`` (target ≤ 0.2 ×).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_core import kotasks  # noqa: E402
from bench.bench_vs_ko import IMAGES, edit_main  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workspace import write_workspace  # noqa: E402


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def machine(origin: Path, top: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A fresh checkout with its own state, HOME and empty Go build cache."""
    top.mkdir()
    root = top / "checkout"
    git(top, "clone", "-q", str(origin), str(root))
    shutil.copy(origin / ".ko.yaml", root / ".ko.yaml")
    return root, {**env, "HOME": str(top / "home"), "GOCACHE": str(top / "gocache")}


def build(root: Path, env: dict[str, str], *extra: str) -> float:
    return kotasks(root, env, "build", *extra, *IMAGES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        origin = write_workspace(work / "origin")
        (origin / ".gitignore").write_text(".kotasks/\n.ko.yaml\ndodo.py\n")
        git(origin, "init", "-q", "-b", "main")
        git(origin, "add", "-A")
        git(origin, "commit", "-qm", "workspace")
        env = bench_env({"KO_DOCKER_REPO": f"{registry.host}/bench", "KOTASKS_QUIET": "1",
                         "KOTASKS_CACHE_REPO": f"{registry.host}/bench-cache"})
        env.pop("GOFLAGS", None)

        first, first_env = machine(origin, work / "first", env)
        cold_first = build(first, first_env)
        with_cache, without = [], []
        for n in range(args.rounds):
            edit_main(first, f"c{n}")
            with_cache.append(build(first, first_env))
            edit_main(first, f"n{n}")
            without.append(build(first, first_env, "--no-cache"))
        print(f"first machine: cold build filling the cache {cold_first:.2f} s; one-package "
              f"edit with the cache {statistics.median(with_cache):.2f} s, without "
              f"{statistics.median(without):.2f} s (target: no slower)")

        seconds, colds = [], []
        for n in range(args.rounds):
            second, second_env = machine(origin, work / f"second{n}", env)
            seconds.append(build(second, second_env))
            third, third_env = machine(origin, work / f"third{n}", env)
            colds.append(build(third, third_env, "--no-cache"))
        a, b = statistics.median(seconds), statistics.median(colds)
        print(f"second machine, empty Go cache: {a:.2f} s from the cache, {b:.2f} s cold "
              f"without it: {a / b:.2f} × (target <= 0.2 ×)")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
