"""The module's packages from ``go list``, and the exact source files each main package reads.

``go list -deps ./...`` costs 50–200 ms, too much for a no-op run, so its result is cached
under the state directory, keyed by the toolchain and the listing environment, and reused
while the source tree's :class:`~kotasks.gobuild.treestate.TreeState` still matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kotasks import __version__
from kotasks.errors import GoError, UserError
from kotasks.fsutil import write_atomic
from kotasks.gobuild.toolchain import Toolchain, relevant_environment
from kotasks.gobuild.treestate import TreeState

_FILE_FIELDS = ("GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles",
                "SFiles", "SwigFiles", "SwigCXXFiles", "SysoFiles", "EmbedFiles",
                "IgnoredGoFiles")
_FIELDS = ",".join(("ImportPath", "Name", "Dir", "Deps", "DepOnly", "Module", "Error",
                    *_FILE_FIELDS))


@dataclass(frozen=True)
class GoPackage:
    """One package of the module (or of a locally replaced module)."""

    import_path: str
    name: str
    dir: str
    files: tuple[str, ...]
    local_deps: tuple[str, ...]
    error: str = ""
    #: the modules (``path@version``, a replacement after `` => ``) of its non-local deps
    modules: tuple[str, ...] = ()

    @property
    def is_main(self) -> bool:
        return self.name == "main"


@dataclass(frozen=True)
class PackageGraph:
    """The local packages ``go list`` reported, keyed by import path."""

    root: str
    packages: dict[str, GoPackage]
    patterns: tuple[str, ...]
    matched: tuple[str, ...]
    module_files: tuple[str, ...]
    replace_dirs: tuple[str, ...] = field(default=())

    def mains(self) -> list[GoPackage]:
        """The ``package main`` packages matched by the listing patterns, by import path."""
        return sorted((self.packages[p] for p in self.matched if self.packages[p].is_main),
                      key=lambda p: p.import_path)

    def by_dir(self, directory: str | os.PathLike[str]) -> GoPackage | None:
        """The package whose directory is ``directory``, if listed."""
        wanted = os.path.realpath(directory)
        for pkg in self.packages.values():
            if os.path.realpath(pkg.dir) == wanted:
                return pkg
        return None

    def inputs(self, import_path: str) -> list[str]:
        """Every local file the build of ``import_path`` reads, sorted, plus go.mod/go.sum."""
        pkg = self.packages[import_path]
        files = set(pkg.files)
        for dep in pkg.local_deps:
            files.update(self.packages[dep].files)
        files.update(self.module_files)
        return sorted(files)


def _decode_stream(text: str) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def _is_local(module: Mapping[str, Any] | None) -> bool:
    if not module:
        return False
    if module.get("Main"):
        return True
    replace = module.get("Replace") or {}
    return bool(replace) and not replace.get("Version")


def _module_id(module: Mapping[str, Any]) -> str:
    """``path@version``, and `` => path@version`` of a replacement, for a module record."""
    text = f"{module.get('Path', '')}@{module.get('Version', '')}"
    replace = module.get("Replace") or {}
    if replace:
        text += f" => {replace.get('Path', '')}@{replace.get('Version', '')}"
    return text


def run_go_list(tool: Toolchain, cwd: str, env: Mapping[str, str], patterns: Sequence[str],
                tags: Sequence[str] = ()) -> PackageGraph:
    """Run ``go list -e -deps -json`` and keep the local packages and their files."""
    argv = [tool.go, "list", "-e", "-deps", f"-json={_FIELDS}"]
    if tags:
        argv.append("-tags=" + ",".join(tags))
    proc = tool.run([*argv, "--", *patterns], cwd=cwd, env=env)
    stderr = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        first = stderr.splitlines()[0] if stderr else f"exit status {proc.returncode}"
        raise GoError(f"go list in {cwd} failed: {first}", stderr)
    raw = list(_decode_stream(proc.stdout.decode()))
    packages: dict[str, GoPackage] = {}
    module_files: set[str] = set()
    replace_dirs: set[str] = set()
    local = {p["ImportPath"] for p in raw if _is_local(p.get("Module"))}
    module_of = {p["ImportPath"]: _module_id(p["Module"]) for p in raw
                 if p.get("Module") and p["ImportPath"] not in local}
    for p in raw:
        if p["ImportPath"] not in local:
            continue
        module = p.get("Module") or {}
        gomod = module.get("GoMod")
        if gomod:
            module_files.add(gomod)
            gosum = os.path.join(os.path.dirname(gomod), "go.sum")
            if os.path.exists(gosum):
                module_files.add(gosum)
        if not module.get("Main") and module.get("Dir"):
            replace_dirs.add(module["Dir"])
        directory = p.get("Dir", "")
        names = [f for fld in _FILE_FIELDS for f in p.get(fld) or ()]
        if p.get("Name") == "main" and os.path.isfile(os.path.join(directory, "default.pgo")):
            names.append("default.pgo")  # go build's -pgo=auto reads it
        files = tuple(sorted(os.path.join(directory, f) for f in names))
        deps = tuple(d for d in p.get("Deps") or () if d in local)
        error = (p.get("Error") or {}).get("Err", "")
        modules = tuple(sorted({module_of[d] for d in p.get("Deps") or () if d in module_of}))
        packages[p["ImportPath"]] = GoPackage(p["ImportPath"], p.get("Name", ""), directory,
                                              files, deps, error, modules)
    work = os.path.join(cwd, "go.work")
    if os.path.exists(work):
        module_files.add(os.path.abspath(work))
    matched = tuple(p["ImportPath"] for p in raw
                    if not p.get("DepOnly") and p["ImportPath"] in local)
    return PackageGraph(cwd, packages, tuple(patterns), matched, tuple(sorted(module_files)),
                        tuple(sorted(replace_dirs)))


def _encode(graph: PackageGraph) -> dict[str, Any]:
    return {"root": graph.root, "patterns": list(graph.patterns), "matched": list(graph.matched),
            "module_files": list(graph.module_files), "replace_dirs": list(graph.replace_dirs),
            "packages": {k: [p.name, p.dir, list(p.files), list(p.local_deps), p.error,
                             list(p.modules)] for k, p in graph.packages.items()}}


def _decode(data: dict[str, Any]) -> PackageGraph:
    packages = {k: GoPackage(k, v[0], v[1], tuple(v[2]), tuple(v[3]), v[4], tuple(v[5]))
                for k, v in data["packages"].items()}
    return PackageGraph(data["root"], packages, tuple(data["patterns"]), tuple(data["matched"]),
                        tuple(data["module_files"]), tuple(data["replace_dirs"]))


def load_package_graph(tool: Toolchain, module_dir: str, env: Mapping[str, str],
                       cache_dir: str | os.PathLike[str], tags: Sequence[str] = ()) -> PackageGraph:
    """Return the ``./...`` listing of ``module_dir``, from the cache while it still holds."""
    root = os.path.abspath(module_dir)
    if not os.path.isdir(root):
        raise UserError(f"{module_dir}: no such directory")
    key_data = [__version__, root, list(tool.identity()), relevant_environment(env), list(tags)]
    key = hashlib.sha256(json.dumps(key_data).encode()).hexdigest()[:24]
    cache = Path(cache_dir) / "golist" / f"{key}.json"
    try:
        cached = json.loads(cache.read_bytes())
        graph = _decode(cached["graph"])
        state = TreeState.from_json(cached["tree"])
        known = state.to_json()
        if state.matches((root, *graph.replace_dirs), graph.module_files):
            if state.to_json() != known:  # only mtimes moved: remember them
                _write_cache(cache, graph, state)
            return graph
    except (FileNotFoundError, ValueError, KeyError, TypeError, IndexError):
        pass
    before = TreeState.capture([root])
    graph = run_go_list(tool, root, env, ["./..."], tags)
    if TreeState.capture([root]) == before:  # nothing moved while `go list` ran
        _write_cache(cache, graph, TreeState.capture((root, *graph.replace_dirs),
                                                     graph.module_files))
    return graph


def _write_cache(cache: Path, graph: PackageGraph, state: TreeState) -> None:
    write_atomic(cache, json.dumps({"graph": _encode(graph), "tree": state.to_json()}).encode())

def describe_package(tool: Toolchain, cwd: str, env: Mapping[str, str],
                     pattern: str) -> GoPackage:
    """List one package (local or from a dependency module) without its dependencies.

    Raises UserError when ``go list`` finds no package there.
    """
    proc = tool.run([tool.go, "list", "-e", "-json=ImportPath,Name,Dir,Error,Module", "--",
                     pattern], cwd=cwd, env=env)
    stderr = proc.stderr.decode(errors="replace").strip()
    found = list(_decode_stream(proc.stdout.decode())) if proc.returncode == 0 else []
    if len(found) != 1:
        reason = stderr.splitlines()[0] if stderr else f"{len(found)} packages match"
        raise UserError(f"{pattern}: no Go package found ({reason})")
    p = found[0]
    error = (p.get("Error") or {}).get("Err", "")
    if not p.get("Name"):
        reason = error.splitlines()[0] if error else "no Go files"
        raise UserError(f"{pattern}: no Go package found ({reason})")
    return GoPackage(p["ImportPath"], p["Name"], p.get("Dir", ""), (), (), error)
