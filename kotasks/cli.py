"""The ``kotasks`` command: ko's verbs and flags, run as doit tasks through our own loader.

``kotasks build ./cmd/app`` is ``doit build:cmd/app`` spoken like ko: the same tasks, the same
state file, so the two can be mixed. ``apply``/``create`` resolve and hand each file to
kubectl, ``delete`` is kubectl's, ``run`` builds one image and ``kubectl run``s it. Exit codes
are doit's: 0 success, 1 a task failed, 2 a task error (a bug), 3 bad input before anything
ran; 130 when interrupted; kubectl's own when kubectl failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from kotasks import __version__
from kotasks.cliparser import (
    KUBECTL_VERBS,
    build_parser,
    command_name,
    completion_script,
    options_from,
    parse_args,
    split_kubectl_args,
)
from kotasks.errors import KotasksError, UserError
from kotasks.settings import STATE_DIR, Settings, load_settings
from kotasks.tasks.state import EXIT_INTERRUPTED, install_sigterm_handler, setup_logging

EXIT_BAD_INPUT = 3


def _error(error: KotasksError) -> int:
    print(f"kotasks: error: {error}", file=sys.stderr)
    if error.details:
        print(error.details.rstrip(), file=sys.stderr)
    return EXIT_BAD_INPUT


def _selected(args: argparse.Namespace, settings: Settings, keys: Sequence[str]) -> list[str]:
    """The tasks a verb runs."""
    from kotasks.tasks.archives import ARCHIVES

    if args.verb in KUBECTL_VERBS:
        selected = [args.verb]
    elif args.verb == "resolve":
        selected = ["resolve"]
    elif args.verb == "run":
        return [f"kubectl-run:{keys[0]}"]
    else:
        selected = [f"build:{key}" for key in keys]
    selected += [name for sink, (name, _) in ARCHIVES.items() if sink in settings.sinks]
    if settings.image_refs:
        selected.append("image-refs")
    return selected


def run_once(args: argparse.Namespace, options: dict[str, Any],
             executed: list[str] | None = None) -> int:
    """One ordinary run of the verb: settings, plan, the selected tasks."""
    from kotasks.kube import take_kubectl_status
    from kotasks.tasks.kubectl import run_pod_task
    from kotasks.tasks.plan import make_plan
    from kotasks.tasks.runner import run_tasks

    resolving = args.verb in ("resolve", *KUBECTL_VERBS)
    try:
        settings = load_settings(".", options)
        paths = [] if resolving else (args.paths or ["."])
        plan = make_plan(settings, paths, resolving)
    except KotasksError as error:
        return _error(error)
    keys = [build.key for build in plan.builds]
    extra = [run_pod_task(keys[0], settings.kubectl_args)] if args.verb == "run" else []
    code = run_tasks(plan, _selected(args, settings, keys), STATE_DIR, settings.jobs,
                     force=args.force, kubectl_verb=args.verb if args.verb in KUBECTL_VERBS
                     else "apply", extra=extra, executed=executed, report=settings.report)
    return take_kubectl_status() or code


def _watch(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from kotasks.watch import RoundResult, watch

    def round_() -> RoundResult:
        executed: list[str] = []
        code = run_once(args, options, executed)
        return RoundResult(code, tuple(executed))

    files = list(options.get("filename") or [])
    if "-" in files:
        return _error(UserError("--watch: -f - (stdin) cannot be read again; name the files"))
    here = os.path.abspath(".")
    outside = [f for f in files if os.path.exists(f)
               and not os.path.abspath(f).startswith(here + os.sep)]
    return watch(round_, [".", *outside], files)


def _login(args: argparse.Namespace) -> int:
    """``kotasks login`` / ``logout``, as crane's (ko's) login."""
    from kotasks.registry.login import login, logout

    try:
        if args.verb == "logout":
            print(f"logged out via {logout(args.server)}", file=sys.stderr)
            return 0
        password = args.password
        if args.password_stdin:
            password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        print(f"logged in via {login(args.server, args.username, password)}", file=sys.stderr)
        return 0
    except KotasksError as error:
        return _error(error)


def _rebase(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """``kotasks rebase``: ``lock --update``, then publish the images whose base moved (their
    binaries and layers are up to date: only configs, manifests and the index are new)."""
    from kotasks.lockcommand import EVERY_BASE, update_lock
    from kotasks.tasks.actions import warm_up
    from kotasks.tasks.plan import make_plan
    from kotasks.tasks.runner import run_tasks

    try:
        settings = load_settings(".", options)
        if settings.lock is None:
            raise UserError("kotasks rebase: this module has no kotasks.lock to move; run "
                            "`kotasks lock` first")
        # no go build to hide the SBOM and HTTP modules' import behind: start it now
        warm_up(["requests", *([f"kotasks.sbom.{settings.sbom}"] if settings.sboms_wanted
                               else [])])
        before = dict(settings.lock.bases)
        update_lock(settings, EVERY_BASE)
        settings = load_settings(".", options)
        after = settings.lock.bases if settings.lock is not None else {}
        moved = {ref for ref, base in after.items() if before.get(ref) != base}
        plan = make_plan(settings, args.paths or None)
    except KotasksError as error:
        return _error(error)
    keys = [build.key for build in plan.builds if build.base_ref in moved]
    if not keys:
        print("kotasks: no base image moved; nothing to rebase", file=sys.stderr)
        return 0
    return run_tasks(plan, [f"build:{key}" for key in keys], STATE_DIR, settings.jobs,
                     force=args.force, report=settings.report)


def _lock(args: argparse.Namespace) -> int:
    """``kotasks lock [--update [REF]] [--fetch]``."""
    from kotasks.lockcommand import update_lock

    setup_logging()
    try:
        settings = load_settings(".", {"insecure_registry": args.insecure_registry})
        path = update_lock(settings, args.update, args.fetch)
    except KotasksError as error:
        return _error(error)
    print(f"kotasks: wrote {os.path.relpath(path)}", file=sys.stderr)
    return 0


def _kubectl_passthrough(argv: Sequence[str]) -> int:
    """``kotasks delete …`` is ``kubectl delete …`` (ko's passthrough)."""
    from kotasks.kube import find_kubectl

    try:
        kubectl = find_kubectl(os.environ)
    except UserError as error:
        return _error(error)
    return subprocess.run([kubectl, *argv], check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kotasks`` console script."""
    code = _main(argv)
    if code == EXIT_INTERRUPTED and argv is None:
        # finished steps are recorded; do not wait for steps still blocked on the network
        # (an upload to a registry that hangs) to end by themselves
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    verb = next((i for i, word in enumerate(words) if not word.startswith("-")), len(words))
    if words[verb:verb + 1] == ["delete"]:
        return _kubectl_passthrough(words[verb:])
    own, kubectl_args = split_kubectl_args(words)
    args = parse_args(build_parser(), own)
    if args.verb == "version":
        print(__version__)
        return 0
    if args.verb == "completion":
        print(completion_script(args.shell, command_name()), end="")
        return 0
    if args.verb in ("login", "logout"):
        return _login(args)
    if args.verb == "lock":
        return _lock(args)
    if args.verb == "cache":
        from kotasks.buildcache.records import describe_last_run

        print("\n".join(describe_last_run(STATE_DIR)))
        return 0
    if getattr(args, "no_progress", False):
        os.environ["KOTASKS_NO_PROGRESS"] = "1"
    setup_logging()
    install_sigterm_handler()
    if args.verbose:
        os.environ["KOTASKS_VERBOSE"] = "1"
    options = options_from(args)
    if args.verb in (*KUBECTL_VERBS, "run"):
        from kotasks.kube import find_kubectl

        try:
            find_kubectl(os.environ)
            if args.verb == "run" and len(args.paths) != 1:
                raise UserError("kotasks run: expected one import path (kotasks run ./cmd/app "
                                "[flags] [-- kubectl run arguments])")
        except UserError as error:
            return _error(error)
        options["kubectl_args"] = kubectl_args
    if getattr(args, "watch", False):
        return _watch(args, options)
    if args.verb == "rebase":
        return _rebase(args, options)
    return run_once(args, options)


if __name__ == "__main__":
    sys.exit(main())
