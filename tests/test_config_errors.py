"""Malformed configuration and flags: one line naming the file, key or flag, and what was
expected; a non-zero exit; nothing built."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import FIXTURES, copy_module, run_kotasks

BASE = "defaultBaseImage: scratch\n"

# (id, .ko.yaml text (None: keep the fixture's), extra arguments, environment, expected parts)
CASES: list[tuple[str, str | None, list[str], dict[str, str], list[str]]] = [
    ("invalid yaml", "defaultBaseImage: [\n", [], {}, [".ko.yaml", "invalid YAML at line"]),
    ("not a mapping", "- a\n- b\n", [], {}, [".ko.yaml", "expected a mapping", "a list"]),
    ("base not a string", "defaultBaseImage: 42\n", [], {},
     [".ko.yaml: defaultBaseImage", "expected a string", "42"]),
    ("bad base reference", "defaultBaseImage: Bad/Name\n", [], {},
     [".ko.yaml: defaultBaseImage", "'Bad/Name'", "invalid path component"]),
    ("overrides not a mapping", BASE + "baseImageOverrides: [a]\n", [], {},
     [".ko.yaml: baseImageOverrides", "expected a mapping"]),
    ("bad override reference", BASE + "baseImageOverrides:\n  example.com/x: 'a b'\n", [], {},
     ["baseImageOverrides[example.com/x]", "'a b'"]),
    ("platform with four parts", BASE + "defaultPlatforms: [linux/arm/v7/x]\n", [], {},
     [".ko.yaml: defaultPlatforms", "invalid platform 'linux/arm/v7/x'",
      "os[/arch[/variant]][:osversion]"]),
    ("platforms a mapping", BASE + "defaultPlatforms: {linux: amd64}\n", [], {},
     [".ko.yaml: defaultPlatforms", "expected a list of strings", "a mapping"]),
    ("env not strings", BASE + "defaultEnv: [1, 2]\n", [], {},
     [".ko.yaml: defaultEnv[0]", "expected a string", "a number (1)"]),
    ("env without equals", BASE + "defaultEnv: [NOEQUALS]\n", [], {},
     [".ko.yaml: defaultEnv[0]", "expected KEY=VALUE", "'NOEQUALS'"]),
    ("flags a boolean", BASE + "defaultFlags: true\n", [], {},
     [".ko.yaml: defaultFlags", "expected a list of strings", "a boolean (true)"]),
    ("ldflags a mapping", BASE + "defaultLdflags: {a: b}\n", [], {},
     [".ko.yaml: defaultLdflags", "expected a list of strings"]),
    ("builds a string", BASE + "builds: x\n", [], {},
     [".ko.yaml: builds", "expected a list of build entries"]),
    ("build not a mapping", BASE + "builds: [x]\n", [], {},
     [".ko.yaml: builds[0]", "expected a mapping"]),
    ("main does not exist", BASE + "builds:\n- main: ./cmd/nope\n", [], {},
     [".ko.yaml: builds[0].main", "'./cmd/nope' does not exist"]),
    ("dir outside the repository", BASE + "builds:\n- dir: ../..\n  main: .\n", [], {},
     [".ko.yaml: builds[0].dir", "outside the repository"]),
    ("dir missing", BASE + "builds:\n- dir: ./nowhere\n", [], {},
     [".ko.yaml: builds[0].dir", "'./nowhere' is not a directory"]),
    ("main not a main package", BASE + "builds:\n- main: ./lib\n", [], {},
     [".ko.yaml: builds[0].main", "package lib, not package main"]),
    ("unknown capability", BASE + "builds:\n- main: ./cmd/show\n  linux_capabilities: "
                                  "[cap_bogus]\n", [], {},
     [".ko.yaml: builds[0].linux_capabilities", "unknown capability 'cap_bogus'"]),
    ("template syntax error", BASE + "builds:\n- main: ./cmd/show\n  ldflags: ['{{.Env.X']\n",
     [], {}, [".ko.yaml: builds[0].ldflags[0]", "unclosed action"]),
    ("missing template key", BASE + "builds:\n- main: ./cmd/show\n  ldflags: "
                                     "['-X main.v={{.Env.NOT_SET_ANYWHERE}}']\n", [], {},
     [".ko.yaml: builds[0].ldflags[0]", "map has no entry for key 'NOT_SET_ANYWHERE'"]),
    ("unknown template function", BASE + "defaultLdflags: ['{{ upper .Env.HOME }}']\n", [], {},
     [".ko.yaml: defaultLdflags[0]", "function 'upper' not defined"]),
    ("duplicate build ids", BASE + "builds:\n- id: a\n  main: ./cmd/show\n- id: a\n"
                                   "  main: ./cmd/other\n", [], {},
     [".ko.yaml: builds[1].id", "duplicate build id 'a'", "builds[0].id"]),
    ("build env not strings", BASE + "builds:\n- main: ./cmd/show\n  env: [5]\n", [], {},
     [".ko.yaml: builds[0].env[0]", "expected a string"]),
    ("build id not a string", BASE + "builds:\n- id: [1]\n  main: ./cmd/show\n", [], {},
     [".ko.yaml: builds[0].id", "expected a string, got a list"]),
    ("toolexec in flags", BASE + "builds:\n- main: ./cmd/show\n  flags: [-toolexec=/bin/true]\n",
     [], {}, [".ko.yaml: builds[0].flags[0]", "-toolexec is not allowed"]),
    ("toolexec in GOFLAGS", None, [], {"GOFLAGS": "-toolexec=/bin/true"},
     ["GOFLAGS", "-toolexec is not allowed"]),
    ("missing KO_CONFIG_PATH", None, [], {"KO_CONFIG_PATH": "/nonexistent/ko.yaml"},
     ["KO_CONFIG_PATH=/nonexistent/ko.yaml", "no such file or directory"]),
    ("KO_CONFIG_PATH directory without .ko.yaml", None, [], {"KO_CONFIG_PATH": "/"},
     ["KO_CONFIG_PATH=/", "has no regular .ko.yaml"]),
    ("bad KO_DEFAULTPLATFORMS", None, [], {"KO_DEFAULTPLATFORMS": "linux//x/y"},
     ["KO_DEFAULTPLATFORMS", "invalid platform"]),
    ("bad --platform", None, ["--platform", "linux/amd64/v1/extra"], {},
     ["--platform", "invalid platform 'linux/amd64/v1/extra'"]),
    ("all with others", None, ["--platform", "all,linux/amd64"], {},
     ["--platform", "all or specific platforms"]),
    ("platform with GOOS", None, ["--platform", "linux/arm64"], {"GOOS": "linux"},
     ["--platform", "GOOS"]),
    ("label without value", None, ["--image-label", "novalue"], {},
     ["--image-label 'novalue'", "expected key=value"]),
    ("annotation without key", None, ["--image-annotation", "=x"], {},
     ["--image-annotation '=x'", "expected key=value"]),
    ("bad tag", None, ["--tags", "bad tag"], {}, ["--tags", "invalid tag 'bad tag'"]),
    ("bad SOURCE_DATE_EPOCH", None, [], {"SOURCE_DATE_EPOCH": "yesterday"},
     ["SOURCE_DATE_EPOCH=yesterday", "expected an integer"]),
    ("bad KO_DATA_DATE_EPOCH", None, [], {"KO_DATA_DATE_EPOCH": "-5"},
     ["KO_DATA_DATE_EPOCH=-5", "non-negative"]),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_module(FIXTURES / "buildcfg", tmp_path_factory.mktemp("errors") / "buildcfg")


@pytest.mark.parametrize(("config", "args", "env", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_one_clear_line(pristine: Path, tmp_path: Path, config: str | None,
                                           args: list[str], env: dict[str, str],
                                           expected: list[str]) -> None:
    module = copy_module(pristine, tmp_path / "m")
    if config is not None:
        (module / ".ko.yaml").write_text(config)
    result = run_kotasks(module, "build", "./cmd/show", *args, env=env)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("kotasks: error:")]
    assert len(errors) == 1, result.stderr
    for part in expected:
        assert part in errors[0], f"{part!r} not in {errors[0]!r}"
    assert not (module / ".kotasks" / "bin").exists()

