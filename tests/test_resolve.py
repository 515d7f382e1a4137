"""kotasks resolve and doit resolve: ko:// references become pushed images, every other byte
of the YAML stays as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.images import skopeo_raw
from tests.support.project import Result, append, build_env, run_doit, run_kotasks
from tests.support.registry import Registry

pytestmark = pytest.mark.slow

APP, WORKER = "ko://example.com/hello/cmd/app", "ko://example.com/hello/cmd/worker"
CORPUS = {
    "a-deploy.yaml": (
        "# a comment at the top\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        "  name: app   # trailing comment\n"
        "  labels: {app: hello, tier: web}\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        f"      - name: app\n        image: {APP}\n\n"
        "      - name: worker\n        image: 'ko://./cmd/worker'\n"),
    "b-multi.yml": (
        "---\napiVersion: v1\nkind: ConfigMap\n"
        "metadata: {name: refs, labels: {tier: data}}\ndata:\n"
        f'  anchor: &img "{APP}"\n  alias: *img\n'
        f"  flow: [{WORKER}, plain]\n  {APP}: as-a-key\n...\n"
        "---\n# second document\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
        f"spec:\n  containers:\n  - image: {WORKER}\n"),
    "c.json": ('{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": "j"},\n'
               f'  "spec": {{"containers": [{{"image": "{APP}"}}]}}\n}}\n'),
    "notes.txt": f"{APP}\n",
    "sub/d.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: d}\n"
                   f"spec: {{containers: [{{image: {APP}}}]}}\n"),
}


@pytest.fixture
def config(hello: Path) -> Path:
    directory = hello / "manifests"
    for name, text in CORPUS.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def published(hello: Path, env: dict[str, str]) -> dict[str, str]:
    app, worker = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", env=env).ok().refs
    return {APP: app, WORKER: worker, "ko://./cmd/worker": worker}


def expected(names: list[str], refs: dict[str, str]) -> str:
    parts = []
    for name in names:
        text = CORPUS[name]
        for ko, ref in sorted(refs.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(ko, ref)
        parts.append(text)
    # files are separated by "---" unless a file starts with its own
    return "".join(p if i == 0 or p.startswith("---") else "---\n" + p
                   for i, p in enumerate(parts))


def test_resolve_replaces_only_the_ko_scalars(hello: Path, config: Path,
                                              registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/resolve"}
    refs = published(hello, env)
    result = run_kotasks(hello, "resolve", "-f", "manifests", env=env).ok()
    assert result.stdout == expected(["a-deploy.yaml", "b-multi.yml", "c.json"], refs)
    for ref in set(refs.values()):
        skopeo_raw(f"docker://{ref}")
    recursive = run_kotasks(hello, "resolve", "-f", "manifests", "-R", env=env).ok()
    assert recursive.stdout == expected(["a-deploy.yaml", "b-multi.yml", "c.json",
                                         "sub/d.yaml"], refs)
    explicit = run_kotasks(hello, "resolve", "-f", "manifests/notes.txt", env=env).ok()
    assert explicit.stdout == refs[APP] + "\n"


def test_selector_keeps_matching_objects(hello: Path, config: Path,
                                         registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/resolve"}
    refs = published(hello, env)
    result = run_kotasks(hello, "resolve", "-f", "manifests", "-l", "tier in (web)",
                         env=env).ok()
    assert result.stdout == expected(["a-deploy.yaml"], refs)


def test_stdin(hello: Path, registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/resolve"}
    refs = published(hello, env)
    text = f"# piped\nimage: {APP}   # kept\n"
    proc = subprocess.run([sys.executable, "-m", "kotasks", "resolve", "-f", "-"], cwd=hello,
                          input=text, capture_output=True, text=True, env=build_env(env))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text.replace(APP, refs[APP])


def test_reference_to_a_missing_package_names_file_and_line(hello: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nimage: ko://example.com/hello/cmd/nope\n")
    result = run_kotasks(hello, "resolve", "-f", str(bad))
    assert result.returncode != 0
    [line] = [x for x in result.stderr.splitlines() if x.startswith("kotasks: error:")]
    assert f"{bad}:2:8" in line and "cmd/nope" in line


def test_image_refs_file(hello: Path, registry: Registry, tmp_path: Path) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/refs"}
    out = tmp_path / "refs.txt"
    result = run_kotasks(hello, "build", "./cmd/app", "./cmd/worker", "--image-refs", str(out),
                         env=env).ok()
    assert out.read_text() == "".join(f"{r}\n" for r in result.refs)
    multi = run_kotasks(hello, "build", "./cmd/worker", "--platform",
                        "linux/amd64,linux/arm64", "--image-refs", str(out), env=env).ok()
    lines = out.read_text().splitlines()
    assert lines[0] == multi.refs[0] and len(lines) == 3
    repo = multi.refs[0].split("@")[0]
    assert all(line.startswith(f"{repo}@sha256:") for line in lines[1:])


def resolve(hello: Path, env: dict[str, str]) -> Result:
    return run_doit(hello, "resolve", env=env).ok()


def test_doit_resolve_reads_config_and_is_incremental(hello: Path, registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/doitresolve"}
    first = resolve(hello, env)
    source = (hello / "config/deploy.yaml").read_text()
    refs = dict(zip([APP, WORKER], run_kotasks(hello, "build", "./cmd/app", "./cmd/worker",
                                               env=env).ok().refs, strict=True))
    assert first.stdout == source.replace(APP, refs[APP]).replace(WORKER, refs[WORKER])
    assert (hello / ".kotasks/resolved.yaml").read_text() == first.stdout
    assert resolve(hello, env).executed == []

    append(hello / "internal/greeting/greeting.go", "\n// comment only\n")
    comment = resolve(hello, env)
    assert not comment.ran("resolve") and comment.stdout == first.stdout

    (hello / "config/other.yaml").write_text(f"image: {APP}\n")
    added = resolve(hello, env)
    assert sorted(added.ran("resolve")) == ["resolve", "resolve:config/other.yaml"]

    main = hello / "cmd/worker/main.go"
    main.write_text(main.read_text().replace('For("worker")', 'For("w2")'))
    edited = resolve(hello, env)
    assert "resolve:config/deploy.yaml" in edited.executed
    assert "resolve:config/other.yaml" not in edited.executed
    assert not edited.ran("build:cmd/app")


def test_a_new_file_ahead_of_the_others_keeps_every_output_right(hello: Path,
                                                                 registry: Registry) -> None:
    env = {"KO_DOCKER_REPO": f"{registry.host}/reorder"}
    (hello / "config/b.yaml").write_text(f"worker: {WORKER}\n")
    first = resolve(hello, env)
    (hello / "config/a.yaml").write_text("first: true\n")
    second = resolve(hello, env)
    assert second.stdout == "first: true\n---\n" + first.stdout
