"""What the last run did with the build cache, for ``kotasks cache``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from kotasks.fsutil import write_atomic

RECORDS = os.path.join("cache", "last-run.json")


def write_records(state_dir: str, repository: str,
                  binaries: Sequence[Mapping[str, str]]) -> None:
    """Record one run's keys: per binary its package, platform, key, hit/miss/off, why."""
    records = {"repository": repository, "binaries": [dict(b) for b in binaries]}
    write_atomic(os.path.join(state_dir, RECORDS), json.dumps(records, indent=2).encode())


def describe_last_run(state_dir: str) -> list[str]:
    """The lines ``kotasks cache`` prints: the cache, then one line per binary."""
    try:
        with open(os.path.join(state_dir, RECORDS), encoding="utf-8") as f:
            records = json.load(f)
    except FileNotFoundError:
        return ["no run here has used a build cache yet (set KOTASKS_CACHE_REPO)"]
    except ValueError as exc:
        return [f"{os.path.join(state_dir, RECORDS)} is unreadable ({exc}); the next run "
                "that uses the cache writes it again"]
    binaries = records.get("binaries") or []
    hits = sum(1 for b in binaries if b.get("result") == "hit")
    lines = [f"build cache {records.get('repository', '?')}, last run: {hits} hit, "
             f"{len(binaries) - hits} built here"]
    for b in binaries:
        line = f"{b.get('result', '?'):<5} {b.get('package', '?')} ({b.get('platform', '?')})"
        if b.get("why"):
            line += f": {b['why']}"
        if b.get("stored"):
            line += f"; {b['stored']}"
        lines.append(line)
    return lines
