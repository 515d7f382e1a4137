"""Load-time wiring: settings + ``go list`` → the packages to build, each with its inputs.

Nothing here runs a build; it decides *what* the tasks are, cheaply enough for a no-op run
(package listings are cached, see :mod:`kotasks.gobuild.packages`). It is ko's
``resolver.go``: ``.ko.yaml`` entries, flags and the environment meet here, once.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kotasks.errors import UserError
from kotasks.gobuild.build import BuildRequest, binary_name
from kotasks.gobuild.buildconfig import (
    BuildInputs,
    ResolvedEntry,
    build_inputs,
    entry_for,
    entry_for_local_path,
    render_flags,
    resolve_entries,
)
from kotasks.gobuild.packages import (
    GoPackage,
    PackageGraph,
    describe_package,
    load_package_graph,
)
from kotasks.gobuild.toolchain import Toolchain, build_environment, find_go
from kotasks.gobuild.vcs import repo_root, vcs_inputs
from kotasks.oci.descriptor import Platform
from kotasks.publish.target import PublishTarget
from kotasks.settings import Settings, check_no_toolexec
from kotasks.tasks.bases import platforms_for


@dataclass(frozen=True)
class PackageBuild:
    """One main package to build: paths are relative to the current directory."""

    key: str
    import_path: str
    package_dir: str
    workdir: str
    binary_name: str
    base_ref: str
    requests: tuple[BuildRequest, ...]
    #: for each request, the files its go build reads
    inputs: tuple[tuple[str, ...], ...]
    capability: bytes | None = None
    #: for each request, the modules of its non-local dependencies (None: not listed here,
    #: a package of another module's cache; such a binary is never in the build cache)
    modules: tuple[tuple[str, ...] | None, ...] = ()

    @property
    def kodata_dir(self) -> str:
        return os.path.join(self.package_dir, "kodata")

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return tuple(r.platform for r in self.requests)


@dataclass(frozen=True)
class ResolveInput:
    """A YAML file to resolve, and the ``ko://`` references in it (with their build keys)."""

    path: str
    source: str
    references: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """Everything the task factory needs."""

    settings: Settings
    tool: Toolchain
    go_version: str
    builds: tuple[PackageBuild, ...]
    target: PublishTarget
    resolves: tuple[ResolveInput, ...] = ()


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


class _Packages:
    """Package listings per module directory, and what a request names."""

    def __init__(self, settings: Settings, tool: Toolchain) -> None:
        self.settings, self.tool = settings, tool
        first = settings.platforms.specs[0] if settings.platforms.specs else None
        self.host = first.platform() if first and first.is_concrete else Platform("linux",
                                                                                  "amd64")

    def env(self, platform: Platform) -> dict[str, str]:
        return build_environment(platform, self.settings.environ,
                                 self.settings.config.default_env)

    def graph(self, directory: str, platform: Platform | None = None) -> PackageGraph:
        """The ``./...`` listing of a module directory as Go sees it for ``platform``."""
        return self._listing(directory, platform or self.host)

    @functools.cache  # noqa: B019 - one listing per directory and platform, per plan
    def _listing(self, directory: str, platform: Platform) -> PackageGraph:
        return load_package_graph(self.tool, directory, self.env(platform),
                                  self.settings.state_dir)

    def describe(self, directory: str, pattern: str) -> GoPackage:
        return describe_package(self.tool, directory, self.env(self.host), pattern)

    def request(self, request: str, entries: Sequence[ResolvedEntry]
                ) -> tuple[GoPackage, str]:
        """Map ``./cmd/app``, an import path or ``ko://…`` to (main package, its module dir)."""
        workdir = self.settings.workdir
        arg = request.removeprefix("ko://")
        local = arg == "." or arg.startswith(("./", "../")) or os.path.isabs(arg)
        root = self.graph(os.path.abspath(workdir))
        pkg = root.by_dir(os.path.join(workdir, arg)) if local else root.packages.get(arg)
        directory = root.root
        if pkg is None:
            resolved = (entry_for_local_path(entries, os.path.join(workdir, arg)) if local
                        else entry_for(entries, arg))
            if resolved is not None:
                pkg, directory = resolved.package, resolved.directory
            else:
                pkg = self.describe(workdir, arg)
        if not pkg.is_main:
            raise UserError(f"{request}: {pkg.import_path} is package {pkg.name}, not package "
                            "main (only main packages can be built into images)")
        return pkg, directory


def _requests(settings: Settings, tool: Toolchain, pkg: GoPackage, directory: str,
              inputs: BuildInputs, platforms: Sequence[Platform]) -> tuple[BuildRequest, ...]:
    out = []
    for platform in platforms:
        env = build_environment(platform, settings.environ, inputs.env)
        flags = render_flags(inputs.flags, tool, directory, env, settings.source_date_epoch)
        ldflags = render_flags(inputs.ldflags, tool, directory, env,
                               settings.source_date_epoch)
        for sourced, flag in zip(inputs.flags, flags, strict=True):
            check_no_toolexec([flag], "", sourced.where)
        check_no_toolexec([], env.get("GOFLAGS", ""), "GOFLAGS")
        out.append(BuildRequest(pkg.import_path, _rel(directory), platform, env, flags,
                                ldflags, settings.disable_optimizations))
    return tuple(out)


FileReferences = tuple[str, str, list[tuple[str, str]]]


def _references(settings: Settings, packages: _Packages, entries: Sequence[ResolvedEntry],
                chosen: list[tuple[GoPackage, str]]) -> list[FileReferences]:
    """Read the YAML inputs; add each ``ko://`` reference's package to ``chosen``.

    Returns (path, source, [(reference, import path)]) per file.
    """
    # imported here: a build that resolves nothing should not pay for the YAML machinery
    from kotasks.resolve.documents import decode, select
    from kotasks.resolve.inputs import input_files
    from kotasks.resolve.scan import find_ko_scalars
    from kotasks.resolve.selector import parse_selector

    found = []
    stdin_dir = os.path.join(settings.state_dir, "stdin")
    selector = parse_selector(settings.selector)
    for path in input_files(settings.filenames, settings.recursive, stdin_dir):
        source = "<stdin>" if path.startswith(stdin_dir + os.sep) else path
        with open(path, "rb") as f:
            text = decode(f.read(), source)
        if settings.selector:
            text = select(text, source, selector)
        references: dict[str, str] = {}
        for scalar in find_ko_scalars(text, source):
            if scalar.reference in references:
                continue
            try:
                pkg, directory = packages.request(scalar.reference, entries)
            except UserError as exc:
                raise UserError(f"{source}:{scalar.line}:{scalar.column}: {exc}") from None
            chosen.append((pkg, directory))
            references[scalar.reference] = pkg.import_path
        found.append((path, source, sorted(references.items())))
    return found


def make_plan(settings: Settings, requests: Sequence[str] | None = None,
              resolving: bool = False) -> Plan:
    """Decide the packages (all mains, or the requested ones, plus those the YAML inputs
    refer to when ``resolving``) and everything they need."""
    if settings.offline or "kotasks.registry.client" in sys.modules:  # not loaded for nothing
        from kotasks.registry.client import set_offline

        set_offline(settings.offline)
    env = settings.environ
    tool = Toolchain(find_go(env))
    packages = _Packages(settings, tool)
    workdir = os.path.abspath(settings.workdir)
    entries = resolve_entries(settings.config, workdir, repo_root(workdir), packages.graph,
                              packages.describe)
    if requests is None:
        chosen = [(p, workdir) for p in packages.graph(workdir).mains()]
        chosen += [(e.package, e.directory) for e in entries]
    else:
        chosen = [packages.request(r, entries) for r in requests]
    yaml_inputs = _references(settings, packages, entries, chosen) if resolving else []
    stamps = vcs_inputs(workdir, env)
    builds: dict[str, PackageBuild] = {}
    platforms_of = functools.cache(functools.partial(platforms_for, settings))
    # list every module directory for every platform at once: on a cold cache these are
    # `go list` runs, and the platforms of a multi-platform build need one each
    listings = {(directory, platform) for pkg, directory in chosen
                for platform in platforms_of(settings.base_for(pkg.import_path))}
    with ThreadPoolExecutor(max(1, min(len(listings), settings.jobs))) as pool:
        list(pool.map(lambda key: packages.graph(*key), sorted(listings, key=str)))
    for pkg, directory in chosen:
        if pkg.import_path in builds:
            continue
        base_ref = settings.base_for(pkg.import_path)
        platforms = platforms_of(base_ref)
        local = pkg.import_path in packages.graph(directory).packages
        inputs, modules = [], []
        for platform in platforms:
            graph = packages.graph(directory, platform)
            listed = graph.packages.get(pkg.import_path)
            files = graph.inputs(pkg.import_path) if listed else list(graph.module_files)
            inputs.append(tuple(_rel(p) for p in [*files, *stamps]))
            modules.append(listed.modules if listed else None)
        build = build_inputs(settings.config, entry_for(entries, pkg.import_path),
                             settings.ldflags)
        builds[pkg.import_path] = PackageBuild(
            key=task_key(pkg) if local else pkg.import_path,
            import_path=pkg.import_path,
            package_dir=_rel(pkg.dir),
            workdir=_rel(directory),
            binary_name=binary_name(pkg.import_path),
            base_ref=base_ref,
            requests=_requests(settings, tool, pkg, directory, build, platforms),
            inputs=tuple(inputs),
            capability=build.capability,
            modules=tuple(modules),
        )
    target = PublishTarget.from_settings(settings)
    resolves = tuple(ResolveInput(path, source, tuple((ref, builds[ip].key)
                                                      for ref, ip in references))
                     for path, source, references in yaml_inputs)
    return Plan(settings, tool, tool.version(), tuple(builds.values()), target, resolves)
