"""Find the ``ko://`` string scalars of a YAML (or JSON) text, with their exact positions."""

from __future__ import annotations

from dataclasses import dataclass

from yaml.events import DocumentStartEvent, ScalarEvent

from kotasks.resolve.layout import GAP, LINE_BREAKS, skip_properties
from kotasks.resolve.stream import bom_length, end_mark, parse_events, start_mark

PREFIX = "ko://"
#: the tags of string scalars: untagged (a plain ``ko://…`` always resolves to a string), the
#: non-specific ``!`` and ``!!str``
_STRING_TAGS = frozenset({None, "!", "tag:yaml.org,2002:str"})
#: Go's unicode.IsSpace, which strings.TrimSpace trims (ko trims each reference with it)
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
            "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class KoScalar:
    """One ``ko://`` string scalar token of a text.

    ``text[start:end]`` is the token itself: a plain scalar's characters, a quoted scalar with
    its quotes, or a block scalar from its ``|``/``>`` indicator to the end of its last
    non-blank content line (the line breaks and blank lines after it are not part of it). An
    anchor or tag in front of the scalar is not part of the token either.
    """

    reference: str  # the scalar's value, whitespace-trimmed (as ko does), with its "ko://"
    start: int
    end: int
    style: str  # "plain", "'", '"', "|" or ">"
    line: int  # 1-based, of start
    column: int  # 1-based, of start
    document: int  # 0-based index of the document in the stream


def find_ko_scalars(text: str, source: str) -> list[KoScalar]:
    """Return every string scalar whose value starts with ``ko://``, keys too, in text order.

    An anchored scalar is found once, where it is defined; its aliases are not scalars.
    Raises :class:`UserError` (``source:line:column: …``) when ``text`` is not valid YAML.
    """
    found: list[KoScalar] = []
    base = bom_length(text)
    document = -1
    for event in parse_events(text, source):
        if isinstance(event, ScalarEvent):
            if event.value.startswith(PREFIX) and event.tag in _STRING_TAGS:
                found.append(_ko_scalar(text, event, base, document))
        elif isinstance(event, DocumentStartEvent):
            document += 1
    return found


def _ko_scalar(text: str, event: ScalarEvent, base: int, document: int) -> KoScalar:
    """The KoScalar of ``event``, its range narrowed to the token itself."""
    mark = start_mark(event)
    first = mark.index + base
    start = skip_properties(text, first)
    line, column = _advance(text, first, start, mark.line + 1, mark.column + 1)
    style = event.style or "plain"
    end = end_mark(event).index + base
    if style in "|>":
        end = _content_end(text, start, end)
    return KoScalar(reference=event.value.strip(_GO_SPACE), start=start, end=end, style=style,
                    line=line, column=column, document=document)


def _advance(text: str, index: int, stop: int, line: int, column: int) -> tuple[int, int]:
    """The line and column of ``stop``, given those of ``index`` (``index <= stop``)."""
    for position in range(index, stop):
        char = text[position]
        if char in LINE_BREAKS and not (char == "\r" and text[position + 1:position + 2] == "\n"):
            line, column = line + 1, 1
        else:
            column += 1
    return line, column


def _content_end(text: str, start: int, end: int) -> int:
    """The end of a block scalar's last non-blank content line, without its line break."""
    while end > start and text[end - 1] in GAP:
        end -= 1
    while end < len(text) and text[end] in " \t":
        end += 1
    return end

