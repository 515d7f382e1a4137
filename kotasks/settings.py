"""Flags + environment + ``.ko.yaml`` → one validated, immutable :class:`Settings`.

One option table (:data:`OPTION_DEFAULTS`) serves the ``kotasks`` CLI flags and the keyword
arguments of :func:`kotasks.tasks` in a ``dodo.py``, so both accept the same things.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kotasks.baselock import BaseLock, read_lock
from kotasks.config import KoConfig, load_config
from kotasks.errors import UserError
from kotasks.naming import Naming, naming_from_flags
from kotasks.platform import PlatformSelection, select_platforms
from kotasks.registry.reference import (
    Reference,
    parse_reference,
    parse_registry_or_repository,
    parse_repository,
)

log = logging.getLogger("kotasks")

DEFAULT_BASE_IMAGE = "gcr.io/distroless/static:nonroot"
#: the empty base image: no layers, a config naming only the platform
SCRATCH = "scratch"
#: seconds before a base image tag is looked up again (KOTASKS_BASE_TTL)
DEFAULT_BASE_TTL = 3600
STATE_DIR = ".kotasks"
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")

#: every option, with its default; CLI flags and ``tasks(**options)`` both map onto these
OPTION_DEFAULTS: dict[str, Any] = {
    "tags": ["latest"],
    "tag_only": False,
    "push": True,
    "local": False,
    "insecure_registry": False,
    "oci_layout_path": "",
    "tarball": "",
    "oci_archive": "",
    "preserve_import_paths": False,
    "base_import_paths": False,
    "bare": False,
    "platform": [],
    "jobs": 0,
    "ldflags": [],
    "disable_optimizations": False,
    "debug": False,
    "image_label": [],
    "image_annotation": [],
    "image_user": "",
    "sbom": "spdx",
    "sbom_dir": "",
    "image_refs": "",
    "report": "",
    "estargz": False,
    "cache_repo": "",
    "no_cache": False,
    "offline": False,
    "filename": [],
    "recursive": False,
    "selector": "",
    "kubectl_args": [],
}
SBOM_FORMATS = ("spdx", "cyclonedx", "none")


class Destination:
    """Where images go: a registry, an OCI layout, files, a Docker daemon, kind nodes, or
    nowhere."""

    REGISTRY = "registry"
    LAYOUT = "layout"
    TARBALL = "tarball"
    OCI_ARCHIVE = "oci-archive"
    DAEMON = "daemon"
    KIND = "kind"
    NOP = "nop"


#: ``KO_DOCKER_REPO`` prefixes that select the daemon and kind publishers (ko's plain
#: prefix test, so ``ko.localhost:5000`` selects the daemon too)
LOCAL_DOMAIN = "ko.local"
KIND_DOMAIN = "kind.local"


@dataclass(frozen=True)
class Settings:
    """Everything a build needs to know, validated once at load time."""

    workdir: str
    state_dir: str
    config: KoConfig
    docker_repo: str
    sinks: tuple[str, ...]
    layout_path: str
    embedded_default: bool
    tags: tuple[str, ...]
    tag_only: bool
    insecure: bool
    naming: Naming
    platforms: PlatformSelection
    jobs: int
    source_date_epoch: int | None
    kodata_date_epoch: int | None
    ldflags: tuple[str, ...] = ()
    disable_optimizations: bool = False
    #: --debug: Delve in the image on linux/amd64 and linux/arm64 (KOTASKS_DELVE_VERSION)
    debug: bool = False
    delve_version: str = "v1.27.2"
    image_labels: tuple[tuple[str, str], ...] = ()
    image_annotations: tuple[tuple[str, str], ...] = ()
    image_user: str = ""
    base_ttl: int = DEFAULT_BASE_TTL
    sbom: str = "spdx"
    sbom_dir: str = ""
    cosign_repository: str = ""
    image_refs: str = ""
    report: str = ""
    #: eStargz layers (GGCR_EXPERIMENT_ESTARGZ=1, or tasks(estargz=True))
    estargz: bool = False
    filenames: tuple[str, ...] = ()
    recursive: bool = False
    selector: str = ""
    tarball: str = ""
    oci_archive: str = ""
    kind_cluster: str = "kind"
    kubectl_args: tuple[str, ...] = ()
    #: the build cache repository ("" for none): tasks(cache_repo=…), KOTASKS_CACHE_REPO,
    #: .ko.yaml cacheRepo; off with --no-cache
    cache_repo: str = ""
    cache_timeout: float = 3.0
    #: the module's kotasks.lock, if it has one
    lock: BaseLock | None = None
    #: no network at all (--offline, KOTASKS_OFFLINE=1)
    offline: bool = False
    environ: Mapping[str, str] = field(repr=False, default_factory=dict)

    def base_for(self, import_path: str) -> str:
        """The base image reference for a package (override, then default)."""
        override = self.config.base_image_overrides.get(import_path.lower())
        return override or self.config.default_base_image or DEFAULT_BASE_IMAGE

    def base_references(self) -> list[str]:
        """Every base reference the builds may use: the default and each override."""
        default = self.config.default_base_image or DEFAULT_BASE_IMAGE
        return sorted({default, *self.config.base_image_overrides.values()})

    @property
    def sboms_wanted(self) -> bool:
        """Whether SBOMs are made: not with ``--sbom=none``, and not for a daemon or kind
        target (which gets no SBOM, as in ko) unless ``--sbom-dir`` asks for the files."""
        local = bool({Destination.DAEMON, Destination.KIND} & set(self.sinks))
        return self.sbom != "none" and (bool(self.sbom_dir) or not local)

    @property
    def store_path(self) -> str:
        """The local content store (an OCI layout)."""
        return os.path.join(self.state_dir, "oci")


def parse_base(reference: str, where: str) -> Reference | None:
    """Validate a base image reference from config or env (None for ``scratch``)."""
    if reference == SCRATCH:
        return None
    return parse_reference(reference, f"{where}: base image")


def is_daemon_base(ref: Reference | None) -> bool:
    """Whether a base reference names an image in the local Docker daemon (``ko.local/…``)."""
    return ref is not None and ref.registry == LOCAL_DOMAIN


def check_no_toolexec(args: Sequence[str], goflags: str, where: str) -> None:
    """Reject ``-toolexec`` in build flags or GOFLAGS, as ko does."""
    for token in [*args, *goflags.split()]:
        if token in ("-toolexec", "--toolexec") or token.startswith(("-toolexec=",
                                                                     "--toolexec=")):
            raise UserError(f"{where}: -toolexec is not allowed (ko rejects it)")


def default_jobs() -> int:
    """Concurrent steps when ``--jobs`` is 0: one more than the cores, so that one
    platform's link overlaps another's compression."""
    return (os.cpu_count() or 1) + 1


def _seconds(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise UserError(f"{name}={value}: expected a number of seconds (0 or more)")
    return int(value)


def _cache_repo(opts: Mapping[str, Any], environ: Mapping[str, str], config: KoConfig) -> str:
    """The build cache repository: the option, else KOTASKS_CACHE_REPO, else .ko.yaml's
    cacheRepo; "" when none is set or ``no_cache`` is."""
    for value, where in ((opts["cache_repo"], "cache_repo"),
                         (environ.get("KOTASKS_CACHE_REPO", ""), "KOTASKS_CACHE_REPO"),
                         (config.cache_repo, config.where("cacheRepo"))):
        if value:
            if "/" not in str(value).strip("/"):
                raise UserError(f"{where}={value}: expected a registry and a repository "
                                "(registry.example.com/team/cache)")
            parse_repository(str(value), where)
            return "" if opts["no_cache"] else str(value)
    return ""


def _delve_version(environ: Mapping[str, str]) -> str:
    from kotasks.gobuild.delve import DEFAULT_DELVE_VERSION

    version = environ.get("KOTASKS_DELVE_VERSION", "") or DEFAULT_DELVE_VERSION
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", version):
        raise UserError(f"KOTASKS_DELVE_VERSION={version}: expected a Delve module version "
                        "(v1.27.2)")
    return version


def _cache_timeout(environ: Mapping[str, str]) -> float:
    value = environ.get("KOTASKS_CACHE_TIMEOUT", "")
    try:
        seconds = float(value) if value else 3.0
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise UserError(f"KOTASKS_CACHE_TIMEOUT={value}: expected a number of seconds above 0")
    return seconds


def _epoch(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "")
    if not value:
        return None
    try:
        epoch = int(value)
    except ValueError:
        raise UserError(f"{name}={value}: expected an integer number of seconds") from None
    if epoch < 0:
        raise UserError(f"{name}={value}: expected a non-negative number of seconds")
    return epoch


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UserError(f"option {name}: expected a string or a list of strings")


def merge_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject option names kotasks does not know."""
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(OPTION_DEFAULTS))}")
    return {**OPTION_DEFAULTS, **options}


def _pairs(values: Sequence[str], flag: str) -> tuple[tuple[str, str], ...]:
    """``key=value`` flags (split at the first ``=``), in order."""
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {value!r}: expected key=value")
        pairs.append((key, rest))
    return tuple(pairs)


def _ldflags(values: Sequence[str]) -> tuple[str, ...]:
    """``--ldflags`` values, comma-split as cobra's string slices are (quotes group)."""
    out: list[str] = []
    for value in values:
        out.extend(next(csv.reader([value])) if value else [])
    return tuple(out)


def _tags(values: Sequence[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for value in values:
        for tag in value.split(","):
            tag = tag.strip()
            if not _TAG.match(tag):
                raise UserError(f"--tags: invalid tag {tag!r} (expected letters, digits, _ . -, "
                                "at most 128 characters, not starting with . or -)")
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


def _destinations(opts: Mapping[str, Any], docker_repo: str, tags: Sequence[str],
                  tag_only: bool, state_dir: str) -> tuple[str, list[str], str, bool]:
    """ko's publisher choice (its makePublisher): a daemon or kind nodes alone, else an OCI
    layout, files and the registry in that order; the embedded layout stands in for a push
    without ``KO_DOCKER_REPO``. Returns (repository base, sinks, layout path, embedded)."""
    local = bool(opts["local"]) or docker_repo.startswith(LOCAL_DOMAIN)
    if opts["local"] and LOCAL_DOMAIN in docker_repo:
        log.warning("WARNING: --local is redundant: KO_DOCKER_REPO=%s already loads into the "
                    "Docker daemon", docker_repo)
    layout_path = str(opts["oci_layout_path"] or "")
    files = {"--tarball": opts["tarball"], "--oci-archive": opts["oci_archive"],
             "--oci-layout-path": layout_path}
    if local or docker_repo.startswith(KIND_DOMAIN):
        ignored = [flag for flag, value in files.items() if value]
        if ignored:
            log.warning("WARNING: %s ignored: images go only to the %s", ", ".join(ignored),
                        "Docker daemon" if local else "kind cluster")
        base = docker_repo or LOCAL_DOMAIN
        parse_registry_or_repository(base, "KO_DOCKER_REPO")
        return base, [Destination.DAEMON if local else Destination.KIND], "", False
    if docker_repo:
        parse_registry_or_repository(docker_repo, "KO_DOCKER_REPO")
    push = bool(opts["push"])
    sinks: list[str] = []
    embedded = False
    if layout_path:
        sinks.append(Destination.LAYOUT)
    if opts["tarball"]:
        sinks.append(Destination.TARBALL)
    if opts["oci_archive"]:
        sinks.append(Destination.OCI_ARCHIVE)
    if push and docker_repo:
        sinks.append(Destination.REGISTRY)
        if tag_only and (len(tags) != 1 or tags[0] == "latest"):
            raise UserError("--tag-only needs exactly one tag, and not 'latest'")
    elif push and not layout_path:
        layout_path = os.path.join(state_dir, "oci")
        sinks.append(Destination.LAYOUT)
        embedded = True
    if not sinks:
        sinks.append(Destination.NOP)
    return docker_repo, sinks, layout_path, embedded


def load_settings(workdir: str, options: Mapping[str, Any],
                  environ: Mapping[str, str] | None = None,
                  state_dir: str = STATE_DIR) -> Settings:
    """Validate options, environment and ``.ko.yaml`` for the module in ``workdir``."""
    env = dict(os.environ if environ is None else environ)
    opts = merge_options(options)
    config = load_config(workdir, env, state_dir if os.path.isdir(state_dir) else None)
    for import_path, ref in config.base_image_overrides.items():
        parse_base(ref, f"{config.where('baseImageOverrides')}[{import_path}]")
    if config.default_base_image:
        parse_base(config.default_base_image, config.where("defaultBaseImage"))

    docker_repo = env.get("KO_DOCKER_REPO", "")
    tags = _tags(_as_list(opts["tags"], "tags"))
    if not tags:
        raise UserError("--tags: at least one tag is needed")
    tag_only = bool(opts["tag_only"])
    docker_repo, sinks, layout_path, embedded = _destinations(opts, docker_repo, tags,
                                                              tag_only, state_dir)
    naming = naming_from_flags(bool(opts["preserve_import_paths"]),
                               bool(opts["base_import_paths"]), bool(opts["bare"]))
    if opts["bare"] and opts["base_import_paths"]:
        log.warning("WARNING: --bare and --base-import-paths are both set; "
                    "--base-import-paths wins")
    platforms = select_platforms(_as_list(opts["platform"], "platform"),
                                 config.default_platforms, config.where("defaultPlatforms"),
                                 env)
    jobs = int(opts["jobs"] or 0)
    if jobs < 0:
        raise UserError(f"--jobs={jobs}: expected 0 (cores + 1) or a positive number")
    sbom = str(opts["sbom"] or "none")
    if sbom not in SBOM_FORMATS:
        raise UserError(f"--sbom={sbom}: expected one of {', '.join(SBOM_FORMATS)}")
    cosign_repository = env.get("COSIGN_REPOSITORY", "")
    if cosign_repository:
        parse_registry_or_repository(cosign_repository, "COSIGN_REPOSITORY")
    offline = bool(opts["offline"]) or env.get("KOTASKS_OFFLINE", "") not in ("", "0")
    if offline:
        env["GOPROXY"] = "off"  # go too: a missing module is Go's one-line error
    cache_repo = "" if offline else _cache_repo(opts, env, config)
    filenames = tuple(_as_list(opts["filename"], "filename"))
    if not filenames and os.path.isdir(os.path.join(workdir, "config")):
        filenames = (os.path.join(workdir, "config"),)
    return Settings(
        workdir=workdir, state_dir=state_dir, config=config, docker_repo=docker_repo,
        sinks=tuple(sinks), layout_path=layout_path, embedded_default=embedded, tags=tags,
        tag_only=tag_only,
        insecure=bool(opts["insecure_registry"]), naming=naming, platforms=platforms,
        jobs=jobs or default_jobs(),
        source_date_epoch=_epoch(env, "SOURCE_DATE_EPOCH"),
        kodata_date_epoch=_epoch(env, "KO_DATA_DATE_EPOCH"),
        ldflags=_ldflags(_as_list(opts["ldflags"], "ldflags")),
        disable_optimizations=bool(opts["disable_optimizations"]) or bool(opts["debug"]),
        debug=bool(opts["debug"]), delve_version=_delve_version(env),
        image_labels=_pairs(_as_list(opts["image_label"], "image_label"), "--image-label"),
        image_annotations=_pairs(_as_list(opts["image_annotation"], "image_annotation"),
                                 "--image-annotation"),
        image_user=str(opts["image_user"] or ""),
        base_ttl=_seconds(env, "KOTASKS_BASE_TTL", DEFAULT_BASE_TTL), sbom=sbom,
        sbom_dir=str(opts["sbom_dir"] or ""), cosign_repository=cosign_repository,
        image_refs=str(opts["image_refs"] or ""), report=str(opts["report"] or ""),
        estargz=bool(opts["estargz"]) or env.get("GGCR_EXPERIMENT_ESTARGZ") == "1",
        filenames=filenames,
        recursive=bool(opts["recursive"]), selector=str(opts["selector"] or ""),
        tarball=str(opts["tarball"] or ""), oci_archive=str(opts["oci_archive"] or ""),
        kind_cluster=env.get("KIND_CLUSTER_NAME") or "kind",
        kubectl_args=tuple(_as_list(opts["kubectl_args"], "kubectl_args")),
        cache_repo=cache_repo, cache_timeout=_cache_timeout(env), lock=read_lock(workdir),
        offline=offline, environ=env)

