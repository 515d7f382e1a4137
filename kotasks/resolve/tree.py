"""Compose one document's events into nodes that remember where each of their occurrences is.

Aliases are not expanded: an alias is an :class:`Occurrence` of the node its anchor names, at
the alias's own position, so a document costs memory linear in its text however its aliases
nest. Composition keeps an explicit stack, so deep nesting cannot exhaust Python's recursion.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
)
from yaml.resolver import Resolver

from kotasks.resolve.stream import end_mark, start_mark

_RESOLVER = Resolver()
STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"


@dataclass(eq=False)
class Scalar:
    """A scalar node: its value, and its tag as the parser saw it."""

    value: str
    explicit_tag: str | None
    implicit: tuple[bool, bool]

    @property
    def tag(self) -> str:
        """Return the resolved tag (``!!str``, ``!!null``, ``!!int``, ``!!merge`` …)."""
        if self.explicit_tag not in (None, "!"):
            return str(self.explicit_tag)
        return _RESOLVER.resolve(yaml.ScalarNode, self.value, self.implicit)


@dataclass(eq=False)
class Collection:
    """A mapping (children are key, value, key, value …) or a sequence node."""

    mapping: bool
    flow: bool
    children: list[Occurrence] = field(default_factory=list)

    def pairs(self) -> Iterator[tuple[Occurrence, Occurrence]]:
        """Yield a mapping's (key, value) occurrences in text order."""
        return zip(self.children[0::2], self.children[1::2], strict=True)


Node = Scalar | Collection


class Occurrence(NamedTuple):
    """A node where it is written: the node itself, or an alias to it (``alias`` is True)."""

    node: Node
    start: int  # character offset of its first character (anchor and tag included)
    end: int  # character offset after its last character
    line: int  # 1-based, of start
    column: int  # 1-based, of start
    alias: bool


def compose(events: Iterator[Event], base: int) -> Occurrence:
    """Consume the events of one node (a document's root) and return its occurrence.

    ``base`` is added to every mark index (1 when the text starts with a byte-order mark).
    The events must come from :func:`kotasks.resolve.stream.parse_events`, which has already
    checked that every alias names an anchor defined before it.
    """
    anchors: dict[str, Node] = {}
    open_collections: list[tuple[Collection, Event]] = []
    for event in events:
        node: Node
        first: Event
        if isinstance(event, ScalarEvent):
            node = Scalar(event.value, event.tag, event.implicit)
            if event.anchor is not None:
                anchors[event.anchor] = node
            first = event
        elif isinstance(event, AliasEvent):
            node = anchors[str(event.anchor)]
            first = event
        elif isinstance(event, CollectionStartEvent):
            collection = Collection(isinstance(event, MappingStartEvent), bool(event.flow_style))
            if event.anchor is not None:
                anchors[event.anchor] = collection
            open_collections.append((collection, event))
            continue
        else:  # the end of a collection
            node, first = open_collections.pop()
        mark = start_mark(first)
        occurrence = Occurrence(node, mark.index + base, end_mark(event).index + base,
                                mark.line + 1, mark.column + 1, isinstance(first, AliasEvent))
        if not open_collections:
            return occurrence
        open_collections[-1][0].children.append(occurrence)
    raise ValueError("the events ended inside a node")
