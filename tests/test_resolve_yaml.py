"""ko:// scalars found with exact positions and rewritten without touching any other character.

Every case runs with libyaml and with the pure-Python parser: their marks must agree. The
expected output of a rewrite is computed independently, by replacing known substrings.
"""

from __future__ import annotations

import difflib
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from kotasks.errors import UserError
from kotasks.resolve import stream
from kotasks.resolve.documents import decode
from kotasks.resolve.rewrite import rewrite
from kotasks.resolve.scan import KoScalar, find_ko_scalars

APP = "ko://example.com/hello/cmd/app"
WORKER = "ko://example.com/hello/cmd/worker"
APP_REF = "registry.example.com:5000/app-0123abcd@sha256:" + "0123456789abcdef" * 4
WORKER_REF = "registry.example.com/hello/worker:v1.2.3"
PUBLISHED = {APP: APP_REF, WORKER: WORKER_REF}

PARSERS = ["libyaml", "pure"] if yaml.__with_libyaml__ else ["pure"]


@pytest.fixture(params=PARSERS, autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with libyaml (when PyYAML has it) and with the pure-Python parser."""
    monkeypatch.setattr(stream, "LOADER",
                        yaml.CSafeLoader if request.param == "libyaml" else yaml.SafeLoader)
    return str(request.param)


@dataclass(frozen=True)
class Case:
    """A text, the ko:// tokens in it (exact text, in order), and the rewrite as substring
    replacements applied left to right (each ``old`` is searched after the previous one)."""

    name: str
    text: str
    tokens: list[str]
    replacements: list[tuple[str, str]]
    published: dict[str, str]


CASES = [
    Case(
        "deployment, plain, comments and odd spacing",
        f"""# A deployment.{"   "}
apiVersion: apps/v1   # trailing comment
kind: Deployment
metadata:
  name: hello


spec:
  template:
    spec:
      containers:
        - name: app
          image: {APP}    # the app
          args: [--verbose]{'   '}
        -   name: worker
            image:    {WORKER}
            env:
            - {{name: SELF, value: "{APP}"}}
""",
        [APP, WORKER, f'"{APP}"'],
        [(f"image: {APP}    #", f"image: {APP_REF}    #"),
         (f"image:    {WORKER}\n", f"image:    {WORKER_REF}\n"),
         (f'value: "{APP}"}}', f'value: "{APP_REF}"}}')],
        PUBLISHED,
    ),
    Case(
        "quoted styles, and values that are not ko:// scalars",
        f"""a: '{APP}'
b: "{WORKER}"
c: " {APP}"       # a leading space: the value does not start with ko://
d: see {APP}
# e: {APP}
f: "{APP}  "      # trailing spaces are trimmed, as ko trims them
h: ko:/{APP[5:]}
i: |
  text first
  {APP}
j: 'it''s {APP}'
""",
        [f"'{APP}'", f'"{WORKER}"', f'"{APP}  "'],
        [(f"a: '{APP}'", f"a: '{APP_REF}'"), (f'b: "{WORKER}"', f'b: "{WORKER_REF}"'),
         (f'f: "{APP}  "', f'f: "{APP_REF}"')],
        PUBLISHED,
    ),
    Case(
        "mapping keys, block and flow",
        f"""{APP}: plain key
'{WORKER}': quoted key
"{APP}": double-quoted key
? {WORKER}
: explicit key
flow: {{{APP}: 1, "{WORKER}": [{APP}, 2]}}
""",
        [APP, f"'{WORKER}'", f'"{APP}"', WORKER, APP, f'"{WORKER}"', APP],
        [(f"{APP}: plain", f"{APP_REF}: plain"), (f"'{WORKER}':", f"'{WORKER_REF}':"),
         (f'"{APP}":', f'"{APP_REF}":'), (f"? {WORKER}\n", f"? {WORKER_REF}\n"),
         (f"{{{APP}: 1", f"{{{APP_REF}: 1"), (f'"{WORKER}": [', f'"{WORKER_REF}": ['),
         (f"{APP}, 2]", f"{APP_REF}, 2]")],
        PUBLISHED,
    ),
    Case(
        "anchors, aliases and tags",
        f"""images:
  app: &app {APP}
  worker: &w   !!str '{WORKER}'
  tagged: !<tag:yaml.org,2002:str> {APP}
  later: &later  # a comment between the anchor and its scalar
    {WORKER}
uses: [*app, *w, *later]
also: *app
""",
        [APP, f"'{WORKER}'", APP, WORKER],
        [(f"&app {APP}", f"&app {APP_REF}"), (f"!!str '{WORKER}'", f"!!str '{WORKER_REF}'"),
         (f"2002:str> {APP}", f"2002:str> {APP_REF}"),
         (f"scalar\n    {WORKER}", f"scalar\n    {WORKER_REF}")],
        PUBLISHED,
    ),
    Case(
        "documents, markers and directives",
        f"""# before the first document
image: {APP}
---
image: {WORKER}
...
# between documents
%YAML 1.1
--- # a comment on the marker line
- {APP}
---
--- {WORKER}
--- |
  {APP}
...
""",
        [APP, WORKER, APP, WORKER, f"|\n  {APP}"],
        [(f"image: {APP}", f"image: {APP_REF}"), (f"image: {WORKER}", f"image: {WORKER_REF}"),
         (f"- {APP}", f"- {APP_REF}"), (f"--- {WORKER}", f"--- {WORKER_REF}"),
         (f"--- |\n  {APP}", f"--- |-\n  {APP_REF}")],
        PUBLISHED,
    ),
    Case(
        "JSON",
        f"""{{
  "kind": "Pod",
  "spec": {{
    "containers": [
      {{"name": "app", "image": "{APP}"}},
      {{"name": "worker",
        "image":"{WORKER}", "args": ["{APP}", 1, true, null]}}
    ]
  }}
}}
""",
        [f'"{APP}"', f'"{WORKER}"', f'"{APP}"'],
        [(f'"image": "{APP}"', f'"image": "{APP_REF}"'),
         (f'"image":"{WORKER}"', f'"image":"{WORKER_REF}"'),
         (f'["{APP}"', f'["{APP_REF}"')],
        PUBLISHED,
    ),
    Case(
        "Windows line endings",
        f"apiVersion: v1\r\nkind: Pod\r\n# comment\r\nspec:\r\n  containers:\r\n"
        f"  - image: {APP}\r\n    args: ['{WORKER}']\r\n  - image: |\r\n      {APP}\r\n\r\n"
        f"---\r\nx: \"{WORKER}\"\r\n",
        [APP, f"'{WORKER}'", f"|\r\n      {APP}", f'"{WORKER}"'],
        [(f"image: {APP}\r\n", f"image: {APP_REF}\r\n"), (f"'{WORKER}'", f"'{WORKER_REF}'"),
         (f"image: |\r\n      {APP}\r\n\r\n", f"image: |-\r\n      {APP_REF}\r\n\r\n"),
         (f'"{WORKER}"', f'"{WORKER_REF}"')],
        PUBLISHED,
    ),
    Case(
        "a byte-order mark",
        f"\ufeff{APP}: first\nimage: {WORKER}\n",
        [APP, WORKER],
        [(f"\ufeff{APP}:", f"\ufeff{APP_REF}:"), (f"image: {WORKER}", f"image: {WORKER_REF}")],
        PUBLISHED,
    ),
    Case(
        "block scalars",
        f"""literal: |
  {APP}
strip: |-  # strip
    {WORKER}
keep: |+
  {APP}


folded: >
  {WORKER}
indented: |2
   text
explicit: |1-
 {APP}
trailing: >{'   '}
  {WORKER}{'   '}
nested:
  - key: |
      {APP}
    next: 1
last: |
  {WORKER}""",
        [f"|\n  {APP}", f"|-  # strip\n    {WORKER}", f"|+\n  {APP}", f">\n  {WORKER}",
         f"|1-\n {APP}", f">   \n  {WORKER}   ", f"|\n      {APP}", f"|\n  {WORKER}"],
        [(f"literal: |\n  {APP}\n", f"literal: |-\n  {APP_REF}\n"),
         (f"|-  # strip\n    {WORKER}\n", f"|-  # strip\n    {WORKER_REF}\n"),
         (f"keep: |+\n  {APP}\n\n\n", f"keep: |-\n  {APP_REF}\n\n\n"),
         (f"folded: >\n  {WORKER}\n", f"folded: >-\n  {WORKER_REF}\n"),
         (f"explicit: |1-\n {APP}\n", f"explicit: |1-\n {APP_REF}\n"),
         (f"trailing: >   \n  {WORKER}   \n", f"trailing: >-   \n  {WORKER_REF}\n"),
         (f"key: |\n      {APP}\n    next", f"key: |-\n      {APP_REF}\n    next"),
         (f"last: |\n  {WORKER}", f"last: |-\n  {WORKER_REF}")],
        PUBLISHED,
    ),
    Case(
        "non-ASCII text around the references",
        f"""name: "日本語 — 😀😀"
image: {APP}
note: 'émoji 🎉 ''quoted'''
args: ["{WORKER}", "ü"]
""",
        [APP, f'"{WORKER}"'],
        [(f"image: {APP}", f"image: {APP_REF}"), (f'"{WORKER}"', f'"{WORKER_REF}"')],
        PUBLISHED,
    ),
    Case(
        "references no style but double quotes can hold",
        f"""plain: {APP}
single: '{WORKER}'
flow: [{APP}]
block: |
  {WORKER}
""",
        [APP, f"'{WORKER}'", APP, f"|\n  {WORKER}"],
        [(f"plain: {APP}", 'plain: "true"'), (f"'{WORKER}'", '"line\\nbreak \\"q\\" \\\\"'),
         (f"[{APP}]", '["true"]'), (f"|\n  {WORKER}", '"line\\nbreak \\"q\\" \\\\"')],
        {APP: "true", WORKER: 'line\nbreak "q" \\'},
    ),
    Case(
        "plain references written plain only where they stay strings",
        f"""a: {APP}
b: {WORKER}
c: {{k: {APP}}}
""",
        [APP, WORKER, APP],
        [(f"a: {APP}", 'a: "x: y"'), (f"b: {WORKER}", "b: \"it's #1\""),
         (f"{{k: {APP}}}", '{k: "x: y"}')],
        {APP: "x: y", WORKER: "it's #1"},
    ),
    Case(
        "single quotes double an apostrophe",
        f"a: '{APP}'\n",
        [f"'{APP}'"],
        [(f"'{APP}'", "'it''s'")],
        {APP: "it's"},
    ),
    Case("no ko:// scalars", "a: 1\nb: [x, y]\n# ko://nothing\n", [], [], PUBLISHED),
    Case("an empty text", "", [], [], PUBLISHED),
]


def expected_output(text: str, replacements: list[tuple[str, str]]) -> str:
    """``text`` with each ``old`` (searched left to right) replaced by its ``new``."""
    pieces, cursor = [], 0
    for old, new in replacements:
        at = text.index(old, cursor)
        pieces += [text[cursor:at], new]
        cursor = at + len(old)
    return "".join([*pieces, text[cursor:]])


def diff(expected: str, actual: str) -> str:
    """A unified diff for assertion messages."""
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True),
                                        actual.splitlines(keepends=True), "expected", "actual"))


def substituted(data: Any, published: dict[str, str]) -> Any:
    """Loaded YAML data with each ko:// string (keys too) replaced as rewrite should."""
    if isinstance(data, dict):
        return {substituted(key, published): substituted(value, published)
                for key, value in data.items()}
    if isinstance(data, list):
        return [substituted(item, published) for item in data]
    if isinstance(data, str) and data.startswith("ko://"):
        return published[data.strip()]
    return data


def expected_line_column(text: str, index: int) -> tuple[int, int]:
    """Line and column of ``text[index]`` (the parser does not count a byte-order mark)."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column - (1 if line == 1 and text.startswith("\ufeff") else 0)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_scan(case: Case) -> None:
    scalars = find_ko_scalars(case.text, "case.yaml")
    assert [case.text[s.start:s.end] for s in scalars] == case.tokens
    for scalar in scalars:
        assert scalar.reference.startswith("ko://") and scalar.reference == scalar.reference.strip()
        assert scalar.style in ("plain", "'", '"', "|", ">")
        assert (scalar.line, scalar.column) == expected_line_column(case.text, scalar.start)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rewrite(case: Case) -> None:
    actual = rewrite(case.text, find_ko_scalars(case.text, "case.yaml"), case.published)
    expected = expected_output(case.text, case.replacements)
    assert actual == expected, diff(expected, actual)
    original = list(yaml.safe_load_all(case.text))
    assert list(yaml.safe_load_all(actual)) == substituted(original, case.published)


def test_document_indexes() -> None:
    text = f"a: {APP}\n---\n# none here\n---\n- {WORKER}\n- [{APP}]\n...\n---\n{APP}\n"
    assert [s.document for s in find_ko_scalars(text, "docs.yaml")] == [0, 2, 2, 3]


def test_only_string_scalars_count() -> None:
    text = f"a: !custom {APP}\nb: !!binary '{APP}'\nc: !!str {APP}\nd: ! '{APP}'\n"
    assert [s.line for s in find_ko_scalars(text, "tags.yaml")] == [3, 4]


def test_an_anchored_reference_is_found_once() -> None:
    text = f"a: &x {APP}\nb: *x\nc: [*x, *x]\n"
    (scalar,) = find_ko_scalars(text, "a.yaml")
    assert scalar == KoScalar(reference=APP, start=6, end=6 + len(APP), style="plain", line=1,
                              column=7, document=0)
    assert rewrite(text, [scalar], PUBLISHED) == text.replace(APP, APP_REF)


def test_a_missing_published_reference_is_a_user_error() -> None:
    text = f"a: 1\nb:   '{WORKER}'\n"
    with pytest.raises(UserError) as caught:
        rewrite(text, find_ko_scalars(text, "w.yaml"), {APP: APP_REF}, source="w.yaml")
    assert str(caught.value) == f"w.yaml:2:6: no published image for {WORKER}"
    assert caught.value.__context__ is None  # not a KeyError in disguise


@pytest.mark.parametrize(("text", "message"), [
    ("a: b: c\n", "bad.yaml:1:5: not valid YAML: mapping values are not allowed"),
    ("a: 1\nb: 'abc\n", "bad.yaml:3:1: not valid YAML: found unexpected end of stream "
                        "(while scanning a quoted scalar at line 2, column 4)"),
    ("a: [1, 2\n", "bad.yaml:2:1: not valid YAML: "),
    ("x: 1\ny: *nope\n", "bad.yaml:2:4: not valid YAML: alias *nope names no anchor"),
    ("a: &x 1\n---\nb: *x\n", "bad.yaml:3:4: not valid YAML: alias *x names no anchor"),
    ("a: 1\nb: \x00\n", "bad.yaml:2:4: not valid YAML: character U+0000 is not allowed"),
    ("\ufeffa: 1\n  b: 2\n", "bad.yaml:2:4: not valid YAML: mapping values are not allowed"),
    ("a: 1\r\nb: c: d\r\n", "bad.yaml:2:5: not valid YAML: mapping values are not allowed"),
    ("a: 1\n...\nb: 2\n", "bad.yaml:3:1: not valid YAML: "),
])
def test_invalid_yaml(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        find_ko_scalars(text, "bad.yaml")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_decode() -> None:
    assert decode(b"\xef\xbb\xbfa: 1\n", "f.yaml") == "a: 1\n"
    assert decode("é: ü\n".encode(), "f.yaml") == "é: ü\n"
    with pytest.raises(UserError) as caught:
        decode(b"a: 1\nb: caf\xe9\n", "bad.yaml")
    assert str(caught.value) == ("bad.yaml:2: not valid UTF-8: byte 0xe9 at byte offset 11 "
                                 "(invalid continuation byte)")


def billion_laughs(levels: int = 12) -> str:
    """An alias bomb: expanding the last key would make 10**levels strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, levels + 1)]
    return "\n".join([*lines, f"image: {APP}", f"bomb: *l{levels}", ""])


@contextmanager
def bounded(seconds: float, megabytes: float | None = None) -> Iterator[None]:
    """Fail unless the block takes less than ``seconds`` and, if ``megabytes`` is given,
    allocates less than that (traced allocations: the block runs ~10x slower). The time
    bound catches runaway (exponential) work, not slowness: it is generous on purpose, since
    a loaded CI machine must not fail it."""
    if megabytes is not None:
        tracemalloc.start()
    began = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] if megabytes is not None else 0
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < (megabytes or 0) * 1e6 or megabytes is None, f"allocated {peak / 1e6:.0f} MB"


def test_an_alias_bomb_is_not_expanded() -> None:
    text = billion_laughs()
    with bounded(seconds=30, megabytes=20):
        (scalar,) = find_ko_scalars(text, "bomb.yaml")
        result = rewrite(text, [scalar], PUBLISHED)
    assert result == text.replace(APP, APP_REF)


def test_nesting_is_limited() -> None:
    deep = "[" * 900 + f'"{APP}"' + "]" * 900 + "\n"
    (scalar,) = find_ko_scalars(deep, "deep.yaml")
    assert (scalar.start, scalar.style) == (900, '"')
    with bounded(seconds=30), pytest.raises(UserError) as caught:
        find_ko_scalars("[" * 100_000 + "]" * 100_000, "deeper.yaml")
    assert str(caught.value).startswith("deeper.yaml:1:1001: not valid YAML: ")
    assert "nest" in str(caught.value)


def test_invalid_utf8_deep_in_a_file() -> None:
    data = b"a: 1\n" * 100_000 + b"b: \xc3\x28\n"
    with bounded(seconds=30), pytest.raises(UserError) as caught:
        decode(data, "big.yaml")
    assert str(caught.value).startswith(
        "big.yaml:100001: not valid UTF-8: byte 0xc3 at byte offset 500003")


def test_a_syntax_error_deep_in_a_file() -> None:
    text = "---\na: 1\n" * 20_000 + "---\nkey: value: bad\n"
    with bounded(seconds=30), pytest.raises(UserError) as caught:
        find_ko_scalars(text, "big.yaml")
    assert str(caught.value).startswith(
        "big.yaml:40002:11: not valid YAML: mapping values are not allowed")


DOCUMENT = f"""---
# service {{n}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{{n}}
  labels: {{{{app: app-{{n}}, tier: "backend"}}}}
spec:
  template:
    spec:
      containers:
      - name: app
        image: {APP}   # built by ko
        args: ["--flag", 'value', plain]
      - name: worker
        image: "{WORKER}"
        command: |
          run --worker
"""


def test_large_input_is_linear(parser: str) -> None:
    # 50 MB with libyaml (what PyYAML wheels carry); the pure-Python parser reads ~0.5 MB/s,
    # so it gets 2 MB: the same code path, a bounded time
    size = 50_000_000 if parser == "libyaml" else 2_000_000
    parts: list[str] = []
    total = 0
    while total < size:
        parts.append(DOCUMENT.format(n=len(parts)))
        total += len(parts[-1])
    count, text = len(parts), "".join(parts)
    began = time.perf_counter()
    scalars = find_ko_scalars(text, "big.yaml")
    result = rewrite(text, scalars, PUBLISHED)
    elapsed = time.perf_counter() - began
    assert len(text) >= size and len(scalars) == 2 * count
    assert scalars[-1].document == count - 1
    assert result == text.replace(APP, APP_REF).replace(WORKER, WORKER_REF)
    assert elapsed < 30, f"took {elapsed:.1f} s"
