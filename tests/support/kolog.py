"""ko v0.19.1 beside kotasks: where its binary is, and its log lines made comparable.

``scripts/test`` builds ko once per machine from the Go module proxy (never committed) and
passes it as ``KOTASKS_KO``. ko's lines carry a timestamp and ggcr's per-blob transfer lines
(``pushed blob: …``, ``existing manifest: …``, ``<ref>: digest: … size: …``), which kotasks
shows in its live view on a terminal instead; the rest must match line for line once the
digests (which differ between the tools: see docs) are masked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

KO_VERSION = "v0.19.1"
_TIMESTAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_DIGEST = re.compile(r"(sha256[:-]|:)[0-9a-f]{64}")
_TRANSFER = re.compile(r"^(pushed blob|existing blob|mounted blob|existing manifest): |"
                       r": digest: sha256:\S+ size: \d+$")


def ko_binary() -> str:
    """The ko binary the side-by-side tests run (a failure if it is missing)."""
    path = os.environ.get("KOTASKS_KO", "")
    if not path or not Path(path).is_file():
        pytest.fail(f"no ko binary (KOTASKS_KO): `bash scripts/test` builds ko {KO_VERSION}; "
                    f"or GOBIN=DIR go install github.com/google/ko@{KO_VERSION}")
    return path


def log_lines(stderr: str) -> list[str]:
    """stderr's log lines without timestamps, digests (and the daemon's digest tags)
    masked, ggcr's transfer lines out."""
    lines = []
    for line in stderr.splitlines():
        line = _DIGEST.sub(r"\1<digest>", _TIMESTAMP.sub("", line))
        if line and not _TRANSFER.search(line):
            lines.append(line)
    return lines
