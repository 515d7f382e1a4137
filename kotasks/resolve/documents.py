"""The documents of a YAML file, and ko's ``--selector`` filtering of them, byte for byte.

A stream is cut into one slice per document, end to end, so that the slices join back into the
text: a document's slice starts with what precedes its ``---`` marker (comments, directives,
the previous document's ``...`` line) and ends before the next slice. :class:`Document` holds
the document's own text, between its marker line and the next marker.

Filtering drops whole slices. In a kept ``kind: List`` the items that do not match are cut out
of the text: in a block sequence, whole lines, from the line after the previous item's last
token (the first item: from its ``-`` line) to the end of the line of the item's own last
token, so comment lines above an item go with it (blank lines that end a block scalar's value
stay with it); in a flow sequence, the item with the comma
after it (the last item: with the comma before it). Nothing else changes: a flow List is not
re-emitted, and a List that keeps all its items is not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from yaml.events import DocumentEndEvent, DocumentStartEvent, StreamEndEvent

from kotasks.errors import UserError
from kotasks.resolve import objects
from kotasks.resolve.layout import (
    LINE_BREAKS,
    line_start,
    next_line,
    skip_gap,
    skip_properties,
)
from kotasks.resolve.selector import Selector
from kotasks.resolve.stream import bom_length, end_mark, parse_events, start_mark
from kotasks.resolve.tree import Collection, Occurrence, compose


@dataclass(frozen=True)
class _Slice:
    """Where document ``index`` is: its slice ``[head, tail)``, its text ``[body, end)``."""

    index: int
    head: int
    body: int
    end: int
    tail: int


def decode(data: bytes, source: str) -> str:
    """Return ``data`` decoded as UTF-8, without a leading byte-order mark; raise UserError."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{source}:{line}: not valid UTF-8: byte 0x{data[exc.start]:02x} at "
                        f"byte offset {exc.start} ({exc.reason})") from None


def select(text: str, source: str, selector: Selector) -> str:
    """Return the documents of ``text`` that ``selector`` matches, as ko's ``--selector`` keeps
    them: every document must be a Kubernetes object (null ones are dropped), and a List stays
    if any of its items match, without the others. An empty selector returns ``text`` as is."""
    if selector.empty:
        return text
    kept: list[str] = []
    for where, root in _slices(text, source, compose_roots=True):
        assert root is not None
        cuts = _filter(text, source, where, root, selector)
        if cuts is not None:
            kept.append(_cut(text, source, where, root, cuts))
    return "".join(kept)


def _slices(text: str, source: str, compose_roots: bool
            ) -> Iterator[tuple[_Slice, Occurrence | None]]:
    """Yield each document's slice, and its composed root if ``compose_roots``."""
    base = bom_length(text)
    events = parse_events(text, source)
    index, head, body = 0, 0, 0
    root: Occurrence | None = None
    pending: tuple[_Slice, Occurrence | None] | None = None
    for event in events:
        if isinstance(event, DocumentStartEvent):
            if pending:
                yield pending
            body = _after_marker(text, end_mark(event).index + base) if event.explicit else head
            root = compose(events, base) if compose_roots else None
        elif isinstance(event, DocumentEndEvent):
            end = start_mark(event).index + base
            head_of_next = next_line(text, end) if event.explicit else end
            pending = _Slice(index, head, body, end, head_of_next), root
            index, head = index + 1, head_of_next
        elif isinstance(event, StreamEndEvent) and pending:
            yield replace(pending[0], tail=len(text)), pending[1]


def _after_marker(text: str, index: int) -> int:
    """Where a document's text starts after the ``---`` that ends at ``index``: on the next
    line when only white space or a comment follows the marker, else at what follows it."""
    content = index
    while content < len(text) and text[content] in " \t":
        content += 1
    if content == len(text) or text[content] == "#" or text[content] in LINE_BREAKS:
        return next_line(text, content)
    return content


def _filter(text: str, source: str, where: _Slice, root: Occurrence, selector: Selector
            ) -> list[tuple[int, int]] | None:
    """None to drop the document, else the ranges to cut out of it (List items)."""
    what = f"document {where.index + 1}"
    if objects.is_null(root):
        return None
    if objects.kind_of(root, source, what) != "List":
        return [] if selector.matches(objects.labels_of(root, source, what)) else None
    items, sequence = objects.items_of(root, source, what)
    keep = [_item_matches(item, source, f"{what}, item {number}", selector)
            for number, item in enumerate(sequence.children, 1)]
    if not any(keep):
        return None
    if all(keep):
        return []
    if items.alias:
        raise UserError(f"{source}:{items.line}:{items.column}: {what}: cannot remove the List "
                        f"items the selector does not match from an alias (*…) to them")
    return _item_cuts(text, items, sequence, keep)


def _item_matches(item: Occurrence, source: str, what: str, selector: Selector) -> bool:
    """Whether a List item is an object the selector matches (a null item is not)."""
    if objects.is_null(item):
        return False
    objects.kind_of(item, source, what)
    return selector.matches(objects.labels_of(item, source, what))


def _item_cuts(text: str, items: Occurrence, sequence: Collection, keep: list[bool]
               ) -> list[tuple[int, int]]:
    """The text ranges of the items not kept (at least one is), so that what remains is still
    a sequence."""
    children = sequence.children
    if sequence.flow:
        last_kept = max(n for n, kept in enumerate(keep) if kept)
        return [(child.start, children[n + 1].start) if n < last_kept
                else (children[last_kept].end, child.end)
                for n, child in enumerate(children) if not keep[n]]
    first = line_start(text, skip_gap(text, skip_properties(text, items.start)))
    starts = [first] + [_line_after(text, child) for child in children]
    return [(starts[n], starts[n + 1]) for n in range(len(children)) if not keep[n]]


def _line_after(text: str, occurrence: Occurrence) -> int:
    """Where the line after a node's last token starts. A block collection's last token is
    its last child's; the parser ends a block scalar after the blank lines that belong to
    its value, at the indentation of the next line, which starts there."""
    while isinstance(occurrence.node, Collection) and not occurrence.node.flow \
            and not occurrence.alias:
        occurrence = occurrence.node.children[-1]
    start = line_start(text, occurrence.end)
    if text[start:occurrence.end].strip(" ") == "":
        return start
    return next_line(text, occurrence.end)


def _cut(text: str, source: str, where: _Slice, root: Occurrence,
         cuts: list[tuple[int, int]]) -> str:
    """The document's slice without the ``cuts``; raise UserError if that breaks its YAML."""
    pieces, done = [], where.head
    for start, stop in sorted(cuts):
        if start > done:
            pieces.append(text[done:start])
        done = max(done, stop)
    pieces.append(text[done:where.tail])
    kept = "".join(pieces)
    if cuts:
        try:
            for _ in parse_events(kept, source):
                pass
        except UserError:
            raise UserError(f"{source}:{root.line}:{root.column}: document {where.index + 1}: "
                            f"cannot remove the List items the selector does not match without "
                            f"breaking the document (an alias to an anchor in them?)") from None
    return kept
