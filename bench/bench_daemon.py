"""Benchmark of the Docker daemon target; prints its figures (no pass/fail, no timing asserts).

    python bench/bench_daemon.py [--big-mib 100]

Starts a private dockerd (as the tests do), generates bench_core's 10-package workspace and
measures with real ``doit`` runs against ``KO_DOCKER_REPO=ko.local``:

* cold build + load of all ten images;
* a no-op run (target <= 0.3 s, zero loads: dockerd's own request log is counted);
* a one-package edit (only that image is loaded again);
* loading a ``--big-mib`` MiB image: kotasks' load (the archive streamed from the store)
  against ``docker load -i`` of the same image as a tarball, and kotasks' peak RSS while
  loading (memory must not grow with the image).
"""

from __future__ import annotations

import argparse
import hashlib
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

from bench.bench_core import doit, peak_rss_mib  # noqa: E402
from tests.support.dockerd import Dockerd, start_dockerd  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.workspace import PACKAGES, write_workspace  # noqa: E402

LOAD = re.compile(r"^POST (/v[\d.]+)?/images/load")


def loads_since(dockerd: Dockerd, mark: int) -> int:
    return sum(1 for call in dockerd.api_calls_since(mark) if LOAD.match(call))


def bench(work: Path, dockerd: Dockerd, big_mib: int) -> None:
    root = work / "ws"
    write_workspace(root)
    env = bench_env({**dockerd.env, "KO_DOCKER_REPO": "ko.local", "KOTASKS_QUIET": "1"})

    mark = dockerd.log_mark()
    cold, ran = doit(root, env)
    print(f"cold build+load of {PACKAGES} images: {cold:.2f} s "
          f"({len([t for t in ran if t.startswith('gobuild:')])} go builds, "
          f"{loads_since(dockerd, mark)} loads)")

    noops, calls = [], 0
    for _ in range(5):
        mark = dockerd.log_mark()
        elapsed, ran = doit(root, env)
        assert not ran and loads_since(dockerd, mark) == 0, ran
        calls = len(dockerd.api_calls_since(mark))
        noops.append(elapsed)
    print(f"no-op: median {statistics.median(noops):.3f} s, best {min(noops):.3f} s "
          f"(target <= 0.3 s); 0 loads, {calls} daemon requests ({PACKAGES} images)")

    main = root / "cmd/app3/main.go"
    edits = []
    for round_ in range(3):
        main.write_text(re.sub(r'Shout\("app3[^"]*"', f'Shout("app3.{round_}"',
                               main.read_text()))
        mark = dockerd.log_mark()
        elapsed, ran = doit(root, env)
        assert [t for t in ran if t.startswith("build:")] == ["build:cmd/app3"], ran
        assert loads_since(dockerd, mark) == 1
        edits.append(elapsed)
    print(f"one-package edit: median {statistics.median(edits):.3f} s; 1 image loaded, "
          f"{PACKAGES - 1} untouched")

    big = root / "cmd/app0/kodata/big.bin"
    with open(big, "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1 << 20))
    doit(root, env, "build:cmd/app0")
    name = f"ko.local/app0-{hashlib.md5(b'example.com/bench/cmd/app0').hexdigest()}"
    tarball = work / "big.tar"
    subprocess.run([sys.executable, "-m", "kotasks", "build", "--push=false", "--tarball",
                    str(tarball), "./cmd/app0"], cwd=root, check=True, capture_output=True,
                   env={k: v for k, v in env.items() if k != "KO_DOCKER_REPO"})
    ours, theirs, rss = [], [], 0.0
    for _ in range(3):
        dockerd.docker("rmi", "-f", *image_refs(dockerd, name))
        rss, seconds = peak_rss_mib([sys.executable, "-m", "doit", "build:cmd/app0"], root,
                                    env)
        ours.append(seconds)
        dockerd.docker("rmi", "-f", *image_refs(dockerd, name))
        start = time.perf_counter()
        dockerd.docker("load", "-i", str(tarball))
        theirs.append(time.perf_counter() - start)
    size = tarball.stat().st_size / (1 << 20)
    print(f"load of a {size:.0f} MiB image: kotasks {statistics.median(ours):.2f} s (whole doit "
          f"run, archive streamed from the store; peak RSS {rss:.1f} MiB), docker load -i "
          f"{statistics.median(theirs):.2f} s")


def image_refs(dockerd: Dockerd, name: str) -> list[str]:
    out = dockerd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", name).stdout
    return out.split() or [name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=100, help="size of the big image's data")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    dockerd = start_dockerd(work / "dockerd")
    try:
        bench(work, dockerd, args.big_mib)
    finally:
        dockerd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
