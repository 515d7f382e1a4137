"""kotasks: ko, the container-image builder for Go, as incremental doit tasks.

In a ``dodo.py``::

    from kotasks import tasks
    globals().update(tasks())

From a shell: ``kotasks build ./cmd/app`` (ko's verbs and flags).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "tasks"]


def tasks(path: str = ".", **options: Any) -> dict[str, Any]:
    """Return the doit namespace (task creator and DOIT_CONFIG) for the Go module at ``path``.

    ``options`` take ko's flag names with underscores (``tags=["v1"]``, ``platform="all"``,
    ``push=False``, ``bare=True`` …); environment variables and ``.ko.yaml`` apply as in ko.
    """
    from kotasks.tasks.dodo import namespace

    return namespace(path, options)
