"""SBOMs as tasks: files in --sbom-dir, attachments in the registry, and no work when nothing
changed."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.support.goproxy import greet_proxy
from tests.support.images import run, skopeo_raw
from tests.support.project import run_doit, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

SPDX = "text/spdx+json"
CDX = "application/vnd.cyclonedx+json"


@pytest.fixture
def app(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A module whose main package uses example.org/greet from a file GOPROXY."""
    env = {**greet_proxy(tmp_path / "proxy"), "GOMODCACHE": str(tmp_path / "modcache")}
    module = tmp_path / "sbomapp"
    (module / "cmd/app").mkdir(parents=True)
    (module / "go.mod").write_text("module example.com/sbomapp\n\ngo 1.21\n\n"
                                   "require example.org/greet v1.0.0\n")
    (module / "cmd/app/main.go").write_text(
        'package main\n\nimport "example.org/greet"\n\nfunc main() { println(greet.Hello()) }\n')
    (module / ".ko.yaml").write_text("defaultBaseImage: scratch\n")
    (module / "dodo.py").write_text("from kotasks import tasks\n\nglobals().update("
                                    "tasks(sbom_dir='sboms'))\n")
    return module, env


def attachment(repo: str, image_digest: str, tmp_path: Path) -> tuple[dict, bytes]:
    """The SBOM attached to an image, fetched back with skopeo: its manifest and layer."""
    tag = f"{repo}:sha256-{image_digest.split(':')[1]}.sbom"
    manifest = skopeo_raw(f"docker://{tag}")
    out = tmp_path / f"fetched-{image_digest[7:19]}"
    run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{tag}", f"dir:{out}"])
    layer = manifest["layers"][0]
    return manifest, (out / layer["digest"].split(":")[1]).read_bytes()


def test_spdx_sbom_on_disk_and_attached(app: tuple[Path, dict[str, str]], registry: Registry,
                                        tmp_path: Path) -> None:
    module, env = app
    repo_env = {**env, "KO_DOCKER_REPO": f"{registry.host}/sbom"}
    [ref] = run_kotasks(module, "build", "./cmd/app", "--sbom-dir", "out", env=repo_env).ok().refs
    on_disk = (module / "out" / "app-linux-amd64.spdx.json").read_bytes()
    document = json.loads(on_disk)
    greet = [p for p in document["packages"] if p["name"] == "example.org/greet"]
    assert greet and greet[0]["versionInfo"] == "v1.0.0"
    assert any(r["referenceLocator"] == "pkg:golang/example.org/greet@v1.0.0?type=module"
               for r in greet[0]["externalRefs"])
    pyspdxtools = Path(sys.executable).with_name("pyspdxtools")
    run([str(pyspdxtools), "-i", str(module / "out" / "app-linux-amd64.spdx.json")])

    repo, digest = ref.split("@")
    manifest, layer = attachment(repo, digest, tmp_path)
    assert manifest["layers"][0]["mediaType"] == SPDX
    assert layer == on_disk
    assert document["name"] == f"sbom-{digest}"


def test_cyclonedx_sbom(app: tuple[Path, dict[str, str]], registry: Registry,
                        tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    module, env = app
    repo_env = {**env, "KO_DOCKER_REPO": f"{registry.host}/sbomcdx"}
    [ref] = run_kotasks(module, "build", "./cmd/app", "--sbom=cyclonedx", "--sbom-dir", "out",
                        env=repo_env).ok().refs
    on_disk = (module / "out" / "app-linux-amd64.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(on_disk) is None
    components = json.loads(on_disk)["components"]
    assert any(c["name"] == "example.org/greet" and c["version"] == "v1.0.0" and
               c["purl"] == "pkg:golang/example.org/greet@v1.0.0?type=module"
               for c in components)
    manifest, layer = attachment(*ref.split("@"), tmp_path)
    assert manifest["layers"][0]["mediaType"] == CDX and layer.decode() == on_disk


def test_index_sbom_and_one_attachment_per_child(app: tuple[Path, dict[str, str]],
                                                 registry: Registry, tmp_path: Path) -> None:
    module, env = app
    repo_env = {**env, "KO_DOCKER_REPO": f"{registry.host}/sbomidx"}
    [ref] = run_kotasks(module, "build", "./cmd/app", "--platform", "linux/amd64,linux/arm64",
                        "--sbom-dir", "out", env=repo_env).ok().refs
    names = sorted(p.name for p in (module / "out").iterdir())
    assert names == ["app-index.spdx.json", "app-linux-amd64.spdx.json",
                     "app-linux-arm64.spdx.json"]
    repo, digest = ref.split("@")
    index = skopeo_raw(f"docker://{ref}")
    for subject in [digest, *(m["digest"] for m in index["manifests"])]:
        manifest, _ = attachment(repo, subject, tmp_path)
        assert manifest["layers"][0]["mediaType"] == SPDX


def test_unchanged_binary_and_image_means_no_sbom_work(app: tuple[Path, dict[str, str]],
                                                        registry: Registry) -> None:
    module, env = app
    repo_env = {**env, "KO_DOCKER_REPO": f"{registry.host}/sbominc"}
    first = run_doit(module, env=repo_env).ok()
    assert "sbom:cmd/app@linux/amd64" in first.executed
    file = module / "sboms" / "app-linux-amd64.spdx.json"
    before = hashlib.sha256(file.read_bytes()).hexdigest()
    mark = registry.mark()
    again = run_doit(module, env=repo_env).ok()
    assert again.executed == [] and registry.requests_since(mark) == []
    (module / "dodo.py").write_text("from kotasks import tasks\n\nglobals().update(tasks("
                                    "sbom_dir='sboms', sbom='cyclonedx'))\n")
    switched = run_doit(module, env=repo_env).ok()
    assert sorted(switched.executed) == ["build:cmd/app", "sbom:cmd/app@linux/amd64"]
    assert (module / "sboms" / "app-linux-amd64.cdx.json").exists()
    assert hashlib.sha256(file.read_bytes()).hexdigest() == before


def test_sboms_are_byte_identical_across_clean_builds(app: tuple[Path, dict[str, str]]) -> None:
    import shutil

    module, env = app
    run_doit(module, env=env).ok()
    first = (module / "sboms" / "app-linux-amd64.spdx.json").read_bytes()
    shutil.rmtree(module / ".kotasks")
    shutil.rmtree(module / "sboms")
    run_doit(module, env=env).ok()
    assert (module / "sboms" / "app-linux-amd64.spdx.json").read_bytes() == first


def test_sbom_none_and_cosign_repository(app: tuple[Path, dict[str, str]], registry: Registry,
                                         tmp_path: Path) -> None:
    module, env = app
    repo_env = {**env, "KO_DOCKER_REPO": f"{registry.host}/sbomnone"}
    result = run_kotasks(module, "build", "./cmd/app", "--sbom=none", env=repo_env).ok()
    assert not result.ran("sbom:")
    cosign = f"{registry.host}/signatures"
    [ref] = run_kotasks(module, "build", "./cmd/app", "-t", "v2",
                        env={**repo_env, "COSIGN_REPOSITORY": cosign}).ok().refs
    manifest, _ = attachment(cosign, ref.split("@")[1], tmp_path)
    assert manifest["layers"][0]["mediaType"] == SPDX


def test_push_false_still_writes_the_sbom_dir(app: tuple[Path, dict[str, str]],
                                              registry: Registry) -> None:
    module, env = app
    mark = registry.mark()
    run_kotasks(module, "build", "./cmd/app", "--push=false", "--sbom-dir", "out",
                env={**env, "KO_DOCKER_REPO": f"{registry.host}/nopush"}).ok()
    assert (module / "out" / "app-linux-amd64.spdx.json").exists()
    assert registry.requests_since(mark) == []
