"""The data ko's templates see: ``.Env``, ``.GoEnv``, ``.Date``, ``.Timestamp``, ``.Git``.

``.Git`` runs git and ``.GoEnv`` runs ``go env`` only when a template reads them.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import shutil
import time
from collections.abc import Mapping
from typing import Any

from kotasks.errors import GoError
from kotasks.gobuild.templates import Lookup
from kotasks.gobuild.toolchain import Toolchain
from kotasks.gobuild.vcs import git_output

log = logging.getLogger("kotasks")
_ZERO_COMMIT = {"Branch": "", "Tag": "", "ShortCommit": "", "FullCommit": "",
                "CommitDate": "0001-01-01T00:00:00Z", "CommitTimestamp": -62135596800,
                "IsDirty": False, "IsClean": True, "TreeState": "clean"}


def rfc3339_local(epoch: int) -> str:
    """Go's ``time.Unix(epoch).Format(time.RFC3339)`` in the local zone ("Z" for UTC+0)."""
    moment = datetime.datetime.fromtimestamp(epoch).astimezone()
    offset = moment.utcoffset() or datetime.timedelta(0)
    if not offset:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = "-" if offset < datetime.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@functools.cache
def git_info(directory: str) -> dict[str, Any]:
    """ko's ``.Git`` values for the repository holding ``directory`` (defaults outside one)."""
    if shutil.which("git") is None or git_output(directory, "rev-parse", "--is-inside-work-tree") \
            != "true":  # each build says so, as in ko (build.announce_build)
        return dict(_ZERO_COMMIT)
    full = git_output(directory, "show", "--format=%H", "HEAD", "--quiet")
    if full is None:
        log.warning("%s: git repository has no commit; .Git template values are empty",
                    directory)
        return dict(_ZERO_COMMIT)
    stamp = int(git_output(directory, "show", "--format=%ct", "HEAD", "--quiet") or 0)
    dirty = bool(git_output(directory, "status", "--porcelain"))
    branch = git_output(directory, "rev-parse", "--abbrev-ref", "HEAD") or ""
    return {
        "Branch": branch.splitlines()[0] if branch else "",
        "Tag": git_output(directory, "describe", "--tags", "--abbrev=0", "HEAD") or "v0.0.0",
        "ShortCommit": git_output(directory, "show", "--format=%h", "HEAD", "--quiet") or "",
        "FullCommit": full,
        "CommitDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
        "CommitTimestamp": stamp,
        "IsDirty": dirty,
        "IsClean": not dirty,
        "TreeState": "dirty" if dirty else "clean",
    }


class GitValues(Lookup):
    """``.Git``: gathered on first use."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def fields(self) -> Mapping[str, Any]:
        return git_info(self.directory)


class GoEnvValues(Lookup):
    """``.GoEnv``: ``go env`` in the build directory, overridden by the build's env."""

    def __init__(self, tool: Toolchain, directory: str, env: Mapping[str, str]) -> None:
        self.tool, self.directory, self.env = tool, directory, env
        self._fields: dict[str, str] | None = None

    def fields(self) -> Mapping[str, Any]:
        if self._fields is None:
            proc = self.tool.run([self.tool.go, "env", "-json"], cwd=self.directory,
                                 env=self.env)
            if proc.returncode != 0:
                raise GoError(f"go env failed in {self.directory}",
                              proc.stderr.decode(errors="replace"))
            values: dict[str, str] = json.loads(proc.stdout)
            self._fields = {k: self.env.get(k, v) for k, v in values.items()}
        return self._fields


def template_data(tool: Toolchain, directory: str, env: Mapping[str, str],
                  source_date_epoch: int | None) -> dict[str, Any]:
    """The values ko's flag and ldflag templates are rendered with."""
    now = source_date_epoch if source_date_epoch is not None else int(time.time())
    return {"Env": {"LDFLAGS": "", **env}, "GoEnv": GoEnvValues(tool, directory, env),
            "Date": rfc3339_local(now), "Timestamp": now, "Git": GitValues(directory)}
