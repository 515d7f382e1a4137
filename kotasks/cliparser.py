"""The ``kotasks`` command line: ko's verbs and flags, parsed as ko (cobra) parses them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell")
COMPLETION_LOADING = """to load it:
  bash        source <(kotasks completion bash)      (in ~/.bashrc for every shell)
  zsh         source <(kotasks completion zsh)       (in ~/.zshrc; compinit first)
  fish        kotasks completion fish | source       (or save it in
              ~/.config/fish/completions/kotasks.fish)
  powershell  kotasks completion powershell | Out-String | Invoke-Expression
              (in $PROFILE)
the same with ko in place of kotasks (the ko command is the same program)"""
#: the verbs that hand resolved YAML to kubectl
KUBECTL_VERBS = {"apply": "re-applies only files whose images or YAML changed",
                 "create": "every file, every time"}

#: every boolean flag's option strings → its destination, filled as the parser is made
_BOOLEAN_FLAGS: dict[str, str] = {}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _flag(group: Any, *names: str, help: str, default: bool = False) -> None:
    """A cobra-style boolean: a bare ``--push`` is true and never takes the next word;
    a value is given only as ``--push=false`` (see :func:`parse_args`)."""
    action = group.add_argument(*names, action="store_const", const=True, default=default,
                                help=help)
    for name in names:
        _BOOLEAN_FLAGS[name] = action.dest


def _boolean_values(parser: argparse.ArgumentParser, argv: Sequence[str]
                    ) -> tuple[list[str], dict[str, bool]]:
    """Split ``--flag=value`` of boolean flags into the bare flag and its value (Go's
    strconv.ParseBool spellings); the last mention of a flag wins. Words after ``--`` are
    left alone."""
    tokens: list[str] = []
    values: dict[str, bool] = {}
    for i, token in enumerate(argv):
        if token == "--":
            tokens += argv[i:]
            break
        name, sep, value = token.partition("=")
        dest = _BOOLEAN_FLAGS.get(name) if token.startswith("-") else None
        if dest is None:
            tokens.append(token)
            continue
        if sep and value not in _TRUE + _FALSE:
            parser.error(f"argument {name}: expected true or false, got {value!r}")
        values[dest] = not sep or value in _TRUE
        tokens.append(name)
    return tokens, values


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
               ) -> argparse.Namespace:
    """Parse ``argv`` with cobra's boolean-flag rule: ``--tag-only ./cmd/app`` keeps the path,
    ``--push=false`` sets the flag false."""
    tokens, values = _boolean_values(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(tokens)
    for dest, value in values.items():
        if hasattr(args, dest):
            setattr(args, dest, value)
    return args


def _add_publish_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("publishing (as ko)")
    group.add_argument("-t", "--tags", action="append", default=None, metavar="TAG",
                       help="tags to push (comma-separated or repeated; default latest)")
    _flag(group, "--tag-only", help="print name:tag, without the digest")
    _flag(group, "--push", default=True, help="push to KO_DOCKER_REPO (default true)")
    _flag(group, "-L", "--local", help="load into the Docker daemon at DOCKER_HOST")
    _flag(group, "--insecure-registry", help="allow plain HTTP and skip TLS verification")
    group.add_argument("--oci-layout-path", default="", metavar="DIR",
                       help="also write images into this OCI image layout")
    group.add_argument("--tarball", default="", metavar="FILE",
                       help="also write every image into this docker-load-able tarball")
    group.add_argument("--oci-archive", default="", metavar="FILE",
                       help="also write every image or index into this OCI archive "
                            "(an OCI layout in one tar file)")
    _flag(group, "-P", "--preserve-import-paths", help="name images <repo>/<import path>")
    _flag(group, "-B", "--base-import-paths", help="name images <repo>/<last path element>")
    _flag(group, "--bare", help="name images <repo> exactly")


def _add_build_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("building (as ko)")
    group.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                       help="concurrent steps (default: number of cores + 1)")
    group.add_argument("--platform", action="append", default=None, metavar="PLATFORM",
                       help="all, or os[/arch[/variant]][:osversion], comma-separated or "
                            "repeated (default: defaultPlatforms, else linux/amd64)")
    group.add_argument("--ldflags", action="append", default=None, metavar="LDFLAGS",
                       help="ldflags for go build (repeatable; replace the .ko.yaml ones)")
    _flag(group, "--disable-optimizations", help="build with -gcflags 'all=-N -l'")
    _flag(group, "--debug", help="add Delve and run the app under it, headless on :40000 "
                                 "(linux/amd64, linux/arm64; implies --disable-optimizations)")
    group.add_argument("--image-label", action="append", default=None, metavar="KEY=VALUE",
                       help="a label for the image config (repeatable)")
    group.add_argument("--image-annotation", action="append", default=None,
                       metavar="KEY=VALUE", help="an annotation for the manifest (repeatable)")
    group.add_argument("--image-user", default="", metavar="USER",
                       help="the user the image runs as")
    group.add_argument("--sbom", default="spdx", choices=("spdx", "cyclonedx", "none"),
                       help="SBOM format (default spdx)")
    group.add_argument("--sbom-dir", default="", metavar="DIR",
                       help="also write the SBOMs into this directory")
    group.add_argument("--image-refs", default="", metavar="FILE",
                       help="write every published image reference into this file")
    group.add_argument("--report", default="", metavar="FILE",
                       help="write what the run did into this JSON file (per image: "
                            "reference, digests, tags, SBOMs, steps run or up to date, and why)")
    own = parser.add_argument_group("kotasks")
    own.add_argument("--force", action="store_true",
                     help="run every step even if up to date (e.g. the registry lost images)")
    _flag(own, "--no-cache", help="do not use the build cache (KOTASKS_CACHE_REPO) this run")
    _flag(own, "--offline", help="no network: anything not in .kotasks/ (see kotasks lock "
                                 "--fetch) is an error (KOTASKS_OFFLINE=1)")
    _flag(own, "--no-progress", help="no live view of the run on a terminal, only the log "
                                     "lines (KOTASKS_NO_PROGRESS=1; off anyway with CI=true)")


def _add_file_flags(parser: argparse.ArgumentParser) -> None:
    files = parser.add_argument_group("input (as ko)")
    files.add_argument("-f", "--filename", action="append", default=None, required=True,
                       metavar="FILE", help="a file, a directory, or - for stdin (repeatable)")
    _flag(files, "-R", "--recursive", help="walk sub-directories of -f directories")
    files.add_argument("-l", "--selector", default="", metavar="SELECTOR",
                       help="keep only Kubernetes objects matching this label selector")


def _add_watch_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-W", "--watch", action="store_true",
                        help="stay running: redo what a change to a Go file, kodata, .ko.yaml, "
                             "go.mod or a YAML input affects (Ctrl-C ends it)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb."""
    parser = argparse.ArgumentParser(
        prog="kotasks", description="ko's container-image builder for Go, as doit tasks")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list each step: those that run (.  step) and those up to "
                             "date (-- step)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    build = verbs.add_parser("build", aliases=["publish"],
                             help="build and publish images of Go main packages")
    build.add_argument("paths", nargs="*", metavar="IMPORTPATH",
                       help="packages: ./cmd/app, an import path, or ko://… (default .)")
    _add_publish_flags(build)
    _add_build_flags(build)
    _add_watch_flag(build)
    resolve = verbs.add_parser("resolve", help="build the ko:// references in YAML and print "
                                               "it with image references in their place")
    _add_file_flags(resolve)
    _add_publish_flags(resolve)
    _add_build_flags(resolve)
    for verb, what in KUBECTL_VERBS.items():
        sub = verbs.add_parser(verb, help=f"resolve, then kubectl {verb} -f - (arguments after "
                                          f"-- go to kubectl): {what}")
        _add_file_flags(sub)
        _add_publish_flags(sub)
        _add_build_flags(sub)
        _add_watch_flag(sub)
    run = verbs.add_parser("run", help="build and publish one image, then kubectl run it "
                                       "(arguments after -- go to kubectl run)")
    run.add_argument("paths", nargs="*", metavar="IMPORTPATH", help="the package to run")
    _add_publish_flags(run)
    _add_build_flags(run)
    rebase = verbs.add_parser("rebase", help="resolve kotasks.lock's tags again and rebuild "
                                             "the images whose base moved, without compiling")
    rebase.add_argument("paths", nargs="*", metavar="IMPORTPATH",
                        help="packages to consider (default: every main package)")
    _add_publish_flags(rebase)
    _add_build_flags(rebase)
    verbs.add_parser("delete", add_help=False, help="kubectl delete, as is (no image is deleted)")
    login = verbs.add_parser("login", help="store credentials for a registry (as docker login)")
    login.add_argument("server", metavar="SERVER", help="the registry: ghcr.io, localhost:5000…")
    login.add_argument("-u", "--username", default="", help="the user name")
    login.add_argument("-p", "--password", default="", help="the password (visible to other "
                       "processes: prefer --password-stdin)")
    login.add_argument("--password-stdin", action="store_true",
                       help="read the password from stdin")
    logout = verbs.add_parser("logout", help="remove the stored credentials of a registry")
    logout.add_argument("server", metavar="SERVER", help="the registry")
    completion = verbs.add_parser(
        "completion", help="print a shell completion script (source <(kotasks completion))",
        description="Print the completion script of every verb and flag for SHELL (bash if "
                    "none is named, as ko).",
        epilog=COMPLETION_LOADING, formatter_class=argparse.RawDescriptionHelpFormatter)
    completion.add_argument("shell", nargs="?", default="bash", choices=COMPLETION_SHELLS,
                            help="the shell (default bash)")
    lock = verbs.add_parser("lock", help="write kotasks.lock: the digest of every base image "
                                         "(builds then never look a tag up)")
    lock.add_argument("--update", nargs="?", const="*", default="", metavar="REF",
                      help="resolve the tags again: every base, or only REF")
    lock.add_argument("--fetch", action="store_true",
                      help="also store every locked base (manifests, configs, layers) in "
                           ".kotasks/oci, for --offline builds")
    _flag(lock, "--insecure-registry", help="allow plain HTTP and any TLS certificate")
    verbs.add_parser("cache", help="what the last run took from the build cache "
                                   "(KOTASKS_CACHE_REPO) and what it built, and why")
    verbs.add_parser("version", help="print kotasks' version")
    return parser


def command_name() -> str:
    """The name kotasks was run by: ``ko`` (the alias other tools call) or ``kotasks``."""
    return "ko" if os.path.basename(sys.argv[0]) == "ko" else "kotasks"


def completion_script(shell: str, command: str = "kotasks") -> str:
    """The completion script of every verb and flag for ``shell`` and the command name
    ``command``, generated from this parser (by ``shtab``; PowerShell's by
    :mod:`kotasks.powershell`)."""
    parser = build_parser()
    parser.prog = command
    if shell == "powershell":
        from kotasks.powershell import powershell_script

        return powershell_script(parser)
    import shtab

    return str(shtab.complete(parser, shell))


def split_kubectl_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """For apply, create and run: our words, and kubectl's (everything after the first
    ``--``, as ko takes them)."""
    argv = list(argv)
    verb = next((i for i, word in enumerate(argv) if not word.startswith("-")), len(argv))
    if argv[verb:verb + 1] and argv[verb] in (*KUBECTL_VERBS, "run") and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """Turn parsed flags into the option mapping :func:`load_settings` takes."""
    options: dict[str, Any] = {
        "tag_only": args.tag_only, "push": args.push, "local": args.local,
        "insecure_registry": args.insecure_registry, "oci_layout_path": args.oci_layout_path,
        "tarball": args.tarball, "oci_archive": args.oci_archive,
        "preserve_import_paths": args.preserve_import_paths,
        "base_import_paths": args.base_import_paths, "bare": args.bare,
        "jobs": args.jobs, "platform": args.platform or [], "ldflags": args.ldflags or [],
        "disable_optimizations": args.disable_optimizations, "debug": args.debug,
        "image_label": args.image_label or [], "image_annotation": args.image_annotation or [],
        "image_user": args.image_user, "sbom": args.sbom, "sbom_dir": args.sbom_dir,
        "image_refs": args.image_refs, "report": args.report, "no_cache": args.no_cache,
        "offline": args.offline,
    }
    if getattr(args, "filename", None) is not None:
        options.update({"filename": args.filename, "recursive": args.recursive,
                        "selector": args.selector})
    if args.tags is not None:
        options["tags"] = args.tags
    return options
