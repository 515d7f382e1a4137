"""``--debug`` images: Delve (built once per version and platform, from a module mirror) as a
layer of its own, the entrypoint wrapped in it, the app without optimizations; and Delve
really serving the app headless on :40000 under runc."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_manifest
from tests.support.images import skopeo_config
from tests.support.project import EXAMPLES, copy_module, md5, run_kotasks
from tests.support.runtime import running
from tests.support.workspace import counting_go, go_builds

pytestmark = pytest.mark.slow

APP = "example.com/hello/cmd/app"
DELVE = "github.com/go-delve/delve/cmd/dlv"
ENTRYPOINT = ["/ko-app/dlv", "exec", "--listen=:40000", "--headless", "--log",
              "--accept-multiclient", "--api-version=2", "--", "/ko-app/app"]


@pytest.fixture(scope="module")
def delve_env() -> dict[str, str]:
    """Go settings that fetch Delve from the module mirror scripts/test makes."""
    proxy = os.environ.get("KOTASKS_DELVE_GOPROXY", "")
    if not proxy.startswith("file://"):
        pytest.fail("no Delve module mirror (KOTASKS_DELVE_GOPROXY): run `bash scripts/go-modules "
                    f"{DELVE}@v1.27.2` (scripts/test does)", pytrace=False)
    return {"GOPROXY": proxy, "GOFLAGS": "-mod=mod", "GOSUMDB": "off"}


@pytest.fixture(scope="module")
def debug_build(tmp_path_factory: pytest.TempPathFactory,
                delve_env: dict[str, str]) -> tuple[Path, dict[str, str], Path, list[str]]:
    """examples/hello with both images built with --debug (linux/amd64) into the layout."""
    top = tmp_path_factory.mktemp("debug")
    hello = copy_module(EXAMPLES / "hello", top / "hello")
    wrapper, calls = counting_go(top)
    env = {**delve_env, "KO_GO_PATH": str(wrapper)}
    report = top / "report.json"
    refs = run_kotasks(hello, "build", "--debug", f"--report={report}", "./cmd/app",
                       "./cmd/worker", env=env).ok().refs
    return hello, env, calls, [*refs, report.read_text()]


def test_debug_image_layout_is_kos(debug_build: tuple[Path, dict[str, str], Path, list[str]]
                                   ) -> None:
    hello, _, calls, (app, _, report) = debug_build
    config = skopeo_config(f"oci:{hello}/.kotasks/oci:app-{md5(APP)}:latest")
    assert config["config"]["Entrypoint"] == ENTRYPOINT
    assert config["history"][-1]["comment"] == "Delve debugger, at /ko-app/dlv"
    layout = Layout(hello / ".kotasks/oci")
    manifest = parse_manifest(layout.read(app.split("@")[1]))
    assert len(manifest.layers) == 3 and len(config["rootfs"]["diff_ids"]) == 3
    # Delve built once for the two images; the app without optimizations
    assert [p for _, p in go_builds(calls) if DELVE in p] == [[DELVE]]
    info = subprocess.run(["go", "version", "-m", str(hello / ".kotasks/bin/cmd/app/"
                                                    "linux-amd64/app")],
                          capture_output=True, text=True, check=True).stdout
    assert '-gcflags="all=-N -l"' in info
    assert {image["package"]: image["debug"] for image in json.loads(report)["images"]} == {
        APP: True, "example.com/hello/cmd/worker": True}


def test_a_second_run_builds_nothing(debug_build: tuple[Path, dict[str, str], Path, list[str]]
                                     ) -> None:
    hello, env, calls, _ = debug_build
    calls.unlink()
    again = run_kotasks(hello, "build", "--debug", "./cmd/app", "./cmd/worker", env=env).ok()
    assert again.executed == [] and go_builds(calls) == []


class DelveClient:
    """Delve's JSON-RPC API (net/rpc/jsonrpc) over TCP."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        request = {"method": f"RPCServer.{method}", "params": [params], "id": self.next_id}
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        decoder = json.JSONDecoder()
        while True:
            text = self.buffer.decode(errors="replace").lstrip()
            try:
                reply, end = decoder.raw_decode(text)
                self.buffer = text[end:].encode()
                break
            except ValueError:
                chunk = self.sock.recv(65536)
                assert chunk, "Delve closed the connection"
                self.buffer += chunk
        assert reply["id"] == self.next_id and not reply.get("error"), reply
        return dict(reply["result"])


def test_delve_serves_the_app_and_stops_at_main(
        debug_build: tuple[Path, dict[str, str], Path, list[str]], tmp_path: Path) -> None:
    hello, *_ = debug_build
    with running(f"{hello}/.kotasks/oci:app-{md5(APP)}:latest", tmp_path) as log:
        try:
            delve = DelveClient(40000)
            state = delve.call("State", {"NonBlocking": True})["State"]
            assert not state.get("exited")
            delve.call("CreateBreakpoint", {"Breakpoint": {"functionName": "main.main"}})
            stopped = delve.call("Command", {"name": "continue"})["State"]
            assert stopped["currentThread"]["breakPoint"]["functionName"] == "main.main"
            goroutines = delve.call("ListGoroutines", {"Start": 0, "Count": 10})
            assert goroutines["Goroutines"]
        except (OSError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None


def test_arm64_debug_image_carries_an_arm64_delve(delve_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    hello = copy_module(EXAMPLES / "hello", tmp_path / "hello")
    run_kotasks(hello, "build", "--debug", "--platform=linux/arm64", "./cmd/app",
                env=delve_env).ok()
    dlv = hello / ".kotasks/delve/v1.27.2/linux-arm64/dlv"
    assert "ARM aarch64" in subprocess.run(["file", "-b", str(dlv)], capture_output=True,
                                           text=True).stdout
    version = subprocess.run(["qemu-aarch64-static", str(dlv), "version"], capture_output=True,
                             text=True, timeout=120).stdout
    assert version.startswith("Delve Debugger\nVersion: 1.27.2")


def test_other_platforms_are_built_without_delve(delve_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    hello = copy_module(EXAMPLES / "hello", tmp_path / "hello")
    result = run_kotasks(hello, "build", "--debug", "--platform=linux/arm/v7", "./cmd/app",
                         env=delve_env).ok()
    assert ("kotasks: --debug: Delve runs on linux/amd64 and linux/arm64 only; images for "
            "linux/arm/v7 are built without it") in result.stderr
    config = skopeo_config(f"oci:{hello}/.kotasks/oci:app-{md5(APP)}:latest")
    assert config["config"]["Entrypoint"] == ["/ko-app/app"]
    assert not result.ran("delve")
