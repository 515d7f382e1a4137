"""Where and under which names an artifact is published: a small record, cheap to import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kotasks.naming import Naming, image_name
from kotasks.settings import Settings

#: the environment the daemon and kind targets read (the daemon's address and TLS files,
#: the platform an index is reduced to)
TARGET_ENVIRONMENT = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
                      "DOCKER_API_VERSION", "GOOS", "GOARCH")


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
    tarball: str = ""
    oci_archive: str = ""
    kind_cluster: str = "kind"
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishTarget:
        """The publishing part of the settings."""
        env = tuple((k, settings.environ[k]) for k in TARGET_ENVIRONMENT
                    if settings.environ.get(k))
        return cls(settings.sinks, settings.docker_repo, settings.layout_path, settings.tags,
                   settings.tag_only, settings.naming, settings.insecure, settings.jobs,
                   settings.embedded_default, settings.tarball, settings.oci_archive,
                   settings.kind_cluster, env)

    @property
    def environ(self) -> Mapping[str, str]:
        """The target's environment variables (see :data:`TARGET_ENVIRONMENT`)."""
        return dict(self.env)

    def registry_name(self, import_path: str) -> str:
        """The repository an import path is pushed to (ko lowercases the path first)."""
        return image_name(self.docker_repo, import_path.lower(), self.naming)

    def archive_names(self, import_path: str) -> list[str]:
        """The ``name:tag`` references an artifact has in a tarball or OCI archive."""
        name = self.registry_name(import_path)
        return [f"{name}:{tag}" for tag in self.tags]

    def layout_names(self, import_path: str) -> list[str]:
        """The ref names given in the layout's index.json, one per tag."""
        name = image_name("", import_path.lower(), self.naming) or "ko-app"
        return [f"{name}:{tag}" for tag in self.tags]

    def describe(self) -> dict[str, object]:
        """The fields that decide what is published where (for up-to-date checks)."""
        return {"sinks": list(self.sinks), "repo": self.docker_repo, "layout": self.layout_path,
                "tags": list(self.tags), "tag_only": self.tag_only, "naming": self.naming.value,
                "insecure": self.insecure, "tarball": self.tarball,
                "oci_archive": self.oci_archive, "kind_cluster": self.kind_cluster}
