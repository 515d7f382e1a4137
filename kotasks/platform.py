"""Platform specs as users write them (``os[/arch[/variant]][:osversion]``) and ko's matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kotasks.errors import UserError
from kotasks.oci.descriptor import Platform

_WORD = re.compile(r"^[A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PlatformSpec:
    """A requested platform; empty fields are wildcards."""

    os: str = ""
    architecture: str = ""
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        parts = [self.os, self.architecture, self.variant]
        while parts and not parts[-1]:
            parts.pop()
        text = "/".join(parts)
        return f"{text}:{self.os_version}" if self.os_version else text

    @classmethod
    def of(cls, platform: Platform) -> PlatformSpec:
        """The spec naming exactly ``platform``."""
        return cls(platform.os, platform.architecture, platform.variant, platform.os_version)

    @property
    def is_concrete(self) -> bool:
        """Whether the spec names one platform (os and architecture given)."""
        return bool(self.os and self.architecture)

    def platform(self) -> Platform:
        """The concrete platform this spec names (os and architecture must be set)."""
        return Platform(self.os, self.architecture, self.variant, self.os_version)

    def matches(self, candidate: Platform) -> bool:
        """ko's rule: given fields must equal; Windows X.Y.Z matches a base's X.Y.Z.B."""
        if self.os and candidate.os != self.os:
            return False
        if self.architecture and candidate.architecture != self.architecture:
            return False
        if self.variant and candidate.variant != self.variant:
            return False
        if self.os_version and self.os_version != candidate.os_version:
            if self.os != "windows":
                return False
            if not (self.os_version.count(".") == 2 and candidate.os_version.count(".") == 3
                    and candidate.os_version.rsplit(".", 1)[0] == self.os_version):
                return False
        return True


DEFAULT_PLATFORM = PlatformSpec("linux", "amd64")


def parse_platform(text: str, where: str) -> PlatformSpec:
    """Parse one ``os[/arch[/variant]][:osversion]``; ``where`` names the flag or key."""
    body, _, os_version = text.partition(":")
    parts = body.split("/")
    if not body or len(parts) > 3 or not all(_WORD.match(p) for p in parts) or (
            ":" in text and not os_version):
        raise UserError(f"{where}: invalid platform {text!r}: expected "
                        "os[/arch[/variant]][:osversion], e.g. linux/arm64 or linux/arm/v7")
    parts += [""] * (3 - len(parts))
    return PlatformSpec(parts[0], parts[1], parts[2], os_version)


@dataclass(frozen=True)
class PlatformSelection:
    """The platforms a build asks for: ``all``, or a list of specs."""

    all: bool
    specs: tuple[PlatformSpec, ...]

    def matches(self, candidate: Platform | None) -> bool:
        """Whether a base index entry's platform is wanted (entries without one: only ``all``)."""
        if self.all:
            return True
        return candidate is not None and any(s.matches(candidate) for s in self.specs)

    def __str__(self) -> str:
        return "all" if self.all else ",".join(str(s) for s in self.specs)


def select_entries(selection: PlatformSelection, entries: Sequence[Platform | None],
                   what: str) -> list[int]:
    """Indices of the base index entries a selection builds, in the index's order.

    Entries whose os or architecture is ``unknown`` (attestations) are skipped, even for
    ``all``; an entry without a platform matches only ``all``. None matching is an error that
    lists what the index offers.
    """
    usable = [i for i, p in enumerate(entries)
              if p is None or "unknown" not in (p.os, p.architecture)]
    chosen = [i for i in usable if selection.matches(entries[i])]
    if not chosen:
        offered = ", ".join(str(entries[i]) for i in usable if entries[i] is not None)
        raise UserError(f"{what} has no image for platform {selection} (it offers "
                        f"{offered or 'no platform'})")
    return chosen


def split_platform_values(values: Iterable[str]) -> list[str]:
    """Flatten comma-separated and repeated values, dropping empty ones."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def select_platforms(flag_values: Sequence[str], configured: Sequence[str], config_where: str,
                     environ: Mapping[str, str]) -> PlatformSelection:
    """ko's order: ``--platform``, then defaultPlatforms, then GOOS/GOARCH, else linux/amd64."""
    if flag_values:
        values, where = split_platform_values(flag_values), "--platform"
    elif configured:
        values, where = split_platform_values(configured), config_where
    else:
        values, where = [], ""
    if values:
        conflicting = [v for v in ("GOOS", "GOARCH", "GOARM") if v in environ]
        if conflicting:
            raise UserError(f"{where} is set together with {', '.join(conflicting)} in the "
                            "environment: use one or the other")
        if "all" in values:
            if len(values) > 1:
                raise UserError(f"{where}: all or specific platforms should be used, not both")
            return PlatformSelection(True, ())
        return PlatformSelection(False, tuple(parse_platform(v, where) for v in values))
    goos, goarch = environ.get("GOOS"), environ.get("GOARCH")
    if goos and goarch:
        variant = ""
        if "arm" in goarch and environ.get("GOARM"):
            variant = "v" + environ["GOARM"]
        return PlatformSelection(False, (PlatformSpec(goos, goarch, variant),))
    return PlatformSelection(False, (DEFAULT_PLATFORM,))
