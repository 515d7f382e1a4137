"""Which cluster kubectl would apply to, read from kubeconfig files as kubectl merges them;
and which changed paths start a watch round."""

from __future__ import annotations

import os
from pathlib import Path

from kotasks.kube import cluster_identity
from kotasks.watch import is_input


def kubeconfig(path: Path, current: str, contexts: dict[str, tuple[str, str]],
               servers: dict[str, str]) -> Path:
    lines = ["apiVersion: v1", "kind: Config", f"current-context: {current}", "contexts:"]
    for name, (cluster, namespace) in contexts.items():
        lines.append(f"- name: {name}\n  context: {{cluster: {cluster}, namespace: {namespace}}}")
    lines.append("clusters:")
    for name, server in servers.items():
        lines.append(f"- name: {name}\n  cluster: {{server: '{server}'}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_current_context_names_server_and_namespace(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "k", "dev", {"dev": ("c1", "team")}, {"c1": "https://a:1"})
    assert cluster_identity({"KUBECONFIG": str(config)}) == {
        "context": "dev", "server": "https://a:1", "namespace": "team"}


def test_the_first_file_wins_when_merging(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a", "one", {"one": ("c1", "x")}, {"c1": "https://first"})
    second = kubeconfig(tmp_path / "b", "two", {"one": ("c2", "y"), "two": ("c2", "z")},
                        {"c1": "https://second", "c2": "https://other"})
    env = {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    assert cluster_identity(env) == {"context": "one", "server": "https://first",
                                     "namespace": "x"}
    assert cluster_identity(env, ["--context", "two"])["server"] == "https://other"
    assert cluster_identity(env, ["--context=two"])["namespace"] == "z"


def test_kubeconfig_flag_and_home_default(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    kubeconfig(tmp_path / ".kube/config", "h", {"h": ("c", "")}, {"c": "https://home"})
    flagged = kubeconfig(tmp_path / "f", "f", {"f": ("c", "")}, {"c": "https://flag"})
    assert cluster_identity({"HOME": str(tmp_path)})["server"] == "https://home"
    assert cluster_identity({"HOME": str(tmp_path)},
                            ["--kubeconfig", str(flagged)])["server"] == "https://flag"


def test_a_missing_or_broken_kubeconfig_is_an_empty_identity(tmp_path: Path) -> None:
    (tmp_path / "broken").write_text("{{not yaml")
    assert cluster_identity({"KUBECONFIG": str(tmp_path / "broken")}) == {
        "context": "", "server": "", "namespace": ""}


def test_which_changes_start_a_round(tmp_path: Path) -> None:
    root = str(tmp_path)
    config = os.path.join(root, "config")
    yes = ["cmd/app/main.go", "cmd/app/kodata/index.html", ".ko.yaml", "go.mod", "go.sum",
           "config/deploy.yaml", "config/sub/x.json"]
    no = [".kotasks/oci/index.json", ".git/HEAD", "cmd/app/.main.go.swp", "docs/notes.yaml",
          "README.md", "cmd/app/main.go~"]
    for path in yes:
        assert is_input(os.path.join(root, path), [config]), path
    for path in no:
        assert not is_input(os.path.join(root, path), [config]), path
