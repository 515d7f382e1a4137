"""The subset of Go's text/template that ko's flags and ldflags use, with ``missingkey=error``.

Supported:

* text, ``{{ pipeline }}`` actions, trim markers ``{{-`` / ``-}}``, comments ``{{/* … */}}``;
* operands: ``.``, field chains ``.Env.NAME``, ``.Git.ShortCommit``, string literals
  (``"…"`` with Go escapes, and raw `` `…` ``), integers, ``true``/``false``, parenthesised
  pipelines;
* functions: ``index``, ``print``, ``printf`` (``%s %d %v %q %%``), ``len``, ``not``, ``and``,
  ``or``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``; pipelines ``a | f b``;
* ``{{if}} … {{else if}} … {{else}} … {{end}}``.

Not supported (an error says so): ``range``, ``with``, ``define``/``template``/``block``,
variables (``$x``), methods. A missing map key or field is an error naming it, as in ko.
Values are looked up through :class:`Lookup` objects, so data that is costly to gather (git,
``go env``) is gathered only if a template asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kotasks.errors import UserError


class TemplateError(UserError):
    """A template that does not parse or cannot be executed."""


class Lookup:
    """A template value whose fields are computed on first access."""

    def fields(self) -> Mapping[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<punct>[|()])
""", re.VERBOSE)


@dataclass
class _Node:
    kind: str
    value: Any = None
    children: list[Any] | None = None


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    import ast

    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        raise TemplateError(f"invalid string literal {text}") from None
    return str(value)


def _tokens(source: str, action: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise TemplateError(f"{{{{{action}}}}}: unexpected {source[pos:pos + 10]!r}")
        kind = match.lastgroup or ""
        if kind == "var":
            raise TemplateError(f"{{{{{action}}}}}: template variables are not supported")
        if kind != "ws":
            out.append((kind, match.group()))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], action: str) -> None:
        self.tokens, self.pos, self.action = tokens, 0, action

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"{{{{{self.action}}}}}: {message}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self) -> _Node:
        commands = [self.command()]
        while (tok := self.peek()) is not None and tok == ("punct", "|"):
            self.pos += 1
            commands.append(self.command())
        return _Node("pipeline", children=commands)

    def command(self) -> _Node:
        args = []
        while (tok := self.peek()) is not None and tok[1] not in ("|", ")"):
            args.append(self.operand())
        if not args:
            raise self.fail("missing value in pipeline")
        return _Node("command", children=args)

    def operand(self) -> _Node:
        tok = self.peek()
        assert tok is not None
        self.pos += 1
        kind, text = tok
        if kind in ("string", "raw"):
            return _Node("literal", _unquote(text))
        if kind == "number":
            return _Node("literal", int(text))
        if kind == "field":
            return _Node("field", [p for p in text.split(".") if p])
        if kind == "ident":
            if text in ("true", "false"):
                return _Node("literal", text == "true")
            if text == "nil":
                return _Node("literal", None)
            if text not in _FUNCTIONS:
                raise self.fail(f"function {text!r} not defined")
            return _Node("function", text)
        if text == "(":
            inner = self.pipeline()
            if self.peek() != ("punct", ")"):
                raise self.fail("unclosed left paren")
            self.pos += 1
            return inner
        raise self.fail(f"unexpected {text!r}")


def _truth(value: Any) -> bool:
    return bool(value) if not isinstance(value, Lookup) else True


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        value = next(values, "%!" + verb + "(MISSING)")
        if verb == "q":
            return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        return _format(value)

    return re.sub(r"%([sdvq%])", one, fmt)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, Lookup):
        return str(dict(value.fields()))
    return str(value)


def _index(container: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(container, Lookup):
            container = container.fields()
        try:
            container = container[key]
        except (KeyError, IndexError, TypeError):
            raise TemplateError(f"index of {key!r}: map has no entry for key {key!r}") from None
    return container


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "index": _index,
    "print": lambda *a: "".join(_format(v) for v in a),
    "printf": _printf,
    "len": lambda v: len(v.fields() if isinstance(v, Lookup) else v),
    "not": lambda v: not _truth(v),
    "and": lambda *a: next((v for v in a if not _truth(v)), a[-1]),
    "or": lambda *a: next((v for v in a if _truth(v)), a[-1]),
    "eq": lambda a, *b: any(a == v for v in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _field(data: Any, path: list[str], action: str) -> Any:
    value = data
    for i, name in enumerate(path):
        where = "." + ".".join(path[:i + 1])
        if isinstance(value, Lookup):
            fields = value.fields()
            if name not in fields:
                raise TemplateError(f"{{{{{action}}}}}: map has no entry for key {name!r}")
            value = fields[name]
        elif isinstance(value, Mapping):
            if name not in value:
                raise TemplateError(f"{{{{{action}}}}}: map has no entry for key {name!r}")
            value = value[name]
        else:
            raise TemplateError(f"{{{{{action}}}}}: {where}: can't evaluate field {name} in a "
                                f"{type(value).__name__}")
    return value


def _evaluate(node: _Node, data: Any, action: str, piped: list[Any] | None = None) -> Any:
    if node.kind == "pipeline":
        result: list[Any] | None = None
        for command in node.children or []:
            result = [_evaluate(command, data, action, result)]
        return result[0] if result else None
    if node.kind == "command":
        first, *rest = node.children or []
        if first.kind == "function":
            args = [_evaluate(a, data, action) for a in rest] + (piped or [])
            try:
                return _FUNCTIONS[first.value](*args)
            except TemplateError:
                raise
            except TypeError as exc:
                raise TemplateError(f"{{{{{action}}}}}: wrong arguments to {first.value}: "
                                    f"{exc}") from None
        if rest or piped:
            raise TemplateError(f"{{{{{action}}}}}: can't give arguments to a non-function")
        return _evaluate(first, data, action)
    if node.kind == "literal":
        return node.value
    if node.kind == "field":
        return _field(data, node.value, action)
    raise TemplateError(f"{{{{{action}}}}}: cannot evaluate {node.kind}")


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def _parse(source: str) -> list[Any]:
    """Parse into a tree: str (text), ("out", node), ("if", [(cond, body)...], else_body)."""
    items: list[Any] = []
    pos = 0
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        if match.group(1):
            text = text.rstrip()
        items.append(("text", text))
        items.append(("action", match.group(2).strip(), bool(match.group(3))))
        pos = match.end()
    items.append(("text", source[pos:]))
    if "{{" in source[pos:]:
        raise TemplateError(f"unclosed action in {source!r}")
    # apply right-trim markers to the following text
    for i, item in enumerate(items):
        if item[0] == "action" and item[2] and i + 1 < len(items):
            items[i + 1] = ("text", items[i + 1][1].lstrip())
    tree, _ = _block(items, 0, source, top=True)
    return tree


def _block(items: list[Any], i: int, source: str, top: bool) -> tuple[list[Any], int]:
    out: list[Any] = []
    while i < len(items):
        item = items[i]
        if item[0] == "text":
            if item[1]:
                out.append(item[1])
            i += 1
            continue
        action = item[1]
        word = action.split(None, 1)[0] if action else ""
        if action.startswith("/*"):
            if not action.endswith("*/"):
                raise TemplateError(f"unclosed comment in {source!r}")
            i += 1
            continue
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"{{{{{action}}}}}: unexpected {word} in {source!r}")
            return out, i
        if word == "if":
            branches: list[tuple[_Node, list[Any]]] = []
            condition = action[2:].strip()
            else_body: list[Any] = []
            while True:
                cond = _Parser(_tokens(condition, action), action).pipeline()
                body, i = _block(items, i + 1, source, top=False)
                branches.append((cond, body))
                if i >= len(items):
                    raise TemplateError(f"{{{{{action}}}}}: missing {{{{end}}}} in {source!r}")
                closing = items[i][1]
                if closing == "end":
                    break
                if closing.startswith("else if"):
                    condition = closing[len("else if"):].strip()
                    continue
                if closing == "else":
                    else_body, i = _block(items, i + 1, source, top=False)
                    if i >= len(items) or items[i][1] != "end":
                        raise TemplateError(f"{{{{{action}}}}}: missing {{{{end}}}} in "
                                            f"{source!r}")
                    break
                raise TemplateError(f"{{{{{closing}}}}}: unexpected in {source!r}")
            out.append(("if", branches, else_body))
            i += 1
            continue
        if word in ("range", "with", "define", "template", "block", "break", "continue"):
            raise TemplateError(f"{{{{{action}}}}}: {word} is not supported in kotasks "
                                "templates")
        if not action:
            raise TemplateError(f"missing value for command in {source!r}")
        parser = _Parser(_tokens(action, action), action)
        node = parser.pipeline()
        if parser.peek() is not None:
            raise parser.fail(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
        out.append(("out", node, action))
        i += 1
    if not top:
        raise TemplateError(f"missing {{{{end}}}} in {source!r}")
    return out, i


def _run(tree: list[Any], data: Any, out: list[str]) -> None:
    for item in tree:
        if isinstance(item, str):
            out.append(item)
        elif item[0] == "out":
            out.append(_format(_evaluate(item[1], data, item[2])))
        else:
            _, branches, else_body = item
            for cond, body in branches:
                if _truth(_evaluate(cond, data, "if")):
                    _run(body, data, out)
                    break
            else:
                _run(else_body, data, out)


def render(source: str, data: Any) -> str:
    """Expand ``source`` with ``data``; raise TemplateError on syntax errors or missing keys."""
    if "{{" not in source:
        return source
    out: list[str] = []
    _run(_parse(source), data, out)
    return "".join(out)
