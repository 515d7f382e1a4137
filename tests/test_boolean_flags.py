"""ko's (cobra's) boolean flags: a bare flag is true and never takes the next word; a value is
given only as ``--flag=value``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kotasks.cliparser import _BOOLEAN_FLAGS, build_parser, parse_args
from tests.support.project import run_kotasks

#: ko's boolean flags of `ko build` (publish and build groups), as its docs spell them
BUILD_FLAGS = ["--tag-only", "--push", "-L", "--local", "--insecure-registry", "-P",
               "--preserve-import-paths", "-B", "--base-import-paths", "--bare",
               "--disable-optimizations", "--debug"]
#: kotasks' own boolean flags follow the same rule
OWN_FLAGS = ["--no-cache", "--offline", "--no-progress"]
APP = "example.com/hello/cmd/app"


def parsed(*argv: str) -> dict[str, object]:
    return vars(parse_args(build_parser(), argv))


@pytest.mark.parametrize("flag", [*BUILD_FLAGS, *OWN_FLAGS])
def test_a_bare_boolean_flag_does_not_eat_the_path(flag: str) -> None:
    args = parsed("build", flag, "./cmd/app")
    assert args["paths"] == ["./cmd/app"]
    assert args[_BOOLEAN_FLAGS[flag]] is True


@pytest.mark.parametrize("flag", BUILD_FLAGS)
@pytest.mark.parametrize(("value", "expected"), [("false", False), ("true", True),
                                                 ("0", False), ("1", True),
                                                 ("F", False), ("TRUE", True)])
def test_a_value_is_given_with_equals(flag: str, value: str, expected: bool) -> None:
    args = parsed("build", f"{flag}={value}", "./cmd/app")
    assert args["paths"] == ["./cmd/app"]
    assert args[_BOOLEAN_FLAGS[flag]] is expected


def test_every_boolean_flag_follows_the_rule() -> None:
    build_parser()
    assert set(_BOOLEAN_FLAGS) == {*BUILD_FLAGS, *OWN_FLAGS, "-R", "--recursive"}


@pytest.mark.parametrize("flag", ["-R", "--recursive"])
def test_resolve_recursive_is_boolean_too(flag: str) -> None:
    args = parsed("resolve", flag, "-f", "config")
    assert args["recursive"] is True and args["filename"] == ["config"]
    assert parsed("resolve", f"{flag}=false", "-f", "config")["recursive"] is False


def test_the_last_mention_wins() -> None:
    assert parsed("build", "--push=false", "--push", ".")["push"] is True
    assert parsed("build", "--push", "--push=false", ".")["push"] is False


def test_combined_short_flags() -> None:
    args = parsed("build", "-PL", "./cmd/app")
    assert args["preserve_import_paths"] is True and args["local"] is True
    assert args["paths"] == ["./cmd/app"]


def test_words_after_a_double_dash_are_left_alone() -> None:
    assert parsed("build", "--", "--push=false")["paths"] == ["--push=false"]


def test_a_bad_value_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parsed("build", "--push=maybe", "./cmd/app")
    assert caught.value.code == 2
    assert "argument --push: expected true or false, got 'maybe'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_from_kos_docs_works(hello: Path) -> None:
    [ref] = run_kotasks(hello, "build", "--push=false", "-t", "v1", "--tag-only",
                        "./cmd/app").ok().refs
    assert ref == f"app-{hashlib.md5(APP.encode()).hexdigest()}:v1"
