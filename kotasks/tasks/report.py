"""``--report FILE``: what a run did, as JSON, for CI logs that parse it (ko-build/ko#406).

Per image: its package, the printed reference, the repository, the digest (an index's per
platform too), the tags, whether it is a ``--debug`` image, the registry retries its
publishing took, the SBOMs, and every step of it with its status (``ran``, ``up to date``,
``failed``) and, for a step that ran, why: the recipe setting that changed (flags, ldflags,
an environment variable, the platform…), the files that changed, the input step whose result
changed (a new base image digest, a rebuilt layer), or a blob or published image that was
gone; and for a ``go build`` that shared one Go process with others (a batch), the
``gobuild:`` steps of that batch. Steps that belong to no image (resolve, apply, archives)
are listed too, and the failures with their reasons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kotasks.fsutil import write_atomic
from kotasks.tasks.common import why

MAX_FILES = 10


def reasons(task: Any, ran: set[str]) -> list[str]:
    """Why a task that is about to run is not up to date, as far as kotasks can tell."""
    found = why(task)
    changed = sorted(getattr(task, "dep_changed", None) or [])
    found += [f"file {path} changed" for path in changed[:MAX_FILES]]
    if len(changed) > MAX_FILES:
        found.append(f"and {len(changed) - MAX_FILES} more files changed")
    for dep in task.task_dep:
        if dep in ran and dep.startswith("base:"):
            found.append(f"base image {dep[5:]} was resolved again")
        elif dep in ran:
            found.append(f"its input {dep} ran")
    return found or ["no record of an earlier run"]


def _step(name: str, task: Any, status: Mapping[str, str], causes: Mapping[str, list[str]],
          failed: Mapping[str, str]) -> dict[str, Any]:
    step: dict[str, Any] = {"task": name, "status": status.get(name, "not run")}
    if name in causes:
        step["why"] = causes[name]
    batch = (getattr(task, "meta", None) or {}).get("batch")
    if batch and status.get(name) != "up to date":
        step["batch"] = list(batch)
    if failed.get(name):
        step["error"] = failed[name]
    return step


def build_report(tasks: Mapping[str, Any], status: Mapping[str, str],
                 causes: Mapping[str, list[str]], failed: Mapping[str, str],
                 publish_kind: str) -> dict[str, Any]:
    """The report of one run, from the tasks doit knew and what happened to each."""
    images, placed = [], set()
    for name, task in tasks.items():
        meta = getattr(task, "meta", None) or {}
        if meta.get("kotasks") != publish_kind or name not in status:
            continue
        values = task.values or {}
        subtasks = [n for n, t in tasks.items() if getattr(t, "subtask_of", None) == name]
        placed.update([name, *subtasks])
        images.append({
            "package": meta.get("import_path", ""),
            "task": name,
            "status": status[name],
            "reference": values.get("ref", ""),
            "repository": values.get("repository", ""),
            "digest": values.get("digest", ""),
            "tags": values.get("tags", []),
            "retries": meta.get("retries", 0),
            "debug": bool(meta.get("debug")),
            "platforms": {n.split("@", 1)[1]: (tasks[n].values or {}).get("digest", "")
                          for n in subtasks if n.startswith("image:")},
            "sboms": [{"subject": v.get("subject", ""), "digest": v.get("digest", ""),
                       "tag": v.get("subject", "").replace(":", "-") + ".sbom"}
                      for n in subtasks if n.startswith("sbom:")
                      and (v := tasks[n].values or {})],
            "steps": [_step(n, tasks[n], status, causes, failed) for n in [*subtasks, name]
                      if n in status],
        })
    others = [_step(n, tasks[n], status, causes, failed) for n in tasks
              if n in status and n not in placed and tasks[n].actions]
    return {"images": images, "steps": others,
            "failed": [{"task": n, "error": reason} for n, reason in failed.items() if reason]}


def write_report(path: str, report: Mapping[str, Any]) -> None:
    """Write the report as indented JSON, atomically."""
    write_atomic(path, (json.dumps(report, indent=2, sort_keys=False) + "\n").encode())
