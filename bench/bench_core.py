"""Benchmark of the incremental core; prints its figures (no pass/fail, no timing asserts).

    python bench/bench_core.py [--big-mib 1024]

Generates a 10-package Go workspace (ten main packages sharing one library), starts a local
registry, and measures with real ``doit`` runs:

* cold build + push of all ten images;
* a no-op run (target ≤ 0.25 s, zero ``go build``, zero registry requests);
* a one-package edit against that package's own ``go build`` (target ≤ go build + 0.3 s);
* peak RSS of the kotasks process while it layers and pushes a 1 GiB kodata file
  (target ≤ 100 MB; the binary is built beforehand, so the figure is kotasks' own).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.project import bench_env  # noqa: E402
from tests.support.registry import Registry, start_registry  # noqa: E402
from tests.support.workspace import PACKAGES, write_workspace  # noqa: E402

EXECUTED = re.compile(r"^\.  (\S+)$", re.MULTILINE)


def doit(root: Path, env: dict[str, str], *args: str) -> tuple[float, list[str]]:
    """Run doit; return the wall time and the executed tasks."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "doit", *args], cwd=root, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"doit failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, EXECUTED.findall(proc.stderr)


def kotasks(root: Path, env: dict[str, str], *args: str) -> float:
    """Run ``kotasks ARGS`` in ``root``; return its wall time (a failure ends the benchmark)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kotasks", *args], cwd=root, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"kotasks {' '.join(args)} failed:\n{proc.stderr}")
    return time.perf_counter() - start


def go_build_time(root: Path, env: dict[str, str], package: str) -> float:
    """Wall time of the same `go build` kotasks runs, for comparison."""
    out = Path(tempfile.mkdtemp()) / "out"
    start = time.perf_counter()
    subprocess.run(["go", "build", "-trimpath", "-o", str(out), package], cwd=root,
                   env={**env, "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"},
                   check=True, capture_output=True)
    return time.perf_counter() - start


def peak_rss_mib(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run a command, sampling its VmHWM; return (peak RSS MiB, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peak = max(peak, int(match.group(1)))
        except FileNotFoundError:
            break
        time.sleep(0.05)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {err}")
    return peak / 1024, time.perf_counter() - start


def bench(work: Path, registry: Registry, big_mib: int) -> None:
    root = work / "ws"
    write_workspace(root)
    env = bench_env({"KO_DOCKER_REPO": f"{registry.host}/bench", "KOTASKS_QUIET": "1"})

    cold, ran = doit(root, env)
    print(f"cold build+push of {PACKAGES} images: {cold:.2f} s "
          f"({len([t for t in ran if t.startswith('gobuild:')])} go builds)")

    noops = []
    for _ in range(5):
        mark = len(registry.log_path.read_text().splitlines())
        elapsed, ran = doit(root, env)
        requests = [line for line in registry.log_path.read_text().splitlines()[mark:]
                    if "/v2/" in line]
        noops.append(elapsed)
        assert not ran and not requests, (ran, requests)
    print(f"no-op: median {statistics.median(noops):.3f} s, best {min(noops):.3f} s "
          f"(target <= 0.25 s); 0 go builds, 0 registry requests")

    main = root / "cmd/app3/main.go"
    for sbom in ("spdx", "none"):
        (root / "dodo.py").write_text("from kotasks import tasks\n\n"
                                      f"globals().update(tasks(sbom={sbom!r}))\n")
        doit(root, env)  # settle the changed option
        edits, gotimes = [], []
        for round_ in range(3):
            main.write_text(re.sub(r'Shout\("app3[^"]*"', f'Shout("app3.{sbom}{round_}"',
                                   main.read_text()))
            elapsed, ran = doit(root, env)
            others = [t for t in ran if "app3" not in t]
            assert not others, others
            edits.append(elapsed)
            main.write_text(main.read_text().replace(f"app3.{sbom}{round_}", f"app3.x{round_}"))
            gotimes.append(go_build_time(root, env, "./cmd/app3"))
        print(f"one-package edit (--sbom={sbom}): median {statistics.median(edits):.3f} s; "
              f"that package's go build alone {statistics.median(gotimes):.3f} s (target <= "
              f"go build + 0.3 s); other {PACKAGES - 1} untouched")

    big = root / "cmd/app0/kodata/big.bin"
    with open(big, "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1 << 20))
    rss, seconds = peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root, env)
    print(f"peak RSS layering and pushing a {big_mib} MiB kodata file: {rss:.1f} MiB "
          f"(target <= 100 MB), {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big kodata file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    registry = start_registry(work / "registry")
    try:
        bench(work, registry, args.big_mib)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
