"""Precise invalidation: a settings change re-runs exactly the steps it affects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import push_base, write_base_layout
from tests.support.project import FIXTURES, Result, append, copy_module, run_doit
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

SHOW = ["build:cmd/show", "gobuild:cmd/show@linux/amd64", "image:cmd/show@linux/amd64",
        "layer:cmd/show@linux/amd64", "sbom:cmd/show@linux/amd64"]
CONFIG = """defaultBaseImage: {base}
defaultLdflags: [-X main.version=default]
builds:
- id: show
  main: ./cmd/show
  ldflags: ["-X main.version={ldflags}", "-X main.extra={{{{.Env.SHOW_EXTRA}}}}"]
"""


@pytest.fixture
def module(tmp_path: Path) -> Path:
    module = copy_module(FIXTURES / "buildcfg", tmp_path / "buildcfg")
    configure(module)
    return module


def configure(module: Path, base: str = "scratch", ldflags: str = "one") -> None:
    (module / ".ko.yaml").write_text(CONFIG.format(base=base, ldflags=ldflags))


def build(module: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_doit(module, *args, env={"SHOW_EXTRA": "x", **(env or {})}).ok()


def test_changing_one_builds_ldflags_rebuilds_only_that_build(module: Path) -> None:
    build(module)
    configure(module, ldflags="two")
    assert sorted(build(module).executed) == SHOW


def test_an_env_var_a_template_reads_rebuilds_and_others_do_not(module: Path) -> None:
    build(module)
    assert build(module, env={"UNRELATED": "1"}).executed == []
    assert sorted(build(module, env={"SHOW_EXTRA": "y"}).executed) == SHOW


@pytest.mark.parametrize("options", ["image_label=['a=b']", "image_annotation=['n=v']",
                                     "image_user='1000'"])
def test_image_settings_make_a_new_image_without_go_build_or_layers(module: Path,
                                                                    options: str) -> None:
    first = build(module, "build:cmd/show")
    (module / "dodo.py").write_text(f"from kotasks import tasks\n\n"
                                    f"globals().update(tasks({options}))\n")
    result = build(module, "build:cmd/show")
    assert sorted(result.executed) == ["build:cmd/show", "image:cmd/show@linux/amd64",
                                       "sbom:cmd/show@linux/amd64"]
    assert result.refs != first.refs


def test_changing_the_base_reassembles_images_without_go_build(
        module: Path, registry: Registry, tmp_path: Path) -> None:
    base = push_base(write_base_layout(tmp_path / "base"), registry.host, "settings/base")
    build(module)
    configure(module, base=base)
    result = build(module)
    assert not result.ran("gobuild:") and not result.ran("layer:") and not result.ran("kodata:")
    assert sorted(result.ran("image:")) == ["image:cmd/other@linux/amd64",
                                            "image:cmd/show@linux/amd64"]
    assert f"base:{base}" in result.executed
    (module / ".ko.yaml").write_text(CONFIG.format(base=base, ldflags="one")
                                     + "baseImageOverrides:\n  EXAMPLE.COM/buildcfg/cmd/Other: "
                                       "scratch\n")
    result = build(module)
    assert sorted(result.executed) == ["build:cmd/other", "image:cmd/other@linux/amd64",
                                       "sbom:cmd/other@linux/amd64"]


def test_go_mod_change_rebuilds(module: Path) -> None:
    build(module)
    append(module / "go.mod", "\n// a comment\n")
    assert {"gobuild:cmd/show@linux/amd64", "gobuild:cmd/other@linux/amd64"} <= set(
        build(module).executed)
    path = module / "go.mod"
    path.write_text(path.read_text().replace("go 1.21", "go 1.22"))
    result = build(module)
    assert "build:cmd/show" in result.executed and "build:cmd/other" in result.executed
