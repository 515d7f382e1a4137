"""Replace ``ko://`` scalar tokens by published references, leaving every other character alone."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import yaml
from yaml.resolver import Resolver

from kotasks.errors import UserError
from kotasks.resolve.layout import LINE_BREAKS
from kotasks.resolve.scan import KoScalar

#: what a published reference is made of, and safe as a plain scalar in block and flow context
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+-]*(?<!:)")
#: YAML's printable characters without tab, line breaks and the byte-order mark
_PRINTABLE = "\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff"
#: what a single-quoted or block scalar holds as it is
_SIMPLE = re.compile(f"[\t{_PRINTABLE}]+")
#: what a double-quoted scalar escapes (so that it is valid JSON too)
_DOUBLE_ESCAPED = re.compile(f'["\\\\]|[^{_PRINTABLE}]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_RESOLVER = Resolver()
_STR = "tag:yaml.org,2002:str"


def rewrite(text: str, scalars: Sequence[KoScalar], published: Mapping[str, str], *,
            source: str = "<input>") -> str:
    """Return ``text`` with each scalar of ``scalars`` (found in this very text) replaced by
    ``published[scalar.reference]``, written in the scalar's own style when it can hold it.

    Plain stays plain, ``'…'`` single-quoted, ``"…"`` double-quoted; a block scalar keeps its
    indicator line (indentation indicator and comment included) and indentation, but its
    chomping indicator becomes ``-`` so that its value is the reference exactly, without the
    trailing line break ko's output would not have either. A reference a style cannot hold is
    written double-quoted. A reference missing from ``published`` raises :class:`UserError`.
    """
    pieces: list[str] = []
    done = 0
    for scalar in sorted(scalars, key=lambda scalar: scalar.start):
        reference = published.get(scalar.reference)
        if reference is None:
            raise UserError(f"{source}:{scalar.line}:{scalar.column}: no published image for "
                            f"{scalar.reference}")
        pieces += (text[done:scalar.start], _token(text, scalar, reference))
        done = scalar.end
    pieces.append(text[done:])
    return "".join(pieces)


def _token(text: str, scalar: KoScalar, value: str) -> str:
    """The token that writes ``value`` in the style of ``scalar``, or double-quoted."""
    if scalar.style == "plain" and _plain_ok(value):
        return value
    if scalar.style == "'" and _SIMPLE.fullmatch(value):
        return "'" + value.replace("'", "''") + "'"
    if scalar.style in "|>" and _SIMPLE.fullmatch(value) and value[0] not in " \t":
        return _block(text, scalar, value)
    return '"' + _DOUBLE_ESCAPED.sub(_escape, value) + '"'


def _plain_ok(value: str) -> bool:
    """Whether ``value`` reads back as this same string when written plain, anywhere."""
    return bool(_PLAIN.fullmatch(value)) and \
        _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR


def _escape(match: re.Match[str]) -> str:
    """The escape sequence of the character ``match`` found."""
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _block(text: str, scalar: KoScalar, value: str) -> str:
    """A block scalar token: the old indicator line with strip chomping, then ``value`` at the
    old content indentation."""
    indicators = scalar.start + 1
    while text[indicators] in "0123456789+-":
        indicators += 1
    header = text[scalar.start:indicators]
    if "-" not in header:
        header = header.replace("+", "-") if "+" in header else header + "-"
    content = indicators
    while text[content] not in LINE_BREAKS:
        content += 1
    content += 2 if text.startswith("\r\n", content) else 1
    while text[content] == " ":
        content += 1
    return header + text[indicators:content] + value
