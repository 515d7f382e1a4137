""".ko.yaml and build flags: builds[] entries, precedence, templates, image settings."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from kotasks.oci.layout import Layout
from kotasks.oci.manifest import parse_manifest
from tests.support.project import (
    FIXTURES,
    copy_module,
    image_file,
    run_doit,
    run_image_binary,
    run_kotasks,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def module(tmp_path: Path) -> Path:
    return copy_module(FIXTURES / "buildcfg", tmp_path / "buildcfg")


def write_config(module: Path, text: str) -> None:
    (module / ".ko.yaml").write_text("defaultBaseImage: scratch\n" + text)


def show(module: Path, tmp_path: Path, *flags: str, env: dict[str, str] | None = None,
         package: str = "./cmd/show") -> str:
    result = run_kotasks(module, "build", package, *flags, env=env).ok()
    name = package.rsplit("/", 1)[-1]
    return run_image_binary(module, result.refs[0], name, tmp_path)


def git(module: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t",
                           *args], cwd=module, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_env_git_and_date_templates_reach_the_binary(module: Path, tmp_path: Path) -> None:
    git(module, "init", "-q", "-b", "main")
    git(module, "add", "-A")
    git(module, "commit", "-qm", "first")
    git(module, "tag", "v1.4.0")
    write_config(module, """builds:
- id: show
  main: ./cmd/show
  ldflags:
  - -X main.version={{.Env.VERSION}}
  - -X main.commit={{.Git.ShortCommit}}
  - -X main.date={{.Date}}
  - -X main.extra={{.Git.Tag}}/{{.Git.Branch}}/{{.Git.TreeState}}/{{.GoEnv.GOARCH}}/{{.Timestamp}}
""")
    out = show(module, tmp_path, env={"VERSION": "1.2.3", "SOURCE_DATE_EPOCH": "1700000000",
                                      "TZ": "UTC"})
    short = git(module, "rev-parse", "--short", "HEAD")
    assert (f"version=1.2.3 commit={short} date=2023-11-14T22:13:20Z "
            "extra=v1.4.0/main/dirty/amd64/1700000000") in out


def test_git_values_outside_a_repository_are_ko_defaults(module: Path, tmp_path: Path) -> None:
    git_values = "|".join("{{.Git." + k + "}}" for k in (
        "Tag", "ShortCommit", "TreeState", "CommitTimestamp", "CommitDate"))
    write_config(module, f"defaultLdflags:\n- -X main.extra={git_values}\n")
    out = show(module, tmp_path)
    assert "extra=||clean|-62135596800|0001-01-01T00:00:00Z " in out


def test_ldflags_precedence_cli_over_build_over_default(module: Path, tmp_path: Path) -> None:
    write_config(module, """defaultLdflags: -X main.version=default
builds:
- id: show
  main: ./cmd/show
  ldflags: [-X main.version=build]
""")
    assert "version=build " in show(module, tmp_path)
    assert show(module, tmp_path, package="./cmd/other") == "other default"
    cli = ("--ldflags", "-X main.version=cli", "--ldflags", "-X main.commit=c2")
    assert "version=cli commit=c2 " in show(module, tmp_path, *cli)
    assert show(module, tmp_path, *cli, package="./cmd/other") == "other cli"


def test_build_env_replaces_default_env(module: Path, tmp_path: Path) -> None:
    write_config(module, """defaultEnv: [FROM_DEFAULT=d]
builds:
- id: show
  main: ./cmd/show
  env: [FROM_BUILD=b]
  ldflags: ["-X main.extra={{.Env.FROM_BUILD}}"]
""")
    assert "extra=b " in show(module, tmp_path)
    write_config(module, """defaultEnv: [FROM_DEFAULT=d]
builds:
- id: show
  main: ./cmd/show
  env: [FROM_BUILD=b]
  ldflags: ["-X main.extra={{.Env.FROM_DEFAULT}}"]
""")
    failed = run_kotasks(module, "build", "./cmd/show")
    assert failed.returncode != 0
    assert "builds[0].ldflags[0]" in failed.stderr and "FROM_DEFAULT" in failed.stderr


def test_default_flags_scalar_and_goflags(module: Path, tmp_path: Path) -> None:
    write_config(module, "defaultFlags: -tags showtag\n")
    assert "tagged=on " in show(module, tmp_path)
    write_config(module, "")
    assert "tagged=off " in show(module, tmp_path)
    assert "tagged=on " in show(module, tmp_path, env={"GOFLAGS": "-tags=showtag"})


def test_disable_optimizations(module: Path, tmp_path: Path) -> None:
    result = run_kotasks(module, "build", "./cmd/show", "--disable-optimizations").ok()
    binary = image_file(module, result.refs[0], "/ko-app/show", tmp_path / "show")
    info = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True,
                          text=True, check=True).stdout
    assert '-gcflags="all=-N -l"' in info


def test_image_labels_annotations_and_user(module: Path) -> None:
    result = run_kotasks(module, "build", "./cmd/show", "--image-label", "team=go",
                         "--image-label", "tier=a=b", "--image-annotation", "note=hi",
                         "--image-user", "65532").ok()
    layout = Layout(module / ".kotasks" / "oci")
    manifest = parse_manifest(layout.read(result.refs[0].split("@")[1]))
    config = json.loads(layout.read(manifest.config.digest))
    assert config["config"]["Labels"] == {"team": "go", "tier": "a=b"}
    assert config["config"]["User"] == "65532"
    assert manifest.annotations["note"] == "hi"


@pytest.mark.parametrize(("terms", "xattr"), [
    ("[net_bind_service, chown]", "0000000201040000000000000000000000000000"),
    ("cap_net_bind_service=+ep", "0100000200040000000000000000000000000000"),
    ("[CAP_NET_RAW=p, '35']", "0000000200200000000000000800000000000000"),
])
def test_linux_capabilities_become_the_pax_xattr(module: Path, terms: str, xattr: str) -> None:
    write_config(module, f"""builds:
- main: ./cmd/show
  linux_capabilities: {terms}
""")
    result = run_kotasks(module, "build", "./cmd/show").ok()
    layout = Layout(module / ".kotasks" / "oci")
    manifest = parse_manifest(layout.read(result.refs[0].split("@")[1]))
    with tarfile.open(layout.blob_path(manifest.layers[-1].digest), "r:gz") as tar:
        member = tar.getmember("/ko-app/show")
    raw = member.pax_headers["SCHILY.xattr.security.capability"]
    assert raw.encode("utf-8", "surrogateescape").hex() == xattr


def test_build_entry_in_another_module(module: Path, tmp_path: Path) -> None:
    write_config(module, """builds:
- id: tool
  dir: ./sub
  main: ./cmd/tool
  ldflags: [-X main.version=sub]
""")
    assert show(module, tmp_path, package="./sub/cmd/tool") == "tool sub"
    assert show(module, tmp_path, package="example.com/sub/cmd/tool") == "tool sub"
    listed = run_doit(module, "list").ok().stdout
    assert "build:sub/cmd/tool" in listed and "build:cmd/show" in listed


def test_ko_config_path_names_a_file_or_a_directory(module: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    (elsewhere / "custom.yaml").write_text(
        "defaultBaseImage: scratch\ndefaultLdflags: [-X main.version=fromfile]\n")
    assert show(module, tmp_path, env={"KO_CONFIG_PATH": str(elsewhere / "custom.yaml")}
                ).startswith("version=fromfile")
    (elsewhere / ".ko.yaml").write_text(
        "defaultBaseImage: scratch\ndefaultLdflags: [-X main.version=fromdir]\n")
    assert show(module, tmp_path, env={"KO_CONFIG_PATH": str(elsewhere)}
                ).startswith("version=fromdir")
    (module / ".ko.yaml").unlink()
    (module / ".ko.yml").write_text(
        "defaultBaseImage: scratch\ndefaultLdflags: [-X main.version=yml]\n")
    assert show(module, tmp_path).startswith("version=yml")


def test_env_overrides_of_default_keys(module: Path, tmp_path: Path) -> None:
    write_config(module, "defaultLdflags: [-X main.version=file]\n")
    out = show(module, tmp_path, env={"KO_DEFAULTLDFLAGS": "-X main.version=env -X main.extra=e",
                                      "KO_DEFAULTFLAGS": "-tags showtag"})
    assert out.startswith("version=env ") and "extra=e " in out and "tagged=on " in out


def test_unknown_key_warns_with_the_nearest_valid_key(module: Path) -> None:
    (module / ".ko.yaml").write_text("defaultBaseImage: scratch\ndefaultLdflag: [-s]\n"
                                     "builds:\n- main: ./cmd/show\n  ldflag: [-w]\n")
    result = run_kotasks(module, "build", "./cmd/show").ok()
    assert "defaultLdflag: unknown key, ignored (did you mean 'defaultLdflags'?)" in result.stderr
    assert "builds[0].ldflag: unknown key, ignored (did you mean 'ldflags'?)" in result.stderr
