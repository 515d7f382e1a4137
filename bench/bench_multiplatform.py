"""Benchmark: three platforms at once against the sum of three single-platform builds.

    python bench/bench_multiplatform.py

Builds one app for linux/amd64, linux/arm64 and linux/arm/v7, into the embedded OCI layout,
measured in the same run:

* cold: an empty Go build cache and no kotasks state for every build (std is compiled for
  each architecture);
* warm: a filled Go build cache, no kotasks state (every step runs; go build links).

Prints the wall time of the three-platform build, the sum of the three single-platform
builds, and their ratio (target on 2 cores: ≤ 0.6).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.project import bench_env  # noqa: E402

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def generate(root: Path) -> None:
    """Write a module with one HTTP server app and a kodata file."""
    (root / "cmd/app/kodata").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/multibench\n\ngo 1.21\n")
    (root / ".ko.yaml").write_text("defaultBaseImage: scratch\n")
    (root / "cmd/app/kodata/index.html").write_text("<p>hi</p>\n")
    (root / "cmd/app/main.go").write_text(
        'package main\n\nimport (\n\t"log"\n\t"net/http"\n\t"os"\n)\n\n'
        'func main() {\n\tlog.Print("serving")\n'
        '\thttp.Handle("/", http.FileServer(http.Dir(os.Getenv("KO_DATA_PATH"))))\n'
        '\tlog.Fatal(http.ListenAndServe(":8080", nil))\n}\n')


def timed_build(root: Path, gocache: Path, platforms: list[str]) -> float:
    """Build with no kotasks state; return the wall time."""
    shutil.rmtree(root / ".kotasks", ignore_errors=True)
    env = bench_env({"GOCACHE": str(gocache), "KOTASKS_QUIET": "1"})
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kotasks", "build", "./cmd/app", "--platform",
                           ",".join(platforms)], cwd=root, env=env, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return elapsed


def compare(label: str, root: Path, cache_for: object) -> None:
    singles = [timed_build(root, cache_for(), [p]) for p in PLATFORMS]  # type: ignore[operator]
    together = timed_build(root, cache_for(), PLATFORMS)  # type: ignore[operator]
    print(f"{label}: 3 platforms at once {together:.2f} s; single builds "
          f"{' + '.join(f'{s:.2f}' for s in singles)} = {sum(singles):.2f} s; "
          f"ratio {together / sum(singles):.2f} (target <= 0.6)")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="kotasks-multibench-"))
    try:
        root = work / "ws"
        generate(root)
        counter = iter(range(100))
        compare("cold", root, lambda: work / f"gocache-{next(counter)}")
        warm = work / "gocache-warm"
        timed_build(root, warm, PLATFORMS)  # fill the cache
        compare("warm", root, lambda: warm)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
