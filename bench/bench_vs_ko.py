"""kotasks beside ko on the 10-image workspace, in one run; prints figures (no pass/fail).

    python bench/bench_vs_ko.py [--ko PATH] [--rounds 3]

The 10-package workspace (ten main packages sharing one library, tests/support/workspace)
on one base image pushed to a local registry; ``kotasks build`` and ``ko build`` of the ten
images to that registry, each scenario measured for both, alternately, with the same warm Go
build cache:

* cold: no tool state (``.kotasks/`` and ko's ``KOCACHE`` removed; issue target ≤ 0.5 × ko);
* no-op: nothing changed;
* one main package edited;
* a comment-only edit of the shared library (ten binaries rebuilt, none changed; target
  ≤ 0.2 × ko);
* a real edit of the shared library (ten new images), with the peak RSS of each tool's whole
  process tree (Go's compilers and linkers included) in a separate, unmeasured run.

Each tool gets its own fresh edit, so neither finds the other's compile in the Go cache.
ko is ``--ko PATH``, ``ko`` on PATH, or built here by ``go install github.com/google/ko@v0.19.1``
from the Go module proxy (never committed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.images import push_base, write_base_layout  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workspace import (  # noqa: E402
    LIBRARY,
    PACKAGES,
    counting_go,
    go_builds,
    write_workspace,
)

KO_VERSION = "v0.19.1"
IMAGES = [f"./cmd/app{i}" for i in range(PACKAGES)]


def find_ko(given: str, work: Path) -> str:
    """The ko binary: given, on PATH, or installed into ``work`` from the Go module proxy."""
    if given or shutil.which("ko"):
        return given or str(shutil.which("ko"))
    gobin = work / "gobin"
    env = {k: v for k, v in os.environ.items() if k not in ("GOFLAGS", "GOPROXY")}
    subprocess.run(["go", "install", f"github.com/google/ko@{KO_VERSION}"], check=True,
                   env={**env, "GOBIN": str(gobin)}, cwd=work, capture_output=True)
    return str(gobin / "ko")


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run a build; return its wall time (a failure ends the benchmark)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def tree_peak_rss_mib(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run a command; return the peak of its process tree's summed RSS, sampled."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        total = 0
        for pid in _descendants(proc.pid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        peak = max(peak, total)
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed")
    return peak / 1024


def edit_main(root: Path, marker: str) -> None:
    main = root / "cmd/app3/main.go"
    text = main.read_text()
    start = text.index('Shout("app3') + len('Shout("')
    end = text.index('"', start)
    main.write_text(text[:start] + f"app3.{marker}" + text[end:])


def comment_library(root: Path, marker: str) -> None:
    with open(root / LIBRARY, "a") as f:
        f.write(f"\n// {marker}: a comment at the end moves no line\n")


def edit_library(root: Path, marker: str) -> None:
    lib = root / LIBRARY
    text = lib.read_text()
    start = text.index('strings.ToUpper(s) + "') + len('strings.ToUpper(s) + "')
    end = text.index('"', start)
    lib.write_text(text[:start] + f"!{marker}" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ko", default="", help="the ko binary (default: built here)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        ko = find_ko(args.ko, work)
        root = write_workspace(work / "ws")
        base = push_base(write_base_layout(work / "base"), registry.host, "bench-base")
        (root / ".ko.yaml").write_text(f"defaultBaseImage: {base}\n")
        wrapper, calls = counting_go(work)
        env = bench_env({"KO_DOCKER_REPO": f"{registry.host}/bench", "KOTASKS_QUIET": "1",
                         "KO_GO_PATH": str(wrapper)})
        env.pop("GOFLAGS", None)
        ko_env = {**env, "KOCACHE": str(work / "kocache")}
        kotasks = [sys.executable, "-m", "kotasks", "build", *IMAGES]
        ko_build = [ko, "build", *IMAGES]

        def run_kotasks() -> float:
            return timed(kotasks, root, env)

        def run_ko() -> float:
            return timed(ko_build, root, ko_env)

        run_kotasks(), run_ko()  # warm the Go cache for both

        def scenario(name: str, before: Callable[[str], None] | None,
                     target: str = "") -> None:
            ours, theirs, processes = [], [], []
            for n in range(args.rounds):
                if before is None:  # cold: no tool state
                    shutil.rmtree(root / ".kotasks", ignore_errors=True)
                else:
                    before(f"k{n}")
                calls.unlink(missing_ok=True)
                ours.append(run_kotasks())
                processes.append(len(go_builds(calls)))
                if before is None:
                    shutil.rmtree(work / "kocache", ignore_errors=True)
                else:
                    before(f"o{n}")
                theirs.append(run_ko())
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name}: kotasks {a:.2f} s ({statistics.median(processes):.0f} go build "
                  f"processes), ko {b:.2f} s: {a / b:.2f} × ko{target}")

        scenario("cold (warm Go cache, no tool state)", None, " (target <= 0.5 ×)")
        run_kotasks(), run_ko()
        scenario("no-op", lambda marker: None)
        scenario("one main package edited", lambda marker: edit_main(root, marker))
        scenario("comment-only edit of the shared library",
                 lambda marker: comment_library(root, marker), " (target <= 0.2 ×)")
        scenario("real edit of the shared library (10 new images)",
                 lambda marker: edit_library(root, marker))
        edit_library(root, "rss-kotasks")
        ours = tree_peak_rss_mib(kotasks, root, env)
        edit_library(root, "rss-ko")
        theirs = tree_peak_rss_mib(ko_build, root, ko_env)
        print(f"peak RSS of the process tree, real library edit: kotasks {ours:.0f} MiB, "
              f"ko {theirs:.0f} MiB ({len(os.sched_getaffinity(0))} cores)")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
