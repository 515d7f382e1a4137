"""The git repository around a module: where it is, and the files Go's VCS stamp reads."""

from __future__ import annotations

import os
from collections.abc import Mapping


def git_dir(workdir: str) -> tuple[str, str] | None:
    """Return (work tree root, git directory) of the repository holding ``workdir``."""
    directory = os.path.abspath(workdir)
    while True:
        git = os.path.join(directory, ".git")
        if os.path.isfile(git):  # a worktree or submodule: "gitdir: <path>"
            with open(git) as f:
                git = os.path.join(directory, f.read().partition("gitdir:")[2].strip())
        if os.path.isdir(git):
            return directory, git
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def repo_root(workdir: str) -> str:
    """The repository's work tree root, or ``workdir`` itself outside a repository."""
    found = git_dir(workdir)
    return found[0] if found else os.path.abspath(workdir)


def vcs_inputs(workdir: str, environ: Mapping[str, str]) -> list[str]:
    """Git files whose change changes Go's VCS stamp (``vcs.revision``) in the binary.

    Go stamps binaries built inside a git repository with the HEAD commit; without these
    file dependencies a commit would not rebuild anything. (``vcs.modified`` follows the
    working tree's state, which is not tracked: set ``GOFLAGS=-buildvcs=false`` for
    binaries that depend on nothing but their sources.)
    """
    if "-buildvcs=false" in environ.get("GOFLAGS", "").split():
        return []
    repository = git_dir(workdir)
    if repository is None:
        return []
    git = repository[1]
    head = os.path.join(git, "HEAD")
    found = [head]
    try:
        with open(head) as f:
            target = f.read().strip().partition("ref:")[2].strip()
    except OSError:
        return []
    for candidate in (os.path.join(git, target) if target else "",
                      os.path.join(git, "packed-refs")):
        if candidate and os.path.isfile(candidate):
            found.append(candidate)
            break
    return found
