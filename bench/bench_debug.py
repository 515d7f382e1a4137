"""``--debug`` builds of one image, first and second time, against a normal build; prints
figures (no pass/fail).

    python bench/bench_debug.py [--rounds 3]

On the 10-image workspace (tests/support/workspace), into the OCI layout: the first
``--debug`` build of cmd/app0 (Delve built for linux/amd64 from a module mirror made by
scripts/go-modules), then, per round, a one-line edit built with ``--debug`` (Delve is
reused) and the same edit built normally, each in a workspace of its own. Target: the
second debug build adds nothing measurable over a normal one.
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
from bench.bench_vs_ko import edit_main  # noqa: E402
from tests.support.project import bench_env  # noqa: E402
from tests.support.workspace import write_workspace  # noqa: E402


def build(root: Path, env: dict[str, str], *extra: str) -> float:
    return kotasks(root, env, "build", *extra, "./cmd/app3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    proxy = subprocess.run(["bash", str(ROOT / "scripts/go-modules"),
                            "github.com/go-delve/delve/cmd/dlv@v1.27.2"], check=True,
                           capture_output=True, text=True).stdout.split()[-1]
    work = Path(tempfile.mkdtemp(prefix="kotasks-bench-"))
    try:
        debug, plain = write_workspace(work / "debug"), write_workspace(work / "plain")
        env = bench_env({"KOTASKS_QUIET": "1", "GOPROXY": proxy, "GOSUMDB": "off"})
        first = build(debug, env, "--debug")
        build(plain, env)
        debugs, plains = [], []
        for n in range(args.rounds):
            edit_main(debug, f"d{n}")
            debugs.append(build(debug, env, "--debug"))
            edit_main(plain, f"p{n}")
            plains.append(build(plain, env))
        print(f"--debug build of one image: first {first:.2f} s (Delve built); after an edit "
              f"{statistics.median(debugs):.2f} s, a normal build after the same edit "
              f"{statistics.median(plains):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
