"""Session fixtures: one registry, one Go build cache, the example copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import EXAMPLES, copy_module
from tests.support.registry import Registry, start_registry


def pytest_configure(config: pytest.Config) -> None:
    missing = [tool for tool in ("go", "docker-registry", "skopeo", "umoci")
               if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError(f"tests need {', '.join(missing)} on PATH (see .ci/run)")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-HTTP registry on 127.0.0.1, shared by the whole session."""
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A private copy of examples/hello."""
    return copy_module(EXAMPLES / "hello", tmp_path / "hello")
