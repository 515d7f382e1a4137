"""Tasks that hand resolved YAML to kubectl: ``apply:FILE`` (or ``create:FILE``) per input.

``apply:FILE`` reads the output of ``resolve:FILE`` (a file_dep, so a resolve that re-ran
with the same bytes stops here) and records the cluster it applied to (kubeconfig context,
server, namespace) and the kubectl arguments: a run where no resolved file changed runs no
kubectl at all, an edit to one Go package re-applies only the files that name its image,
and switching context re-applies everything. Each file waits for the one before it, so files
are applied in input order as soon as each is ready. ``create:FILE`` always runs, as
``kubectl create`` is not idempotent. ``kubectl-run:K`` is ``kotasks run``'s last step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from doit.task import Task

from kotasks.kube import cluster_identity
from kotasks.tasks import actions
from kotasks.tasks.common import make_task, recipe
from kotasks.tasks.plan import Plan
from kotasks.tasks.resolving import resolved_output, task_safe


def same_cluster(environ: Mapping[str, str], args: Sequence[str]) -> Any:
    """An uptodate check: the file was applied to the cluster kubectl would talk to now
    (context, server, namespace). The kubeconfig is read only when an apply task is
    checked, once per run, so ``doit build`` does not pay for it."""
    current: list[dict[str, str]] = []

    def check(task: Any, values: dict[str, Any]) -> bool:
        if not current:
            current.append(cluster_identity(environ, args))
        task.value_savers.append(lambda: {"cluster": current[0]})
        return bool(values.get("cluster") == current[0])

    return check


def kubectl_tasks(plan: Plan, verb: str, args: Sequence[str]) -> Iterator[Task]:
    """``VERB:FILE`` per resolve input, in input order, and the group task ``VERB``."""
    names: list[str] = []
    cluster = same_cluster(plan.settings.environ, args)
    for item in plan.resolves:
        name = f"{verb}:{task_safe(item.source)}"
        yield make_task({
            "name": name,
            "doc": f"kubectl {verb} the resolved {item.source}",
            "actions": [(actions.kubectl_file, [verb, resolved_output(plan, item), item.source,
                                                list(args)])],
            "file_dep": [resolved_output(plan, item)],
            "task_dep": [f"resolve:{task_safe(item.source)}", *names[-1:]],
            "uptodate": [recipe(verb=verb, args=list(args), source=item.source), cluster]
            if verb == "apply" else [False],
            "io": {"capture": False},
        }, verb)
        names.append(name)
    yield make_task({
        "name": verb,
        "doc": f"kubectl {verb} every resolved file",
        "actions": None,
        "task_dep": names,
    })


def run_pod_task(key: str, args: Sequence[str]) -> Task:
    """``kubectl run`` a Pod of the published image of ``build:K``, as ``ko run`` does."""
    return make_task({
        "name": f"kubectl-run:{key}",
        "doc": f"kubectl run the image of {key}",
        "actions": [(actions.kubectl_run_pod, [list(args)])],
        "getargs": {"ref": (f"build:{key}", "ref"),
                    "repository": (f"build:{key}", "repository")},
        "task_dep": [f"build:{key}"],
        "uptodate": [False],
        "io": {"capture": False},
    })
