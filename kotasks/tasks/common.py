"""Helpers every task factory uses: task construction, the recipe check, store checks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from doit.task import Task, dict_to_task
from doit.tools import config_changed

from kotasks import __version__
from kotasks.oci.layout import REF_NAME, Layout

if TYPE_CHECKING:
    from kotasks.publish.dockerprobe import DockerProbe

#: bump when a task's recipe changes in a way its config_changed would not show
RECIPE = 1
_LAYOUT_REFS: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}


def blob_present(store: Layout) -> Any:
    """An uptodate check: the blob this task recorded is still in the store."""

    def check(task: Any, values: dict[str, Any]) -> bool | None:
        digest = values.get("digest")
        return None if not digest else store.has(str(digest))

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
        return all(refs.get(name) == digest for name in names)

    return check


def daemon_holds(probe: DockerProbe) -> Any:
    """An uptodate check: the Docker daemon still holds the loaded image ID under every
    name it was given (one query per image; a deleted image or tag means a new load)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        image_id, names = values.get("image_id"), values.get("names") or []
        return bool(image_id and names) and probe.holds_image(str(image_id), list(names))

    return check


def kind_holds(probe: DockerProbe, cluster: str) -> Any:
    """An uptodate check: every node of the kind cluster still has the image under every
    name (each node's image list is read once per run)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        names = values.get("names") or []
        return bool(names) and probe.holds_in_kind(cluster, list(names))

    return check


def make_task(data: dict[str, Any], parent: str | None = None) -> Task:
    """Turn a task dict into a doit Task, hidden under ``parent`` in ``doit list``."""
    task = dict_to_task(data)
    task.subtask_of = parent
    return task


def base_task_name(reference: str) -> str:
    """The name of the task resolving a base reference."""
    return f"base:{reference}"


def recipe(**fields: Any) -> Any:
    """The task's one config_changed: kotasks' version, the recipe number and ``fields``."""
    return config_changed({"v": __version__, "r": RECIPE, **fields})
