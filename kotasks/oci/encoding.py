"""JSON encoded as Go's ``encoding/json`` does: compact, UTF-8, HTML characters escaped."""

from __future__ import annotations

import json
from typing import Any

#: how Go's encoding/json writes a zero time.Time (ko's "no timestamp")
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def go_json(value: Any) -> bytes:
    """Return ``value`` as compact JSON bytes, escaping like Go's json.Marshal.

    The characters Go escapes can only occur inside JSON strings, so replacing them in the
    encoded text is exact.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _GO_ESCAPES.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text.encode("utf-8")
