"""The git repository around a module: where it is, the files Go's VCS stamp reads, and
the stamp itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence


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


def git_info_warning(workdir: str) -> str:
    """ko's warning before a build whose directory git cannot describe ("" if it can)."""
    if shutil.which("git") is None:
        return "git not present in PATH. Git info will not be available"
    if git_dir(workdir) is None:
        return "current folder is not a git repository. Git info will not be available"
    return ""


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


def git_output(directory: str, *args: str) -> str | None:
    """``git ARGS`` in ``directory``: its stripped output, or None if it failed."""
    proc = subprocess.run(["git", "-c", "log.showSignature=false", *args], cwd=directory,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


#: directories of the version control systems Go stamps besides git
_OTHER_VCS = (".hg", ".svn", ".bzr", ".fossil", "_FOSSIL_")


class UnknownStamp(Exception):
    """Go may stamp the binary with the state of a repository kotasks cannot read."""


def vcs_stamp(workdir: str, environ: Mapping[str, str], flags: Sequence[str] = ()
              ) -> dict[str, str]:
    """What Go's VCS stamping reads, as ``go build`` would see it: the HEAD commit, its
    time and whether the work tree is modified (``git status --porcelain`` not empty, the
    untracked files included, as Go counts them); empty outside a repository or with
    ``-buildvcs=false``. Raises :class:`UnknownStamp` inside another kind of repository,
    or when git cannot answer."""
    words = [*environ.get("GOFLAGS", "").split(), *flags]
    if "-buildvcs=false" in words:
        return {}
    found = git_dir(workdir)
    directory = os.path.abspath(workdir)
    while True:  # up to the git work tree's root (or /): the innermost repository counts
        if any(os.path.exists(os.path.join(directory, d)) for d in _OTHER_VCS):
            raise UnknownStamp(f"{directory} is in a repository that is not git's")
        parent = os.path.dirname(directory)
        if parent == directory or (found is not None and directory == found[0]):
            break
        directory = parent
    if found is None:
        return {}
    root = found[0]
    status = git_output(root, "status", "--porcelain")
    head = git_output(root, "log", "-1", "--format=%H:%ct")
    if status is None or not head:
        raise UnknownStamp(f"git cannot tell the state of {root}")
    revision, _, seconds = head.partition(":")
    return {"revision": revision, "time": seconds, "modified": str(bool(status)).lower()}
