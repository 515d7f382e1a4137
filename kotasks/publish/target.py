"""Where and under which names an artifact is published: a small record, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass

from kotasks.naming import Naming, image_name
from kotasks.settings import Settings


@dataclass(frozen=True)
class PublishTarget:
    """Where and under which names an artifact is published (all JSON-friendly)."""

    sinks: tuple[str, ...]
    docker_repo: str
    layout_path: str
    tags: tuple[str, ...]
    tag_only: bool
    naming: Naming
    insecure: bool = False
    jobs: int = 4
    embedded_default: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishTarget:
        """The publishing part of the settings."""
        return cls(settings.sinks, settings.docker_repo, settings.layout_path, settings.tags,
                   settings.tag_only, settings.naming, settings.insecure, settings.jobs,
                   settings.embedded_default)

    def registry_name(self, import_path: str) -> str:
        """The repository an import path is pushed to (ko lowercases the path first)."""
        return image_name(self.docker_repo, import_path.lower(), self.naming)

    def layout_names(self, import_path: str) -> list[str]:
        """The ref names given in the layout's index.json, one per tag."""
        name = image_name("", import_path.lower(), self.naming) or "ko-app"
        return [f"{name}:{tag}" for tag in self.tags]

    def describe(self) -> dict[str, object]:
        """The fields that decide what is published where (for up-to-date checks)."""
        return {"sinks": list(self.sinks), "repo": self.docker_repo, "layout": self.layout_path,
                "tags": list(self.tags), "tag_only": self.tag_only, "naming": self.naming.value,
                "insecure": self.insecure}
