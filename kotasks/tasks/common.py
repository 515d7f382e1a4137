"""Helpers every task factory uses: task construction, the recipe check, store checks.

Each check that finds a task out of date notes why on the task (:func:`why`), so that the
``--report`` can say which input changed: a setting of its recipe, a missing blob, a
target that no longer holds what was published.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from doit.task import Task, dict_to_task

from kotasks import __version__
from kotasks.oci.layout import REF_NAME, Layout

if TYPE_CHECKING:
    from kotasks.publish.dockerprobe import DockerProbe

#: bump when a task's recipe changes in a way its config_changed would not show
RECIPE = 1
_LAYOUT_REFS: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}


def note(task: Any, reason: str) -> None:
    """Record on ``task`` one reason it is not up to date (read by the report)."""
    reasons = getattr(task, "kotasks_why", None)
    if reasons is None:
        reasons = []
        task.kotasks_why = reasons
    if reason not in reasons:
        reasons.append(reason)


def why(task: Any) -> list[str]:
    """The reasons the checks noted on ``task`` (empty if none did)."""
    return list(getattr(task, "kotasks_why", None) or [])


def _holds(task: Any, held: bool, reason: str) -> bool:
    if not held:
        note(task, reason)
    return held


def blob_present(store: Layout) -> Any:
    """An uptodate check: the blob this task recorded is still in the store."""

    def check(task: Any, values: dict[str, Any]) -> bool | None:
        digest = values.get("digest")
        if not digest:
            return None
        return _holds(task, store.has(str(digest)), f"its blob {digest} is not in the store")

    return check


def daemon_image_unchanged(name: str, environ: Mapping[str, str]) -> Any:
    """An uptodate check: the Docker daemon's image ``name`` still has the ID this task
    recorded (one inspect over the standard library; nothing is exported)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        from kotasks.publish.dockerprobe import DockerProbe

        recorded = values.get("image_id")
        current = DockerProbe(environ).image_id(name) if recorded else None
        return _holds(task, bool(recorded) and current == recorded,
                      f"the Docker daemon's {name} is {current or 'gone'} now")

    return check


def _layout_refs(path: str) -> dict[str, str]:
    """Ref name → digest of a layout's index.json, read once per run while unchanged."""
    index = os.path.join(path, "index.json")
    try:
        st = os.stat(index)
    except FileNotFoundError:
        return {}
    key = (st.st_mtime_ns, st.st_size)
    cached = _LAYOUT_REFS.get(path)
    if cached is None or cached[0] != key:
        entries = Layout(path).index().get("manifests") or []
        cached = key, {(m.get("annotations") or {}).get(REF_NAME, ""): m.get("digest", "")
                       for m in entries}
        _LAYOUT_REFS[path] = cached
    return cached[1]


def layout_holds(path: str, names: list[str]) -> Any:
    """An uptodate check: the layout still names the published digest under every tag."""

    def check(task: Any, values: dict[str, Any]) -> bool | None:
        digest = values.get("digest")
        if not digest:
            return None
        refs = _layout_refs(path)
        return _holds(task, all(refs.get(name) == digest for name in names),
                      f"the layout {path} no longer names {digest} under every tag")

    return check


def daemon_holds(probe: DockerProbe) -> Any:
    """An uptodate check: the Docker daemon still holds the loaded image ID under every
    name it was given (one query per image; a deleted image or tag means a new load)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        image_id, names = values.get("image_id"), values.get("names") or []
        held = bool(image_id and names) and probe.holds_image(str(image_id), list(names))
        return _holds(task, held, "the Docker daemon does not hold the image under every name")

    return check


def kind_holds(probe: DockerProbe, cluster: str) -> Any:
    """An uptodate check: every node of the kind cluster still has the image under every
    name (each node's image list is read once per run)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        names = values.get("names") or []
        held = bool(names) and probe.holds_in_kind(cluster, list(names))
        return _holds(task, held, f"a node of kind cluster {cluster!r} lacks the image")

    return check


def make_task(data: dict[str, Any], parent: str | None = None) -> Task:
    """Turn a task dict into a doit Task, hidden under ``parent`` in ``doit list``."""
    task = dict_to_task(data)
    task.subtask_of = parent
    return task


def base_task_name(reference: str) -> str:
    """The name of the task resolving a base reference."""
    return f"base:{reference}"


class Recipe:
    """A task's one record of its settings: doit's ``config_changed``, but keeping the fields
    (under ``_recipe`` in the task's values) so that a change can be named."""

    KEY = "_recipe"

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = json.loads(json.dumps(fields, sort_keys=True))

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        task.value_savers.append(lambda: {self.KEY: self.fields})
        saved = values.get(self.KEY)
        if saved == self.fields:
            return True
        if saved is None and values.get("_config_changed") == hashlib.md5(
                json.dumps(self.fields, sort_keys=True).encode()).hexdigest():
            return True  # recorded by doit's config_changed, as kotasks did before
        for field in _changed(saved, self.fields):
            note(task, field)
        return False


def _changed(saved: Any, current: dict[str, Any]) -> list[str]:
    """Which recipe fields differ (``env.GOFLAGS`` for one key of a mapping)."""
    if not isinstance(saved, dict):
        return ["no record of an earlier run"]
    changed = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [f"setting {key}.{k} changed" for k in sorted(set(old) | set(new))
                        if old.get(k) != new.get(k)]
        else:
            changed.append(f"setting {key} changed")
    return changed


def recipe(**fields: Any) -> Any:
    """The task's one recipe check: kotasks' version, the recipe number and ``fields``."""
    return Recipe({"v": __version__, "r": RECIPE, **fields})
