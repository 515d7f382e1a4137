"""Descriptors and platforms: the small records that point at blobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kotasks.oci.digest import check_digest


@dataclass(frozen=True)
class Platform:
    """An image platform as recorded in configs and index entries."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        if self.os_version:
            text += f":{self.os_version}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the platform as an OCI descriptor ``platform`` object (ggcr field order)."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Platform:
        """Read a descriptor ``platform`` object."""
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=str(data.get("variant", "")),
            os_version=str(data.get("os.version", "")),
            os_features=tuple(data.get("os.features") or ()),
            features=tuple(data.get("features") or ()),
        )

    def slug(self) -> str:
        """Return the platform as one path-safe word: ``linux-arm-v7``."""
        return str(self).replace("/", "-").replace(":", "-")


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: media type, digest and size, with optional extras."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = field(default=None, compare=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_digest(self.digest)

    def to_json(self) -> dict[str, Any]:
        """Return the descriptor as JSON-ready data, in ggcr's field order."""
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size,
                               "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Descriptor:
        """Read a descriptor object from a manifest or index."""
        platform = data.get("platform")
        return cls(
            media_type=str(data.get("mediaType", "")),
            digest=str(data.get("digest", "")),
            size=int(data.get("size", 0)),
            annotations=dict(data["annotations"]) if data.get("annotations") else None,
            platform=Platform.from_json(platform) if isinstance(platform, dict) else None,
            urls=tuple(data.get("urls") or ()),
        )
