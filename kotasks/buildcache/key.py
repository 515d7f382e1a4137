"""The build cache key of a binary: everything that determines its bytes, content only.

The inputs are kept as a plain, sorted mapping (they go into the cached artifact's
annotations, so a miss can be explained by the first input that differs); the key is the
SHA-256 of their canonical JSON. Paths are relative to the build's directory and files are
named by the SHA-256 of their content: neither mtimes nor absolute paths enter a key.

A build whose output depends on what the key cannot see is never cached (:func:`uncacheable`):
cgo (the C toolchain), vendored sources, overlays, PGO profiles or module files named by a
flag, and repositories Go stamps but kotasks cannot read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from kotasks.gobuild.build import BuildRequest
from kotasks.gobuild.toolchain import relevant_environment

#: bump when what the key covers changes
KEY_FORMAT = 1
#: flags naming files whose content the key does not hold
_OPAQUE_FLAGS = ("-overlay", "-pgo", "-modfile", "-toolexec")


def uncacheable(request: BuildRequest) -> str:
    """Why this build cannot be cached ("" when it can)."""
    env = request.env
    if env.get("CGO_ENABLED", "0") != "0":
        return "cgo is enabled (the C toolchain is not part of the key)"
    words = [*env.get("GOFLAGS", "").split(), *request.flags]
    for word in words:
        name, _, value = word.lstrip("-").partition("=")
        if f"-{name}" in _OPAQUE_FLAGS and not (name == "pgo" and value in ("auto", "off")):
            return f"-{name} names files outside the key"
    if "-mod=vendor" in words or \
            os.path.exists(os.path.join(request.workdir, "vendor", "modules.txt")):
        return "vendored modules (their sources are not part of the key)"
    return ""


def key_inputs(go_version: str, request: BuildRequest, files: Mapping[str, str],
               modules: Sequence[str], vcs: Mapping[str, str]) -> dict[str, Any]:
    """The inputs of one binary's key: toolchain, platform, the environment Go sees,
    flags (build tags among them), rendered ldflags, ``files`` (path relative to the build
    directory → content SHA-256), the dependency ``modules`` and Go's VCS stamp."""
    return {
        "format": KEY_FORMAT,
        "go": go_version,
        "package": request.import_path,
        "platform": str(request.platform),
        "env": relevant_environment(request.env),
        "flags": list(request.flags),
        "ldflags": list(request.ldflags),
        "disable_optimizations": request.disable_optimizations,
        "files": dict(sorted(files.items())),
        "modules": sorted(modules),
        "vcs": dict(sorted(vcs.items())),
    }


def canonical(inputs: Mapping[str, Any]) -> str:
    """The inputs as canonical JSON (sorted keys, no spaces)."""
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"))


def key_digest(inputs: Mapping[str, Any]) -> str:
    """The key: the hex SHA-256 of the canonical inputs."""
    return hashlib.sha256(canonical(inputs).encode()).hexdigest()


def first_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The first input (in a fixed order) that differs between two keys' inputs, in words."""
    for name in ("format", "go", "package", "platform", "env", "flags", "ldflags",
                 "disable_optimizations", "files", "modules", "vcs"):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for item in sorted(set(before) | set(after)):
                if item not in before:
                    return f"{name}: {item} added"
                if item not in after:
                    return f"{name}: {item} removed"
                if before[item] != after[item]:
                    return f"{name}: {item} changed"
        if isinstance(before, list) and isinstance(after, list):
            added = sorted(set(map(str, after)) - set(map(str, before)))
            removed = sorted(set(map(str, before)) - set(map(str, after)))
            if added:
                return f"{name}: {added[0]} added"
            if removed:
                return f"{name}: {removed[0]} removed"
        return f"{name} changed ({json.dumps(before)} → {json.dumps(after)})"
    return "no input differs"
