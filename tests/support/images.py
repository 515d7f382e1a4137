"""Independent image tooling for tests: skopeo and umoci, and base images made with tarfile.

Nothing here uses kotasks' own image code, so what it reports is a second opinion.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a tool; fail with its output if it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


def skopeo_raw(ref: str) -> dict[str, Any]:
    """``skopeo inspect --raw`` of a docker:// or oci: reference, parsed."""
    return json.loads(run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref]).stdout)


def skopeo_raw_bytes(ref: str) -> bytes:
    """The manifest bytes exactly as stored."""
    return subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref],
                          capture_output=True, check=True).stdout


def skopeo_config(ref: str, *extra: str) -> dict[str, Any]:
    """``skopeo inspect --config`` of a reference, parsed."""
    return json.loads(run(["skopeo", "inspect", "--config", "--tls-verify=false", *extra,
                           ref]).stdout)


def skopeo_copy(src: str, dst: str, *extra: str) -> None:
    """``skopeo copy`` with TLS verification off on both sides (plain-HTTP test registry)."""
    run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src,
         dst])


def umoci_unpack(layout_ref: str, bundle: Path) -> Path:
    """``umoci unpack`` an image from a layout into a runtime bundle; return the rootfs."""
    run(["umoci", "unpack", "--image", layout_ref, str(bundle)])
    return bundle / "rootfs"


def _tar_gz(files: dict[str, bytes]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


@dataclass
class BaseLayout:
    """An OCI layout written by :func:`write_base_layout`."""

    path: Path
    tag: str

    @property
    def ref(self) -> str:
        return f"oci:{self.path}:{self.tag}"


def _blob(path: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _image(path: Path, os_name: str, arch: str, variant: str = "", os_version: str = "",
           marker: str = "") -> dict[str, Any]:
    layer, diff_id = _tar_gz({"etc/base-marker": (marker or f"{os_name}/{arch}").encode()})
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(path, layer)}
    config: dict[str, Any] = {
        "architecture": arch, "os": os_name, "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "BASE=1"],
                   "Cmd": ["/bin/sh"], "Labels": {"base.label": "kept"},
                   "WorkingDir": "/work"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "test base"}],
    }
    if variant:
        config["variant"] = variant
    if os_version:
        config["os.version"] = os_version
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(path, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                "layers": [layer_desc], "annotations": {"base.annotation": "kept"}}
    return {"mediaType": OCI_MANIFEST, **_blob(path, json.dumps(manifest).encode())}


def write_base_layout(path: Path, platforms: list[dict[str, str]] | None = None,
                      tag: str = "latest", attestation: bool = False,
                      marker: str = "") -> BaseLayout:
    """Write a base image (one platform) or index (several) as an OCI layout (``marker``:
    the content of each image's marker file, for bases that differ)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    if platforms is None:
        root = _image(path, "linux", "amd64", marker=marker)
    else:
        entries = []
        for p in platforms:  # a platform's own "marker" sets its image's apart
            desc = _image(path, p["os"], p["architecture"], p.get("variant", ""),
                          p.get("os.version", ""), p.get("marker", marker))
            desc["platform"] = {k: v for k, v in p.items() if v and k != "marker"}
            entries.append(desc)
        if attestation:
            desc = _image(path, "unknown", "unknown", marker="attestation")
            desc["platform"] = {"os": "unknown", "architecture": "unknown"}
            desc["annotations"] = {"vnd.docker.reference.type": "attestation-manifest"}
            entries.append(desc)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        root = {"mediaType": OCI_INDEX, **_blob(path, json.dumps(index).encode())}
    root["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [root]}))
    return BaseLayout(path, tag)


def push_base(layout: BaseLayout, registry: str, repository: str, tag: str = "latest",
              docker_format: bool = False) -> str:
    """Push a base layout to the registry with skopeo; return ``host/repo:tag``."""
    ref = f"{registry}/{repository}:{tag}"
    extra = ["--all"] + (["--format", "v2s2"] if docker_format else [])
    skopeo_copy(layout.ref, f"docker://{ref}", *extra)
    return ref
