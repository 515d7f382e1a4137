"""Character-level facts about YAML text: line breaks, gaps between tokens, node properties."""

from __future__ import annotations

#: the characters YAML (1.1, as PyYAML and libyaml read it) breaks lines at
LINE_BREAKS = "\r\n\x85\u2028\u2029"
#: white space and line breaks
GAP = " \t" + LINE_BREAKS


def skip_gap(text: str, index: int) -> int:
    """Return the index of the first character at or after ``index`` that is not white space,
    a line break or part of a comment (``len(text)`` if there is none)."""
    size = len(text)
    while index < size:
        char = text[index]
        if char == "#":
            while index < size and text[index] not in LINE_BREAKS:
                index += 1
        elif char in GAP:
            index += 1
        else:
            break
    return index


def skip_properties(text: str, index: int) -> int:
    """Return the index of the node token after the anchors (``&a``) and tags (``!t``) that
    start at ``index``."""
    while text[index] in "&!":
        while text[index] not in GAP:
            index += 1
        index = skip_gap(text, index)
    return index


def line_start(text: str, index: int) -> int:
    """Return the index where the line holding ``text[index]`` starts."""
    while index > 0 and text[index - 1] not in LINE_BREAKS:
        index -= 1
    return index


def next_line(text: str, index: int) -> int:
    """Return the index after the line break that ends the line holding ``text[index]``."""
    size = len(text)
    while index < size and text[index] not in LINE_BREAKS:
        index += 1
    if text.startswith("\r\n", index):
        return index + 2
    return min(index + 1, size)
