"""kotasks' tar writer produces the bytes of Go's archive/tar (ko's tar writer) exactly."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kotasks.oci.tarwriter import TarWriter
from tests.support.project import FIXTURES, build_env

CAP = bytes.fromhex("0100000200040000000000000000000000000000")

CASES: dict[str, list[dict[str, Any]]] = {
    "ko binary layer": [
        {"name": "ko-app", "dir": True},
        {"name": "/ko-app/app", "data": b"\x7fELF" + bytes(range(256)) * 5},
    ],
    "capability xattr (PAX)": [
        {"name": "ko-app", "dir": True},
        {"name": "/ko-app/app", "data": b"binary", "pax": {
            "SCHILY.xattr.security.capability": CAP}},
    ],
    "kodata with epoch": [
        {"name": "/var", "dir": True, "mtime": 1700000000},
        {"name": "/var/run", "dir": True, "mtime": 1700000000},
        {"name": "/var/run/ko", "dir": True, "mtime": 1700000000},
        {"name": "/var/run/ko/index.html", "data": b"<p>hi</p>\n", "mtime": 1700000000},
        {"name": "/var/run/ko/empty", "data": b"", "mtime": 1},
    ],
    "long and unicode names": [
        {"name": "/var/run/ko/" + "d" * 90 + "/" + "f" * 70, "data": b"x"},
        {"name": "/var/run/ko/" + "n" * 130, "data": b"y"},
        {"name": "/var/run/ko/caf\u00e9/h\u00e9llo.txt", "data": b"z"},
        {"name": "/var/run/ko/" + "p" * 200, "dir": True},
    ],
    "windows layout": [
        {"name": "Hives", "dir": True},
        {"name": "Files", "dir": True},
        {"name": "Files/ko-app", "dir": True},
        {"name": "Files/ko-app/app", "data": b"MZ", "pax": {"MSWINDOWS.rawsd": b"AQAAgBQ="}},
    ],
}


@pytest.fixture(scope="module")
def gotar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gotar") / "gotar"
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=FIXTURES / "gotar",
                   env=build_env(), check=True, capture_output=True)
    return out


def _go_bytes(gotar: Path, entries: list[dict[str, Any]]) -> bytes:
    spec = [{"name": e["name"], "dir": e.get("dir", False), "mode": 0o555,
             "mtime": e.get("mtime", 0),
             "data": base64.b64encode(e.get("data", b"")).decode(),
             "pax": {k: base64.b64encode(v).decode() for k, v in e.get("pax", {}).items()}}
            for e in entries]
    return subprocess.run([str(gotar)], input=json.dumps(spec).encode(), capture_output=True,
                          check=True, env={**os.environ}).stdout


def _our_bytes(entries: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    tar = TarWriter(out.write)
    for e in entries:
        if e.get("dir"):
            tar.add_directory(e["name"], 0o555, e.get("mtime", 0), e.get("pax"))
        else:
            data = e.get("data", b"")
            tar.add_file(e["name"], len(data), io.BytesIO(data), 0o555, e.get("mtime", 0),
                         e.get("pax"))
    tar.close()
    return out.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
def test_tar_bytes_equal_go_archive_tar(gotar: Path, case: str) -> None:
    assert _our_bytes(CASES[case]) == _go_bytes(gotar, CASES[case])


def test_file_that_changes_size_while_archived_is_an_error() -> None:
    tar = TarWriter(io.BytesIO().write)
    with pytest.raises(Exception, match="shrank"):
        tar.add_file("/ko-app/app", 10, io.BytesIO(b"short"))
    with pytest.raises(Exception, match="grew"):
        tar.add_file("/ko-app/app", 2, io.BytesIO(b"longer"))
