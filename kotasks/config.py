"""``.ko.yaml``: discovery, parsing and validation into one immutable :class:`KoConfig`.

Keys are matched case-insensitively (viper's behaviour); ``KO_<KEY>`` environment variables
override the scalar keys; unknown keys get a warning naming the nearest valid key. Every
malformed value is a :class:`ConfigError` naming the file, the key path and what was expected.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kotasks.errors import ConfigError, UserError
from kotasks.fsutil import write_atomic

log = logging.getLogger("kotasks")

TOP_KEYS = ("defaultBaseImage", "baseImageOverrides", "defaultPlatforms", "defaultEnv",
            "defaultFlags", "defaultLdflags", "builds", "cacheRepo")
BUILD_KEYS = ("id", "dir", "main", "env", "flags", "ldflags", "linux_capabilities")
#: goreleaser fields ko's struct carries but ignores; accepted without a warning
IGNORED_BUILD_KEYS = ("goos", "goarch", "goarm", "gomips", "targets", "binary", "lang",
                      "asmflags", "gcflags", "mod_timestamp", "gobinary", "hooks", "skip",
                      "tags", "buildmode")
CONFIG_NAMES = (".ko.yaml", ".ko.yml")


@dataclass(frozen=True)
class BuildConfig:
    """One ``builds[]`` entry."""

    index: int
    id: str
    dir: str = "."
    main: str = "."
    env: tuple[str, ...] | None = None
    flags: tuple[str, ...] | None = None
    ldflags: tuple[str, ...] | None = None
    linux_capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class KoConfig:
    """The validated content of ``.ko.yaml`` merged with its ``KO_*`` overrides."""

    path: str = ""
    default_base_image: str = ""
    base_image_overrides: Mapping[str, str] = field(default_factory=dict)
    default_platforms: tuple[str, ...] = ()
    default_env: tuple[str, ...] = ()
    default_flags: tuple[str, ...] = ()
    default_ldflags: tuple[str, ...] = ()
    builds: tuple[BuildConfig, ...] = ()
    #: kotasks' own: the build cache repository
    cache_repo: str = ""
    #: where each setting came from, for error messages: key -> "file: key" or "ENV_VAR"
    sources: Mapping[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """Describe where ``key``'s value came from (a file and key, or an env var)."""
        return self.sources.get(key, f"{self.path or '.ko.yaml'}: {key}")


def find_config(workdir: str, environ: Mapping[str, str]) -> Path | None:
    """Locate ``.ko.yaml``: ``KO_CONFIG_PATH`` (file or directory), else the working dir."""
    explicit = environ.get("KO_CONFIG_PATH")
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise UserError(f"KO_CONFIG_PATH={explicit}: no such file or directory")
        if path.is_dir():
            for name in CONFIG_NAMES:
                if (path / name).is_file():
                    return path / name
            raise UserError(f"KO_CONFIG_PATH={explicit}: directory has no regular .ko.yaml "
                            "file")
        return path
    for name in CONFIG_NAMES:
        candidate = Path(workdir) / name
        if candidate.is_file():
            return candidate
    return None


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"{type(value).__name__} {value!r}"


def _string(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, key, f"expected a string, got {_type_name(value)}")
    return value


def string_list(value: Any, where: str, key: str, scalar_splits: bool = True) -> tuple[str, ...]:
    """A list of strings, or a scalar (split on whitespace, or kept whole)."""
    if isinstance(value, str):
        return tuple(value.split()) if scalar_splits else (value,)
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(where, f"{key}[{i}]",
                                  f"expected a string, got {_type_name(item)}")
            out.append(item)
        return tuple(out)
    raise ConfigError(where, key, f"expected a list of strings, got {_type_name(value)}")


def env_entries(value: Any, where: str, key: str) -> tuple[str, ...]:
    """A list of ``KEY=VALUE`` strings (a scalar splits on whitespace)."""
    entries = string_list(value, where, key)
    for i, entry in enumerate(entries):
        name, sep, _ = entry.partition("=")
        if not sep or not name:
            raise ConfigError(where, f"{key}[{i}]", f"expected KEY=VALUE, got {entry!r}")
    return entries


def _warn_unknown(key: str, valid: tuple[str, ...], where: str, path: str) -> None:
    lowered = {k.lower(): k for k in valid}
    near = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.5)
    hint = f" (did you mean {lowered[near[0]]!r}?)" if near else ""
    log.warning("%s: %s: unknown key, ignored%s", where, path, hint)


def _parse_builds(value: Any, where: str) -> tuple[BuildConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, "builds", f"expected a list of build entries, got "
                                           f"{_type_name(value)}")
    builds: list[BuildConfig] = []
    ids: dict[str, int] = {}
    for i, entry in enumerate(value):
        key = f"builds[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(where, key, f"expected a mapping, got {_type_name(entry)}")
        fields: dict[str, Any] = {}
        for raw_key, item in entry.items():
            name = str(raw_key)
            if name in BUILD_KEYS:
                fields[name] = item
            elif name.lower() not in IGNORED_BUILD_KEYS:
                _warn_unknown(name, BUILD_KEYS, where, f"{key}.{name}")
        build_id = _string(fields.get("id", f"#{i}"), where, f"{key}.id")
        if build_id in ids:
            raise ConfigError(where, f"{key}.id", f"duplicate build id {build_id!r} (also "
                                                  f"builds[{ids[build_id]}].id)")
        ids[build_id] = i
        builds.append(BuildConfig(
            index=i, id=build_id,
            dir=_string(fields.get("dir", "."), where, f"{key}.dir") or ".",
            main=_string(fields.get("main", "."), where, f"{key}.main") or ".",
            env=env_entries(fields["env"], where, f"{key}.env") if "env" in fields else None,
            flags=string_list(fields["flags"], where, f"{key}.flags")
            if "flags" in fields else None,
            ldflags=string_list(fields["ldflags"], where, f"{key}.ldflags", scalar_splits=False)
            if "ldflags" in fields else None,
            linux_capabilities=string_list(fields.get("linux_capabilities", []), where,
                                           f"{key}.linux_capabilities"),
        ))
    return tuple(builds)


def parse_config(text: str, where: str) -> dict[str, Any]:
    """Parse YAML text that must be a mapping (an empty file is an empty mapping)."""
    import yaml  # here: most runs read the parsed file from the cache (see _read_config)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(where, "", f"invalid YAML{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(where, "", f"expected a mapping of settings at the top level, got "
                                     f"{_type_name(data)}")
    return dict(data)


def _read_config(path: Path, where: str, cache_dir: str | None) -> dict[str, Any]:
    """Parse the file, or take what a previous run parsed while the file is unchanged.

    Importing and running the YAML parser is a tenth of a no-op run; the cache holds the
    parsed mapping only when it survives a JSON round trip unchanged.
    """
    cache = os.path.join(cache_dir, "config.json") if cache_dir else ""
    try:
        st = path.stat()
    except OSError as exc:
        raise UserError(f"{where}: cannot read: {exc}") from None
    key = [str(path.resolve()), st.st_mtime_ns, st.st_size]
    if cache:
        try:
            with open(cache, encoding="utf-8") as f:
                cached = json.load(f)
            if cached["key"] == key:
                data: dict[str, Any] = cached["data"]
                return data
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: cannot read: {exc}") from None
    raw = parse_config(text, where)
    if cache:
        try:
            encoded = json.dumps({"key": key, "data": raw})
            if json.loads(encoded)["data"] == raw:
                write_atomic(cache, encoded.encode())
        except (TypeError, ValueError, OSError):
            pass
    return raw


def load_config(workdir: str, environ: Mapping[str, str],
                cache_dir: str | None = None) -> KoConfig:
    """Find, read and validate ``.ko.yaml`` and apply the ``KO_*`` overrides."""
    path = find_config(workdir, environ)
    where = os.path.relpath(path) if path is not None else ".ko.yaml"
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_config(path, where, cache_dir)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    lowered = {k.lower(): k for k in TOP_KEYS}
    for key, value in raw.items():
        canonical = lowered.get(str(key).lower())
        if canonical is None:
            _warn_unknown(str(key), TOP_KEYS, where, str(key))
            continue
        values[canonical] = value
        sources[canonical] = f"{where}: {key}"
    for key in ("defaultBaseImage", "defaultPlatforms", "defaultEnv", "defaultFlags",
                "defaultLdflags"):
        env_name = f"KO_{key.upper()}"
        if environ.get(env_name):
            values[key] = environ[env_name]
            sources[key] = env_name
    overrides_raw = values.get("baseImageOverrides", {}) or {}
    if not isinstance(overrides_raw, Mapping):
        raise ConfigError(where, "baseImageOverrides", f"expected a mapping of import path to "
                                                       f"image, got {_type_name(overrides_raw)}")
    overrides = {str(k).lower(): _string(v, where, f"baseImageOverrides[{k!r}]")
                 for k, v in overrides_raw.items() if v != ""}

    def listed(key: str, splits: bool = True) -> tuple[str, ...]:
        if key not in values:
            return ()
        return string_list(values[key], sources.get(key, where).split(": ")[0], key, splits)

    base = values.get("defaultBaseImage", "")
    return KoConfig(
        path=where if path is not None else "",
        default_base_image=_string(base, where, "defaultBaseImage") if base else "",
        base_image_overrides=overrides,
        default_platforms=listed("defaultPlatforms"),
        default_env=env_entries(values["defaultEnv"], sources["defaultEnv"].split(": ")[0],
                                "defaultEnv") if "defaultEnv" in values else (),
        default_flags=listed("defaultFlags"),
        default_ldflags=listed("defaultLdflags"),
        builds=_parse_builds(values["builds"], where) if values.get("builds") else (),
        cache_repo=_string(values["cacheRepo"], where, "cacheRepo")
        if values.get("cacheRepo") else "",
        sources=sources,
    )
