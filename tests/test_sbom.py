"""SBOMs: the module graph of a real Go binary as ko's SPDX, as CycloneDX, and as an attachment."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from kotasks.errors import GoError, ImageError
from kotasks.oci.manifest import parse_manifest
from kotasks.oci.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from kotasks.sbom.attach import (
    CYCLONEDX_MEDIA_TYPE,
    SPDX_MEDIA_TYPE,
    sbom_attachment,
    sbom_tag,
)
from kotasks.sbom.buildinfo import BuildInfo, Module, parse_build_info, read_build_info
from kotasks.sbom.cyclonedx import cyclonedx_image, cyclonedx_index
from kotasks.sbom.spdx import ImageFacts, IndexChild, spdx_image, spdx_index
from tests.support.goproxy import greet_proxy
from tests.support.project import build_env

pytestmark = pytest.mark.slow

TOOL = "kotasks 0.1.0"
IMAGE = "sha256:" + "1" * 64
BASE = "sha256:" + "2" * 64
INDEX = "sha256:" + "3" * 64
ARM = "sha256:" + "4" * 64
WINDOWS = "sha256:" + "5" * 64
FACTS = ImageFacts(IMAGE, OCI_MANIFEST, "2024-01-01T00:00:00Z",
                   "cgr.dev/chainguard/static:latest", BASE)
CHILDREN = (
    IndexChild(ARM, OCI_MANIFEST, "linux/arm/v7", "linux", "arm", variant="v7"),
    IndexChild(WINDOWS, OCI_MANIFEST, "windows/amd64:10.0.17763.1234", "windows", "amd64",
               os_version="10.0.17763.1234", os_features=("win32k",)),
)
GREET_PURL = "pkg:golang/example.org/greet@v1.0.0?type=module"
GREET_ID = "SPDXRef-Package-example.org.greet-v1.0.0"
LOCAL_ID = "SPDXRef-Package-example.net.local-v0.3.0"
MAIN_ID = "SPDXRef-Package-example.com.app--devel-"


@dataclass(frozen=True)
class Built:
    """The test program: its module directory, binary and build info."""

    module: Path
    binary: Path
    info: BuildInfo

    def go_sum(self, module: str, version: str) -> str:
        """The h1: hash go.sum records for a module's tree."""
        for line in (self.module / "go.sum").read_text().splitlines():
            path, ver, value = line.split()
            if (path, ver) == (module, version):
                return value
        raise AssertionError(f"{module} {version} not in go.sum")


def write_program(root: Path) -> Path:
    """A main module using example.org/greet and example.net/local (replaced by a directory)."""
    local = root / "local"
    local.mkdir()
    (local / "go.mod").write_text("module example.net/local\n\ngo 1.19\n")
    (local / "local.go").write_text('package local\n\nfunc Name() string { return "local" }\n')
    app = root / "app"
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/app\n\ngo 1.22\n\n"
        "require (\n\texample.org/greet v1.0.0\n\texample.net/local v0.3.0\n)\n\n"
        "replace example.net/local v0.3.0 => ../local\n")
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.net/local"\n\t"example.org/greet"\n)\n\n'
        "func main() { fmt.Println(greet.Hello(), local.Name()) }\n")
    return app


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The test program, built offline with -trimpath, and what `go version -m` says of it."""
    root = tmp_path_factory.mktemp("sbom")
    greet_proxy(root / "goproxy")
    app = write_program(root)
    env = build_env({"GOPROXY": f"file://{root / 'goproxy'}", "GOMODCACHE": str(root / "mod"),
                     "GOFLAGS": "-mod=mod -modcacherw", "CGO_ENABLED": "0"})
    go = shutil.which("go")
    assert go is not None
    proc = subprocess.run([go, "build", "-trimpath", "-o", str(root / "app.bin"), "."], cwd=app,
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return Built(app, root / "app.bin", read_build_info(go, str(root / "app.bin"), "/ko-app/app"))


def spdx_json(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    assert isinstance(doc, dict)
    return doc


def check_spdx(data: bytes, path: Path) -> None:
    """Validate with spdx-tools' parser + full validator and with the pyspdxtools CLI."""
    path.write_bytes(data)
    assert validate_full_spdx_document(parse_file(str(path))) == []
    cli = Path(sys.executable).with_name("pyspdxtools")
    proc = subprocess.run([str(cli), "-i", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_cyclonedx(data: bytes) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode())
    assert error is None, str(error)[:2000]
    return spdx_json(data)


def package(doc: dict[str, Any], spdx_id: str) -> dict[str, Any]:
    found = [p for p in doc["packages"] if p["SPDXID"] == spdx_id]
    assert len(found) == 1, [p["SPDXID"] for p in doc["packages"]]
    return found[0]


def purls(pkg: dict[str, Any]) -> list[str]:
    return [ref["referenceLocator"] for ref in pkg["externalRefs"]
            if ref["referenceType"] == "purl"]


def relationships(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
            for r in doc["relationships"]]


# --- build info -------------------------------------------------------------------------------

def test_build_info_lists_third_party_module_with_version_and_go_sum_hash(built: Built) -> None:
    go_version = subprocess.run([shutil.which("go") or "go", "env", "GOVERSION"],
                                capture_output=True, text=True, check=True).stdout.strip()
    assert built.info.go_version == go_version
    assert built.info.path == "example.com/app"
    assert built.info.main == Module("example.com/app", "(devel)", "")
    greet = [dep for dep in built.info.deps if dep.path == "example.org/greet"]
    assert greet == [Module("example.org/greet", "v1.0.0",
                            built.go_sum("example.org/greet", "v1.0.0"))]
    assert greet[0].sum.startswith("h1:")
    assert ("-trimpath", "true") in built.info.settings


def test_replaced_module_is_reported_under_its_original_path_and_version(built: Built) -> None:
    local = [dep for dep in built.info.deps if dep.path == "example.net/local"]
    assert local == [Module("example.net/local", "v0.3.0", "",
                            replace=Module("../local", "(devel)", ""))]
    assert [dep.path for dep in built.info.deps] == ["example.net/local", "example.org/greet"]


def test_malformed_or_empty_go_version_output_gives_no_modules() -> None:
    for text in ("", "no newline at all", "x: go1.26\n\tdep\tonly-one-column\n",
                 "x: go1.26\n\t=>\tnothing\tto\treplace\n"):
        info = parse_build_info(text)
        assert (info.path, info.main.path, info.deps) == ("", "", ()), text


def test_quoted_build_settings_are_unquoted_as_go_does() -> None:
    info = parse_build_info('x: go1.26\n\tbuild\t-ldflags="-s -w -X \\"main.v=1\\""\n'
                            "\tbuild\t`odd key`=`v`\n")
    assert info.settings == (("-ldflags", '-s -w -X "main.v=1"'), ("odd key", "v"))


def test_go_version_failure_is_a_go_error(tmp_path: Path) -> None:
    not_go = tmp_path / "not-go"
    not_go.write_text("hello\n")
    with pytest.raises(GoError, match="go version -m"):
        read_build_info(shutil.which("go") or "go", str(not_go), "/ko-app/app")


# --- SPDX -------------------------------------------------------------------------------------

def test_spdx_image_is_valid_for_spdx_tools_and_its_cli(built: Built, tmp_path: Path) -> None:
    check_spdx(spdx_image(FACTS, built.info, TOOL), tmp_path / "image.spdx.json")


def test_spdx_image_module_package_has_version_purl_and_h1_checksum(built: Built) -> None:
    doc = spdx_json(spdx_image(FACTS, built.info, TOOL))
    greet = package(doc, GREET_ID)
    h1 = built.go_sum("example.org/greet", "v1.0.0")
    assert greet["name"] == "example.org/greet"
    assert greet["versionInfo"] == "v1.0.0"
    assert purls(greet) == [GREET_PURL]
    assert greet["checksums"] == [{"algorithm": "SHA256",
                                   "checksumValue": base64.b64decode(h1[3:]).hex()}]
    assert greet["downloadLocation"] == (
        "https://proxy.golang.org/example.org/greet/@v/v1.0.0.zip")
    for key in ("licenseConcluded", "licenseDeclared", "copyrightText"):
        assert greet[key] == "NOASSERTION"
    assert greet["filesAnalyzed"] is False


def test_spdx_replaced_module_keeps_original_path_and_has_no_checksum(built: Built) -> None:
    doc = spdx_json(spdx_image(FACTS, built.info, TOOL))
    local = package(doc, LOCAL_ID)
    assert (local["name"], local["versionInfo"]) == ("example.net/local", "v0.3.0")
    assert purls(local) == ["pkg:golang/example.net/local@v0.3.0?type=module"]
    assert "checksums" not in local
    assert "../local" not in json.dumps(doc)


def test_spdx_image_document_shape_follows_ko(built: Built) -> None:
    doc = spdx_json(spdx_image(FACTS, built.info, TOOL))
    image_id = "SPDXRef-Package-sha256-" + "1" * 64
    base_id = "SPDXRef-Package-sha256-" + "2" * 64
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["name"] == f"sbom-{IMAGE}"
    assert doc["documentNamespace"] == f"http://spdx.org/spdxdocs/ko/{IMAGE}"
    assert doc["creationInfo"] == {"created": "2024-01-01T00:00:00Z",
                                   "creators": ["Tool: kotasks 0.1.0"]}
    assert doc["documentDescribes"] == [image_id]
    assert [p["SPDXID"] for p in doc["packages"]] == [image_id, base_id, MAIN_ID, LOCAL_ID,
                                                      GREET_ID]
    image = package(doc, image_id)
    assert image["name"] == IMAGE
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert purls(image) == [f"pkg:oci/image@{IMAGE}?mediaType="
                            "application%2Fvnd.oci.image.manifest.v1%2Bjson"]
    assert "checksums" not in image
    base = package(doc, base_id)
    assert base["name"] == f"cgr.dev/chainguard/static@{BASE}"
    assert base["versionInfo"] == "cgr.dev/chainguard/static:latest"
    assert base["checksums"] == [{"algorithm": "SHA256", "checksumValue": "2" * 64}]
    assert purls(base) == [f"pkg:oci/image@{BASE}?repository_url=cgr.dev%2Fchainguard%2Fstatic"
                           "&tag=latest"]
    main = package(doc, MAIN_ID)
    assert main["name"] == "example.com/app"
    assert main["downloadLocation"] == "https://example.com/app"
    assert purls(main) == ["pkg:golang/example.com/app@(devel)?type=module"]
    assert "versionInfo" not in main
    assert relationships(doc) == [
        ("SPDXRef-DOCUMENT", "DESCRIBES", image_id),
        (image_id, "DESCENDANT_OF", base_id),
        (image_id, "CONTAINS", MAIN_ID),
        (MAIN_ID, "DEPENDS_ON", LOCAL_ID),
        (MAIN_ID, "DEPENDS_ON", GREET_ID),
    ]


def test_spdx_is_byte_identical_two_space_indented_with_trailing_newline(built: Built) -> None:
    first = spdx_image(FACTS, built.info, TOOL)
    assert first == spdx_image(FACTS, built.info, TOOL)
    assert first == (json.dumps(json.loads(first), indent=2) + "\n").encode()
    index = spdx_index(INDEX, OCI_INDEX, FACTS.created, CHILDREN, "", "", TOOL)
    assert index == spdx_index(INDEX, OCI_INDEX, FACTS.created, CHILDREN, "", "", TOOL)
    assert index.endswith(b"}\n") and b'\n  "packages": [' in index


def test_spdx_zero_created_time_stays_year_one_and_offsets_keep_wall_clock(
        built: Built, tmp_path: Path) -> None:
    zero = ImageFacts(IMAGE, OCI_MANIFEST, "0001-01-01T00:00:00Z")
    doc = spdx_image(zero, built.info, TOOL)
    assert spdx_json(doc)["creationInfo"]["created"] == "0001-01-01T00:00:00Z"
    check_spdx(doc, tmp_path / "zero.spdx.json")
    local = ImageFacts(IMAGE, OCI_MANIFEST, "2024-05-06T07:08:09.123456789+02:00")
    assert spdx_json(spdx_image(local, built.info, TOOL))["creationInfo"]["created"] == (
        "2024-05-06T07:08:09Z")


def test_spdx_without_build_info_has_only_the_image(tmp_path: Path) -> None:
    doc_bytes = spdx_image(ImageFacts(IMAGE, OCI_MANIFEST, ""), parse_build_info(""), TOOL)
    check_spdx(doc_bytes, tmp_path / "bare.spdx.json")
    doc = spdx_json(doc_bytes)
    assert [p["name"] for p in doc["packages"]] == [IMAGE]
    assert [r[1] for r in relationships(doc)] == ["DESCRIBES"]


def test_spdx_index_shape_follows_ko(tmp_path: Path) -> None:
    data = spdx_index(INDEX, OCI_INDEX, "2024-01-01T00:00:00Z", CHILDREN, "alpine", BASE, TOOL)
    check_spdx(data, tmp_path / "index.spdx.json")
    doc = spdx_json(data)
    index_id = "SPDXRef-Package-sha256-" + "3" * 64
    base_id = "SPDXRef-Package-sha256-" + "2" * 64
    arm_id = "SPDXRef-Package-sha256-" + "4" * 64
    windows_id = "SPDXRef-Package-sha256-" + "5" * 64
    assert doc["name"] == f"sbom-{INDEX}"
    assert doc["documentNamespace"] == f"http://spdx.org/spdxdocs/ko/{INDEX}"
    assert doc["documentDescribes"] == [index_id]
    assert [p["SPDXID"] for p in doc["packages"]] == [index_id, base_id, arm_id, windows_id]
    index = package(doc, index_id)
    assert index["checksums"] == [{"algorithm": "SHA256", "checksumValue": "3" * 64}]
    assert purls(index) == [f"pkg:oci/index@{INDEX}?mediaType="
                            "application%2Fvnd.oci.image.index.v1%2Bjson"]
    base = package(doc, base_id)
    assert base["name"] == f"index.docker.io/library/alpine@{BASE}"
    assert base["versionInfo"] == "alpine"
    assert purls(base) == [f"pkg:oci/image@{BASE}?repository_url="
                           "index.docker.io%2Flibrary%2Falpine&tag=latest"]
    arm = package(doc, arm_id)
    assert arm["versionInfo"] == "linux/arm/v7"
    assert arm["primaryPackagePurpose"] == "CONTAINER"
    assert purls(arm) == [f"pkg:oci/image@{ARM}?arch=arm&mediaType="
                          "application%2Fvnd.oci.image.manifest.v1%2Bjson&os=linux&variant=v7"]
    assert purls(package(doc, windows_id)) == [
        f"pkg:oci/image@{WINDOWS}?arch=amd64&mediaType=application%2Fvnd.oci.image.manifest.v1"
        "%2Bjson&os=windows&os-feature=win32k&os-version=10.0.17763.1234"]
    assert relationships(doc) == [
        (index_id, "DESCENDANT_OF", base_id),
        (index_id, "VARIANT_OF", arm_id),
        (index_id, "VARIANT_OF", windows_id),
    ]


def test_spdx_base_by_digest_has_no_tag_qualifier(built: Built) -> None:
    facts = ImageFacts(IMAGE, OCI_MANIFEST, "", f"gcr.io/distroless/static@{BASE}", BASE)
    base = package(spdx_json(spdx_image(facts, built.info, TOOL)),
                   "SPDXRef-Package-sha256-" + "2" * 64)
    assert purls(base) == [f"pkg:oci/image@{BASE}?repository_url=gcr.io%2Fdistroless%2Fstatic"]


# --- CycloneDX --------------------------------------------------------------------------------

def test_cyclonedx_image_is_valid_and_lists_modules(built: Built) -> None:
    data = cyclonedx_image(FACTS, built.info, TOOL)
    bom = check_cyclonedx(data)
    assert bom["specVersion"] == "1.6"
    by_name = {c["name"]: c for c in bom["components"]}
    greet = by_name["example.org/greet"]
    h1 = built.go_sum("example.org/greet", "v1.0.0")
    assert (greet["type"], greet["version"], greet["purl"]) == ("library", "v1.0.0", GREET_PURL)
    assert greet["hashes"] == [{"alg": "SHA-256",
                                "content": base64.b64decode(h1[3:]).hex()}]
    assert by_name["example.net/local"]["version"] == "v0.3.0"
    assert by_name["example.com/app"]["type"] == "library"
    assert by_name[BASE]["type"] == "container"
    image = bom["metadata"]["component"]
    assert (image["type"], image["name"]) == ("container", IMAGE)
    assert image["purl"].startswith(f"pkg:oci/image@{IMAGE}?")
    assert image["hashes"] == [{"alg": "SHA-256", "content": "1" * 64}]
    assert bom["metadata"]["timestamp"].startswith("2024-01-01T00:00:00")
    assert bom["metadata"]["tools"]["components"][0]["name"] == "kotasks"
    graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert sorted(graph[image["bom-ref"]]) == sorted([by_name["example.com/app"]["bom-ref"],
                                                       by_name[BASE]["bom-ref"]])
    assert GREET_PURL in graph[by_name["example.com/app"]["bom-ref"]]


def test_cyclonedx_is_byte_identical_with_a_serial_from_the_digest(built: Built) -> None:
    first = cyclonedx_image(FACTS, built.info, TOOL)
    assert first == cyclonedx_image(FACTS, built.info, TOOL)
    other = ImageFacts(BASE, OCI_MANIFEST, FACTS.created)
    serials = {json.loads(data)["serialNumber"]
               for data in (first, cyclonedx_image(other, built.info, TOOL))}
    assert len(serials) == 2


def test_cyclonedx_index_is_valid_and_lists_each_image() -> None:
    data = cyclonedx_index(INDEX, OCI_INDEX, "0001-01-01T00:00:00Z", CHILDREN, "alpine", BASE,
                           TOOL)
    assert data == cyclonedx_index(INDEX, OCI_INDEX, "0001-01-01T00:00:00Z", CHILDREN, "alpine",
                                   BASE, TOOL)
    bom = check_cyclonedx(data)
    assert bom["metadata"]["component"]["name"] == INDEX
    versions = {c["name"]: c.get("version") for c in bom["components"]}
    assert versions == {ARM: "linux/arm/v7", WINDOWS: "windows/amd64:10.0.17763.1234",
                        BASE: "alpine"}


# --- attachment -------------------------------------------------------------------------------

def test_sbom_attachment_is_a_static_file_image(built: Built) -> None:
    document = spdx_image(FACTS, built.info, TOOL)
    attachment = sbom_attachment(document, SPDX_MEDIA_TYPE)
    assert attachment.manifest_media_type == OCI_MANIFEST
    assert attachment.layer == document
    manifest = parse_manifest(attachment.manifest)
    assert manifest.media_type == OCI_MANIFEST
    assert manifest.config.media_type == OCI_CONFIG
    assert manifest.config.digest == "sha256:" + hashlib.sha256(attachment.config).hexdigest()
    assert manifest.config.size == len(attachment.config)
    assert [(layer.media_type, layer.digest, layer.size) for layer in manifest.layers] == [
        (SPDX_MEDIA_TYPE, "sha256:" + hashlib.sha256(document).hexdigest(), len(document))]
    config = json.loads(attachment.config)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [manifest.layers[0].digest]}
    assert attachment == sbom_attachment(document, SPDX_MEDIA_TYPE)
    other = sbom_attachment(b"{}\n", CYCLONEDX_MEDIA_TYPE)
    assert parse_manifest(other.manifest).layers[0].media_type == CYCLONEDX_MEDIA_TYPE


def test_sbom_tag_names_the_image_digest() -> None:
    assert sbom_tag(IMAGE) == "sha256-" + "1" * 64 + ".sbom"


def test_spdx_main_module_without_a_host_has_no_download_url(tmp_path: Path) -> None:
    info = parse_build_info("/ko-app/app: go1.26.8\n\tpath\tapp\n\tmod\tapp\t(devel)\t\n"
                            "\tdep\tgithub.com/Foo/Bar\tv2.0.0+incompatible\th1:"
                            + base64.b64encode(b"\x07" * 32).decode() + "\n")
    data = spdx_image(ImageFacts(IMAGE, OCI_MANIFEST, ""), info, TOOL)
    check_spdx(data, tmp_path / "app.spdx.json")
    doc = spdx_json(data)
    main = package(doc, "SPDXRef-Package-app--devel-")
    assert main["downloadLocation"] == "NOASSERTION"
    dep = package(doc, "SPDXRef-Package-github.com.Foo.Bar-v2.0.0-incompatible")
    assert purls(dep) == ["pkg:golang/github.com/foo/Bar@v2.0.0+incompatible?type=module"]
    assert dep["checksums"] == [{"algorithm": "SHA256", "checksumValue": "07" * 32}]


def test_spdx_ids_that_collide_after_escaping_are_an_image_error() -> None:
    info = parse_build_info("x: go1.26.8\n\tpath\tex.com/m\n\tmod\tex.com/m\t(devel)\t\n"
                            "\tdep\tex.com/a_b\tv1.0.0\t\n\tdep\tex.com/a-b\tv1.0.0\t\n")
    with pytest.raises(ImageError, match="duplicates"):
        spdx_image(FACTS, info, TOOL)
