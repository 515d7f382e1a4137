"""Read what a selector needs of a composed Kubernetes object: kind, labels and List items.

Lookups follow aliases and merge keys (``<<``, as kubectl reads them) but visit each mapping
at most once per lookup, so their cost is bounded by the size of the document's text.
"""

from __future__ import annotations

from collections.abc import Iterator

from kotasks.errors import UserError
from kotasks.resolve.tree import MERGE, NULL, STR, Collection, Occurrence, Scalar


def is_null(occurrence: Occurrence) -> bool:
    """Return whether the node is null (an empty document, ``~``, ``null``)."""
    node = occurrence.node
    return isinstance(node, Scalar) and node.tag == NULL


def kind_of(occurrence: Occurrence, source: str, what: str) -> str:
    """Return the ``kind`` of a Kubernetes object; raise UserError if the node is not one."""
    node = occurrence.node
    if isinstance(node, Collection) and node.mapping:
        version, kind = (_string(lookup(occurrence, key, source)) for key in ("apiVersion", "kind"))
        if version is not None and kind is not None:
            return kind
    raise _error(occurrence, source, f"{what} is not a Kubernetes object (no apiVersion/kind); "
                                     f"a selector needs one")


def labels_of(occurrence: Occurrence, source: str, what: str) -> dict[str, str]:
    """Return ``metadata.labels`` of an object, each key and value as written (no labels: {})."""
    metadata = lookup(occurrence, "metadata", source)
    labels = None if metadata is None or is_null(metadata) else \
        lookup(_mapping(metadata, source, f"{what}: metadata"), "labels", source)
    if labels is None or is_null(labels):
        return {}
    found: dict[str, str] = {}
    for key, value in _merged_pairs(_mapping(labels, source, f"{what}: metadata.labels"), source):
        if not (isinstance(key.node, Scalar) and isinstance(value.node, Scalar)):
            raise _error(key, source, f"{what}: metadata.labels must map strings to strings")
        found.setdefault(key.node.value, value.node.value)
    return found


def items_of(occurrence: Occurrence, source: str, what: str) -> tuple[Occurrence, Collection]:
    """Return the ``items`` sequence of a ``kind: List`` object; raise UserError if none."""
    items = lookup(occurrence, "items", source)
    if items is None or not isinstance(items.node, Collection) or items.node.mapping:
        raise _error(occurrence, source, f"{what} is a List without an items sequence")
    return items, items.node


def lookup(occurrence: Occurrence, key: str, source: str) -> Occurrence | None:
    """Return the value of the string ``key`` in a mapping (merge keys included), or None."""
    for candidate, value in _merged_pairs(occurrence, source):
        if isinstance(candidate.node, Scalar) and candidate.node.value == key:
            return value
    return None


def _merged_pairs(occurrence: Occurrence, source: str) -> Iterator[tuple[Occurrence, Occurrence]]:
    """Yield a mapping's pairs, the one that wins for a key first: its own (the last of equal
    keys first), then those of the mappings its ``<<`` keys merge, in order, depth first."""
    pending = [occurrence]
    seen: set[int] = set()
    while pending:
        mapping = pending.pop()
        node = mapping.node
        if id(node) in seen or not isinstance(node, Collection):
            continue
        seen.add(id(node))
        merged: list[Occurrence] = []
        for key, value in reversed(list(node.pairs())):
            if isinstance(key.node, Scalar) and key.node.tag == MERGE:
                merged[:0] = _merge_sources(value, source)
            else:
                yield key, value
        pending.extend(reversed(merged))


def _merge_sources(value: Occurrence, source: str) -> list[Occurrence]:
    """The mappings a ``<<`` value names: one mapping, or a sequence of mappings."""
    node = value.node
    sources = node.children if isinstance(node, Collection) and not node.mapping else [value]
    for merged in sources:
        _mapping(merged, source, "the value of a merge key (<<)")
    return sources


def _mapping(occurrence: Occurrence, source: str, what: str) -> Occurrence:
    """``occurrence`` itself if it is a mapping; else raise UserError."""
    node = occurrence.node
    if not (isinstance(node, Collection) and node.mapping):
        raise _error(occurrence, source, f"{what} must be a mapping")
    return occurrence


def _string(occurrence: Occurrence | None) -> str | None:
    """The value of a string scalar, None for anything else."""
    if occurrence is None or not isinstance(occurrence.node, Scalar):
        return None
    return occurrence.node.value if occurrence.node.tag == STR else None


def _error(occurrence: Occurrence, source: str, problem: str) -> UserError:
    """A UserError located at ``occurrence``."""
    return UserError(f"{source}:{occurrence.line}:{occurrence.column}: {problem}")
