"""A file-based GOPROXY with third-party modules made up for the test (no network)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def add_module(proxy: Path, module: str, version: str, files: dict[str, str]) -> None:
    """Publish ``module@version`` with ``files`` (path → content; go.mod is added)."""
    base = proxy / module / "@v"
    base.mkdir(parents=True, exist_ok=True)
    gomod = files.get("go.mod", f"module {module}\n\ngo 1.21\n")
    with zipfile.ZipFile(base / f"{version}.zip", "w") as archive:
        for name, content in {**files, "go.mod": gomod}.items():
            archive.writestr(f"{module}@{version}/{name}", content)
    (base / f"{version}.mod").write_text(gomod)
    (base / f"{version}.info").write_text(json.dumps({"Version": version,
                                                      "Time": "2024-01-01T00:00:00Z"}))
    listed = (base / "list").read_text().split() if (base / "list").exists() else []
    (base / "list").write_text("".join(f"{v}\n" for v in sorted({*listed, version})))


def greet_proxy(proxy: Path) -> dict[str, str]:
    """A proxy serving example.org/greet v1.0.0; returns the env that uses it."""
    add_module(proxy, "example.org/greet", "v1.0.0", {
        "greet.go": 'package greet\n\n// Hello greets.\nfunc Hello() string { return "hi from '
                    'greet v1.0.0" }\n',
        "LICENSE": "MIT\n",
    })
    return {"GOPROXY": f"file://{proxy}", "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
            "GONOSUMDB": "*"}
