"""``builds[]`` entries: which one a package uses, and the env, flags and ldflags it gets.

Matching is ko's (spec §9.3): an entry's ``dir``/``main`` is resolved to a package with
``go list`` in ``dir`` (so an entry may name a package of another module in the repository);
a request matches an entry by import path, or by a local path that lies under its ``dir``.
Precedence is ko's: ``--ldflags`` > the entry's ``ldflags`` > ``defaultLdflags``; the entry's
``env``/``flags`` replace the defaults, never merge. Flags and ldflags are templates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kotasks.config import BuildConfig, KoConfig
from kotasks.errors import ConfigError, KotasksError
from kotasks.gobuild.caps import capability_xattr
from kotasks.gobuild.packages import GoPackage, PackageGraph
from kotasks.gobuild.toolchain import Toolchain


@dataclass(frozen=True)
class ResolvedEntry:
    """A ``builds[]`` entry with the package its ``dir``/``main`` names."""

    entry: BuildConfig
    directory: str
    package: GoPackage


@dataclass(frozen=True)
class Sourced:
    """A flag value and where it came from (``builds[0].ldflags[1]``, ``--ldflags``…)."""

    value: str
    where: str


@dataclass(frozen=True)
class BuildInputs:
    """What one package is built with, before templates are applied."""

    env: tuple[str, ...]
    flags: tuple[Sourced, ...]
    ldflags: tuple[Sourced, ...]
    capability: bytes | None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_entries(config: KoConfig, workdir: str, repo_root: str,
                    graph_for: Callable[[str], PackageGraph],
                    describe: Callable[[str, str], GoPackage]) -> list[ResolvedEntry]:
    """Resolve every ``builds[]`` entry to its package; errors name the entry's key."""
    resolved = []
    where = config.path or ".ko.yaml"
    for entry in config.builds:
        key = f"builds[{entry.index}]"
        directory = os.path.realpath(os.path.join(workdir, entry.dir))
        if not _inside(directory, os.path.realpath(repo_root)):
            raise ConfigError(where, f"{key}.dir", f"{entry.dir!r} is outside the repository "
                                                   f"{repo_root}")
        if not os.path.isdir(directory):
            raise ConfigError(where, f"{key}.dir", f"{entry.dir!r} is not a directory")
        main = os.path.join(directory, entry.main)
        if os.path.isfile(main):
            main = os.path.dirname(main)
        if not os.path.exists(main):
            raise ConfigError(where, f"{key}.main", f"{entry.main!r} does not exist in "
                                                    f"{entry.dir!r}")
        package = graph_for(directory).by_dir(main)
        if package is None:
            try:
                package = describe(directory, "./" + os.path.relpath(main, directory))
            except KotasksError as exc:
                raise ConfigError(where, f"{key}.main", f"{entry.main!r}: {exc}") from None
        if not package.is_main:
            raise ConfigError(where, f"{key}.main", f"{package.import_path} is package "
                                                    f"{package.name}, not package main")
        resolved.append(ResolvedEntry(entry, directory, package))
    return resolved


def entry_for(entries: Sequence[ResolvedEntry], import_path: str) -> ResolvedEntry | None:
    """The entry for an import path (a later duplicate wins, as in ko's map)."""
    found = None
    for resolved in entries:
        if resolved.package.import_path == import_path:
            found = resolved
    return found


def entry_for_local_path(entries: Sequence[ResolvedEntry], path: str) -> ResolvedEntry | None:
    """The first entry whose ``dir`` holds a local path, for packages outside the module."""
    target = os.path.realpath(path)
    for resolved in entries:
        if _inside(target, resolved.directory) and os.path.realpath(
                resolved.package.dir) == target:
            return resolved
    return None


def build_inputs(config: KoConfig, resolved: ResolvedEntry | None,
                 cli_ldflags: Sequence[str]) -> BuildInputs:
    """Apply ko's precedence to an entry (or none) and the defaults."""
    entry = resolved.entry if resolved else None
    where = config.path or ".ko.yaml"
    key = f"builds[{entry.index}]" if entry else ""

    def pick(own: tuple[str, ...] | None, name: str, default: tuple[str, ...],
             default_name: str) -> tuple[Sourced, ...]:
        if own is not None:
            return tuple(Sourced(v, f"{where}: {key}.{name}[{i}]") for i, v in enumerate(own))
        source = config.where(default_name)
        return tuple(Sourced(v, f"{source}[{i}]") for i, v in enumerate(default))

    env = entry.env if entry and entry.env is not None else config.default_env
    flags = pick(entry.flags if entry else None, "flags", config.default_flags, "defaultFlags")
    if cli_ldflags:
        ldflags = tuple(Sourced(v, "--ldflags") for v in cli_ldflags)
    else:
        ldflags = pick(entry.ldflags if entry else None, "ldflags", config.default_ldflags,
                       "defaultLdflags")
    capability = None
    if entry and entry.linux_capabilities:
        capability = capability_xattr(entry.linux_capabilities, where,
                                      f"{key}.linux_capabilities")
    return BuildInputs(tuple(env), flags, ldflags, capability)


def render_flags(values: Sequence[Sourced], tool: Toolchain, directory: str,
                 env: Mapping[str, str], source_date_epoch: int | None) -> tuple[str, ...]:
    """Expand the templates in flags or ldflags; an error names the value's key."""
    if not any("{{" in v.value for v in values):
        out = tuple(v.value for v in values)
    else:
        # imported here: most builds have no template, and these cost a no-op run time
        from kotasks.gobuild.templatedata import template_data
        from kotasks.gobuild.templates import TemplateError, render

        data = template_data(tool, directory, env, source_date_epoch)
        rendered = []
        for value in values:
            try:
                rendered.append(render(value.value, data))
            except TemplateError as exc:
                raise ConfigError(value.where, "", f"template {value.value!r}: {exc}") from None
        out = tuple(rendered)
    return out
