"""PyYAML's event stream for one text, with every failure turned into a one-line UserError."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

import yaml
from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    NodeEvent,
)

from kotasks.errors import UserError

#: the parser class; libyaml's when PyYAML was built with it (tests swap in the pure one)
LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)

BOM = "\ufeff"
#: libyaml's limit on nested collections, applied to the pure-Python parser too (whose scanner
#: takes time quadratic in the nesting depth)
MAX_DEPTH = 1000
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def bom_length(text: str) -> int:
    """Return 1 if ``text`` starts with a byte-order mark (the parser never sees it), else 0."""
    return 1 if text.startswith(BOM) else 0


def start_mark(event: Event) -> Mark:
    """Return where ``event`` starts (every event a parser yields has both marks)."""
    return cast(Mark, event.start_mark)


def end_mark(event: Event) -> Mark:
    """Return where ``event`` ends."""
    return cast(Mark, event.end_mark)


def _line_column(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based line and column of ``text[index]``, counting YAML's line breaks."""
    line, line_start = 1, 0
    for match in _BREAK.finditer(text, 0, index):
        line, line_start = line + 1, match.end()
    return line, index - line_start + 1


def parse_events(text: str, source: str) -> Iterator[Event]:
    """Yield the events of ``text``, whose mark indexes count from after a leading BOM.

    Aliases stay aliases (nothing is expanded); an alias to an anchor its document has not
    defined, collections nested deeper than :data:`MAX_DEPTH`, unprintable characters and
    syntax errors raise :class:`UserError`.
    """
    body = text[1:] if bom_length(text) else text
    try:
        loader = LOADER(body)
    except (yaml.reader.ReaderError, UnicodeEncodeError):
        raise _character_error(body, source) from None
    try:
        anchors: set[str] = set()
        depth = 0
        get_event = loader.get_event
        while (event := get_event()) is not None:
            if isinstance(event, NodeEvent):
                if isinstance(event, CollectionStartEvent):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise _error(event, source, f"collections nested more than {MAX_DEPTH} "
                                                    f"deep")
                if isinstance(event, AliasEvent):
                    if event.anchor not in anchors:
                        raise _error(event, source, f"alias *{event.anchor} names no anchor "
                                                    f"defined before it in its document")
                elif event.anchor is not None:
                    anchors.add(event.anchor)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, DocumentStartEvent):
                anchors = set()
            yield event
    except yaml.reader.ReaderError:
        raise _character_error(body, source) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from None
    finally:
        loader.dispose()


def _error(event: Event, source: str, problem: str) -> UserError:
    """The error for a problem that starts where ``event`` does."""
    mark = start_mark(event)
    return UserError(f"{source}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}")


def _character_error(text: str, source: str) -> UserError:
    """The error for the first character YAML does not allow in a stream."""
    match = _NOT_PRINTABLE.search(text)
    index = match.start() if match else 0
    line, column = _line_column(text, index)
    return UserError(f"{source}:{line}:{column}: not valid YAML: character "
                     f"U+{ord(text[index]):04X} is not allowed in a YAML stream")


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> UserError:
    """The one-line error for a scanner or parser failure, located at its problem."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    problem = exc.problem or exc.context or "syntax error"
    if exc.context and exc.problem and exc.context_mark:
        context = exc.context_mark
        problem += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    return UserError(f"{where}: not valid YAML: {problem}")
