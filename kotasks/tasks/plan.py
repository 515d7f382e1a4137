"""Load-time wiring: settings + ``go list`` → the packages to build, each with its inputs.

Nothing here runs a build; it decides *what* the tasks are, cheaply enough for a no-op run
(the package listing is cached, see :mod:`kotasks.gobuild.packages`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kotasks.errors import UserError
from kotasks.gobuild.build import binary_name
from kotasks.gobuild.packages import (
    GoPackage,
    PackageGraph,
    describe_package,
    load_package_graph,
)
from kotasks.gobuild.toolchain import Toolchain, build_environment, find_go
from kotasks.oci.descriptor import Platform
from kotasks.publish.target import PublishTarget
from kotasks.settings import Settings


@dataclass(frozen=True)
class PackageBuild:
    """One main package to build: paths are relative to the current directory."""

    key: str
    import_path: str
    package_dir: str
    workdir: str
    binary_name: str
    inputs: tuple[str, ...]
    base_ref: str
    platforms: tuple[Platform, ...]

    @property
    def kodata_dir(self) -> str:
        return os.path.join(self.package_dir, "kodata")


@dataclass(frozen=True)
class Plan:
    """Everything the task factory needs."""

    settings: Settings
    tool: Toolchain
    go_version: str
    builds: tuple[PackageBuild, ...]
    target: PublishTarget


def _rel(path: str) -> str:
    return os.path.relpath(path) if os.path.isabs(path) else os.path.normpath(path)


def task_key(pkg: GoPackage) -> str:
    """The name a package has in task names: its directory, or its import path."""
    if not pkg.dir:
        return pkg.import_path
    rel = os.path.relpath(pkg.dir)
    if rel == "." or rel.startswith(".."):
        return pkg.import_path
    return rel.replace(os.sep, "/")


def vcs_inputs(workdir: str, environ: Mapping[str, str]) -> list[str]:
    """Git files whose change changes Go's VCS stamp (``vcs.revision``) in the binary.

    Go stamps binaries built inside a git repository with the HEAD commit; without these
    file dependencies a commit would not rebuild anything. (``vcs.modified`` follows the
    working tree's state, which is not tracked: set ``GOFLAGS=-buildvcs=false`` for
    binaries that depend on nothing but their sources.)
    """
    if "-buildvcs=false" in environ.get("GOFLAGS", "").split():
        return []
    directory = os.path.abspath(workdir)
    while True:
        git = os.path.join(directory, ".git")
        if os.path.isfile(git):  # a worktree: "gitdir: <path>"
            with open(git) as f:
                git = os.path.join(directory, f.read().partition("gitdir:")[2].strip())
        if os.path.isdir(git):
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            return []
        directory = parent
    head = os.path.join(git, "HEAD")
    found = [head]
    try:
        with open(head) as f:
            target = f.read().strip().partition("ref:")[2].strip()
    except OSError:
        return []
    for candidate in (os.path.join(git, target) if target else "",
                      os.path.join(git, "packed-refs")):
        if candidate and os.path.isfile(candidate):
            found.append(candidate)
            break
    return found


def _platforms(settings: Settings) -> tuple[Platform, ...]:
    selection = settings.platforms
    if selection.all or not all(spec.is_concrete for spec in selection.specs):
        raise UserError(f"platform {selection}: name each platform as os/arch[/variant]")
    return tuple(spec.platform() for spec in selection.specs)


def _resolve_request(graph: PackageGraph, tool: Toolchain, workdir: str,
                     env: Mapping[str, str], request: str) -> GoPackage:
    """Map a CLI argument (``./cmd/app``, an import path, ``ko://…``) to a main package."""
    arg = request.removeprefix("ko://")
    local = arg == "." or arg.startswith(("./", "../")) or os.path.isabs(arg)
    pkg = graph.by_dir(os.path.join(workdir, arg)) if local else graph.packages.get(arg)
    if pkg is None:
        pkg = describe_package(tool, workdir, env, arg)
    if not pkg.is_main:
        raise UserError(f"{request}: {pkg.import_path} is package {pkg.name}, not package main "
                        "(only main packages can be built into images)")
    return pkg


def make_plan(settings: Settings, requests: Sequence[str] | None = None) -> Plan:
    """Decide the packages (all mains under the module, or the requested ones) and inputs."""
    env = settings.environ
    tool = Toolchain(find_go(env))
    platforms = _platforms(settings)
    list_env = build_environment(platforms[0], env, settings.config.default_env)
    graph = load_package_graph(tool, settings.workdir, list_env, settings.state_dir)
    if requests is None:
        packages = graph.mains()
    else:
        packages = [_resolve_request(graph, tool, settings.workdir, list_env, r)
                    for r in requests]
    stamps = vcs_inputs(settings.workdir, env)
    builds = []
    seen: set[str] = set()
    for pkg in packages:
        if pkg.import_path in seen:
            continue
        seen.add(pkg.import_path)
        local = pkg.import_path in graph.packages
        inputs = graph.inputs(pkg.import_path) if local else list(graph.module_files)
        inputs += stamps
        builds.append(PackageBuild(
            key=task_key(pkg) if local else pkg.import_path,
            import_path=pkg.import_path,
            package_dir=_rel(pkg.dir),
            workdir=_rel(settings.workdir),
            binary_name=binary_name(pkg.import_path),
            inputs=tuple(_rel(p) for p in inputs),
            base_ref=settings.base_for(pkg.import_path),
            platforms=platforms,
        ))
    target = PublishTarget(sinks=settings.sinks, docker_repo=settings.docker_repo,
                           layout_path=settings.layout_path, tags=settings.tags,
                           tag_only=settings.tag_only, naming=settings.naming,
                           insecure=settings.insecure, jobs=settings.jobs,
                           embedded_default=settings.embedded_default)
    return Plan(settings, tool, tool.version(), tuple(builds), target)
