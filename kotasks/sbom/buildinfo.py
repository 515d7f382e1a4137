"""The module graph a Go binary records, read from ``go version -m`` as ko reads it."""

from __future__ import annotations

import ast
import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass, replace

from kotasks.errors import GoError
from kotasks.fsutil import file_digest, write_atomic

_CONTROL = set(" \t\r\n\"`")


@dataclass(frozen=True)
class Module:
    """One module of a build: path, version and go.sum hash (``h1:…``, or "" when none)."""

    path: str
    version: str
    sum: str
    replace: Module | None = None


@dataclass(frozen=True)
class BuildInfo:
    """What ``go version -m`` reports about a binary (Go's ``debug.BuildInfo``)."""

    go_version: str
    path: str
    main: Module
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]


#: what empty or malformed ``go version -m`` output reads as: no modules at all
EMPTY = BuildInfo(go_version="", path="", main=Module("", "", ""), deps=(), settings=())


class _Malformed(ValueError):
    """A line ``debug.ParseBuildInfo`` would reject."""


def h1_to_sha256(go_sum: str) -> str:
    """Return the hex of the base64 part of an ``h1:`` go.sum hash, or "" if it is not one."""
    if not go_sum.startswith("h1:"):
        return ""
    try:
        return base64.b64decode(go_sum[3:], validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def _module(columns: list[str]) -> Module:
    if len(columns) not in (2, 3):
        raise _Malformed(f"expected 2 or 3 columns; got {len(columns)}")
    return Module(columns[0], columns[1], columns[2] if len(columns) == 3 else "")


def _quoted_prefix(text: str) -> str:
    """Go's strconv.QuotedPrefix: the quoted string ``text`` starts with."""
    quote = text[:1]
    index = 1
    while index < len(text) and text[index] != quote:
        if text[index] == "\\" and quote == '"':
            index += 1
        index += 1
    if quote not in ("`", '"') or index >= len(text):
        raise _Malformed("invalid quoted text in build line")
    return text[:index + 1]


def _unquote(quoted: str) -> str:
    """Go's strconv.Unquote of a whole quoted string."""
    if quoted[0] == "`":
        return quoted[1:-1]
    try:
        value = ast.literal_eval(quoted)
    except (SyntaxError, ValueError):
        raise _Malformed("invalid quoted text in build line") from None
    if not isinstance(value, str):
        raise _Malformed("invalid quoted text in build line")
    return value


def _setting(text: str) -> tuple[str, str]:
    """One ``build`` line's key and value, unquoted as Go's parser does."""
    if not text or text[0] == "=":
        raise _Malformed("build line with missing key")
    if text[0] in "`\"":
        raw_key = _quoted_prefix(text)
        if text[len(raw_key):len(raw_key) + 1] != "=":
            raise _Malformed("build line missing '=' after quoted key")
        key, raw = _unquote(raw_key), text[len(raw_key) + 1:]
    else:
        key, sep, raw = text.partition("=")
        if not sep or _CONTROL.intersection(key):
            raise _Malformed(f"build line missing '=' after key, or unquoted key {key!r}")
    if raw[:1] in ("`", '"'):
        if _quoted_prefix(raw) != raw:
            raise _Malformed("invalid quoted value in build line")
        return key, _unquote(raw)
    if _CONTROL.intersection(raw):
        raise _Malformed(f"unquoted value {raw!r} must be quoted")
    return key, raw


def _parse_body(lines: list[str]) -> tuple[str, Module, list[Module], list[tuple[str, str]]]:
    """Go's ``debug.ParseBuildInfo`` over lines already stripped of leading white space."""
    path, main = "", Module("", "", "")
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last: str | None = None  # what a "=>" line replaces: "main", "dep" or nothing
    for line in lines:
        word, tab, rest = line.partition("\t")
        if not tab:
            continue
        if word == "path":
            path = rest
        elif word == "mod":
            main, last = _module(rest.split("\t")), "main"
        elif word == "dep":
            deps.append(_module(rest.split("\t")))
            last = "dep"
        elif word == "=>":
            columns = rest.split("\t")
            if len(columns) != 3:
                raise _Malformed(f"expected 3 columns for replacement; got {len(columns)}")
            replacement = _module(columns)
            if last == "main":
                main = replace(main, replace=replacement)
            elif last == "dep":
                deps[-1] = replace(deps[-1], replace=replacement)
            else:
                raise _Malformed("replacement with no module on previous line")
            last = None
        elif word == "build":
            settings.append(_setting(rest))
    return path, main, deps, settings


def parse_build_info(text: str) -> BuildInfo:
    """Return the build info in ``go version -m`` output; malformed or empty text gives none.

    As ko does, the first line (``<file>: go1.x``) is dropped and every other line loses its
    leading white space before Go's parser reads it; only the Go version is kept from the first
    line.
    """
    first, newline, body = text.partition("\n")
    if not newline:
        return EMPTY
    lines = [line.removesuffix("\r").lstrip() for line in body.split("\n")]
    try:
        path, main, deps, settings = _parse_body(lines)
    except _Malformed:
        return EMPTY
    go_version = first.removesuffix("\r").rpartition(": ")[2] if ": " in first else ""
    return BuildInfo(go_version, path, main, tuple(deps), tuple(settings))


def _go_version_m(go: str, binary: str) -> str:
    """``go version -m BINARY``'s output, remembered beside the binary for its bytes (a
    rebase makes new SBOMs of unchanged binaries: no Go process for them)."""
    memo = binary + ".buildinfo.json"
    digest = file_digest(binary, os.stat(binary))
    try:
        with open(memo, encoding="utf-8") as f:
            cached = json.load(f)
        if cached["binary"] == digest:
            return str(cached["text"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        done = subprocess.run([go, "version", "-m", binary], capture_output=True, check=False)
    except OSError as exc:
        raise GoError(f"go version -m {binary}: cannot run {go}: {exc.strerror}") from None
    if done.returncode != 0:
        raise GoError(f"go version -m {binary}: exit status {done.returncode}",
                      done.stderr.decode("utf-8", "replace"))
    text = done.stdout.decode("utf-8", "replace")
    write_atomic(memo, json.dumps({"binary": digest, "text": text}).encode())
    return text


def read_build_info(go: str, binary: str, in_image_path: str) -> BuildInfo:
    """Return the build info of ``binary``, its host path shown as ``in_image_path``."""
    text = _go_version_m(go, binary)
    first, newline, body = text.partition("\n")
    return parse_build_info(first.replace(binary, in_image_path, 1) + newline + body)
