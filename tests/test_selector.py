"""Label selectors as Kubernetes parses them, and ko's --selector filtering of YAML documents."""

from __future__ import annotations

import difflib
import time
import tracemalloc
from typing import Any

import pytest
import yaml

from kotasks.errors import UserError
from kotasks.resolve import stream
from kotasks.resolve.documents import select
from kotasks.resolve.selector import parse_selector

PARSERS = ["libyaml", "pure"] if yaml.__with_libyaml__ else ["pure"]


@pytest.fixture(params=PARSERS, autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test with libyaml (when PyYAML has it) and with the pure-Python parser."""
    monkeypatch.setattr(stream, "LOADER",
                        yaml.CSafeLoader if request.param == "libyaml" else yaml.SafeLoader)


WEB = {"app": "web", "tier": "frontend"}
DB = {"app": "db", "tier": "backend", "app.kubernetes.io/name": "postgres"}
EMPTY_VALUE = {"app": "", "count": "7"}
NONE: dict[str, str] = {}

MATCHES = [
    ("", [WEB, DB, EMPTY_VALUE, NONE]),
    ("   ", [WEB, DB, EMPTY_VALUE, NONE]),
    ("app=web", [WEB]),
    ("app==web", [WEB]),
    ("app = web", [WEB]),
    ("app!=web", [DB, EMPTY_VALUE, NONE]),
    ("app in (web, db)", [WEB, DB]),
    ("app in (web,)", [WEB, EMPTY_VALUE]),
    ("app in ()", [EMPTY_VALUE]),
    ("app notin (web,db)", [EMPTY_VALUE, NONE]),
    ("tier", [WEB, DB]),
    ("!tier", [EMPTY_VALUE, NONE]),
    ("! tier", [EMPTY_VALUE, NONE]),
    ("app=", [EMPTY_VALUE]),
    ("app==,count", [EMPTY_VALUE]),
    ("app.kubernetes.io/name=postgres", [DB]),
    ("app.kubernetes.io/name", [DB]),
    ("app.kubernetes.io/name!=postgres", [WEB, EMPTY_VALUE, NONE]),
    ("app!=web,tier", [DB]),
    (" tier in (frontend,backend) , app notin (db) ,!count ", [WEB]),
    ("app=web,app=db", []),
    ("count>6", [EMPTY_VALUE]),
    ("count>7", []),
    ("count<8", [EMPTY_VALUE]),
    ("tier<8", []),  # "frontend" is not an integer
    ("in in (in),notin", []),
    ("!in,!notin", [WEB, DB, EMPTY_VALUE, NONE]),
]


@pytest.mark.parametrize(("text", "selected"), MATCHES, ids=[text for text, _ in MATCHES])
def test_matches(text: str, selected: list[dict[str, str]]) -> None:
    selector = parse_selector(text)
    assert [labels for labels in (WEB, DB, EMPTY_VALUE, NONE) if selector.matches(labels)] \
        == selected
    assert selector.empty == (text.strip() == "")


PARSE_ERRORS = [
    ("a in b", "--selector 'a in b': column 6: expected '(' after 'in', found 'b'"),
    ("a notin", "--selector 'a notin': column 8: expected '(' after 'notin', found end of "
                "selector"),
    ("a in (b", "--selector 'a in (b': column 8: expected ',' or ')', found end of selector"),
    ("a in (b c)", "column 9: expected ',' or ')', found 'c'"),
    ("a in (=)", "column 7: expected a value, ',' or ')', found '='"),
    ("a b", "column 3: expected an operator (in, notin, =, ==, !=, >, <) after 'a', found 'b'"),
    ("a ! b", "column 3: expected an operator"),
    ("a,", "column 3: expected a label key or '!' after ',', found end of selector"),
    ("a,,b", "column 3: expected a label key or '!' after ','"),
    ("=a", "column 1: expected a label key or '!', found '='"),
    (",", "column 1: expected a label key or '!', found ','"),
    ("!", "column 2: expected a label key after '!', found end of selector"),
    ("!a=b", "column 3: expected ',' or end of selector, found '='"),
    ("a=b=c", "column 4: expected ',' or end of selector, found '='"),
    ("a=b c", "column 5: expected ',' or end of selector, found 'c'"),
    ("a=(b)", "column 3: expected a value after '=', found '('"),
    ("A/b=c", "invalid label key 'A/b': the prefix before '/' must be a lowercase DNS"),
    ("a/b/c", "invalid label key 'a/b/c': a key has at most one '/'"),
    ("/a", "invalid label key '/a': the prefix before '/' must not be empty"),
    ("a/", "invalid label key 'a/': the name must be 1 to 63"),
    ("-a=b", "column 1: invalid label key '-a'"),
    ("a" * 64, "invalid label key"),
    ("a=-b", "column 3: invalid label value '-b'"),
    ("a in (x, b_)", "column 10: invalid label value 'b_'"),
    ("a=" + "b" * 64, "invalid label value"),
    ("a>b", "column 3: '>' needs an integer value, not 'b'"),
    ("a<", "column 3: '<' needs an integer value, not ''"),
    ("a>99999999999999999999", "needs an integer value"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS, ids=[t for t, _ in PARSE_ERRORS])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_selector(text)
    assert str(caught.value).startswith(f"--selector '{text}': ")
    assert message in str(caught.value)


def test_prefixed_keys_are_valid() -> None:
    assert parse_selector("example.com/a-b_c.d=x").matches({"example.com/a-b_c.d": "x"})
    assert parse_selector(f"{'a' * 63}={'b' * 63}").matches({"a" * 63: "b" * 63})


def obj(kind: str, name: str, labels: str | None = None) -> str:
    """A Kubernetes object document (labels: a flow mapping's text, or None for no labels)."""
    metadata = f"\n  labels: {labels}" if labels is not None else ""
    return f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}{metadata}\n"


WEB_SVC = "# the web service\n" + obj("Service", "web", "{app: web, tier: frontend}")
DB_SVC = obj("Service", "db", "{app: db}") + "spec:\n  ports: [{port: 5432}]  # postgres\n"
PLAIN_CM = obj("ConfigMap", "plain")
STREAM = f"""{WEB_SVC}---
{DB_SVC}...
# between documents
--- # the third
{PLAIN_CM}---
# nothing but a comment
---
~
"""


def diff(expected: str, actual: str) -> str:
    """A unified diff for assertion messages."""
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True),
                                        actual.splitlines(keepends=True), "expected", "actual"))


def filtered(text: str, selector: str) -> list[Any]:
    """What the selected documents should load as, filtered on the loaded data."""
    wanted = parse_selector(selector)

    def matches(item: dict[str, Any]) -> bool:
        return wanted.matches((item.get("metadata") or {}).get("labels") or {})

    kept = []
    for document in yaml.safe_load_all(text):
        if document is None:
            continue
        if document["kind"] == "List":
            items = [item for item in document["items"] if item is not None and matches(item)]
            if items:
                kept.append({**document, "items": items})
        elif matches(document):
            kept.append(document)
    return kept


def check_select(text: str, selector: str, expected: str) -> None:
    """select keeps exactly ``expected``, which loads as the data-level filter does."""
    actual = select(text, "f.yaml", parse_selector(selector))
    assert actual == expected, diff(expected, actual)
    assert list(yaml.safe_load_all(actual)) == filtered(text, selector)


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", WEB_SVC),
    ("app=db", f"---\n{DB_SVC}...\n"),
    ("app", f"{WEB_SVC}---\n{DB_SVC}...\n"),
    ("!app", f"# between documents\n--- # the third\n{PLAIN_CM}"),
    ("app!=web", f"---\n{DB_SVC}...\n# between documents\n--- # the third\n{PLAIN_CM}"),
    ("tier notin (frontend)", f"---\n{DB_SVC}...\n# between documents\n--- # the third\n"
                              f"{PLAIN_CM}"),
    ("app in (web, db), tier", WEB_SVC),
    ("nothing=here", ""),
])
def test_select_documents(selector: str, expected: str) -> None:
    check_select(STREAM, selector, expected)


def test_a_selector_that_keeps_every_object_changes_nothing() -> None:
    text = f"\ufeff{WEB_SVC}---\r\n{DB_SVC}--- {{apiVersion: v1, kind: A}}\n...\n"
    assert select(text, "f.yaml", parse_selector("!absent")) == text


def test_an_empty_selector_returns_the_text_unchanged() -> None:
    text = "just a scalar\n---\n[not, an, object]\n"
    assert select(text, "f.yaml", parse_selector("")) == text


@pytest.mark.parametrize(("text", "where"), [
    (f"{WEB_SVC}---\nplain scalar\n", "f.yaml:8:1: document 2"),
    ("- a\n- b\n", "f.yaml:1:1: document 1"),
    (f"{WEB_SVC}---\nkind: Service\nmetadata: {{}}\n", "f.yaml:8:1: document 2"),
    ("---\n---\napiVersion: v1\nkind: 1\n", "f.yaml:3:1: document 2"),
    ("apiVersion: [v1]\nkind: Service\n", "f.yaml:1:1: document 1"),
    ('--- ""\n', "f.yaml:1:5: document 1"),
])
def test_documents_must_be_objects(text: str, where: str) -> None:
    with pytest.raises(UserError) as caught:
        select(text, "f.yaml", parse_selector("app"))
    assert str(caught.value) == (f"{where} is not a Kubernetes object (no apiVersion/kind); "
                                 f"a selector needs one")


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: v1\nkind: A\nmetadata: [x]\n", "f.yaml:3:11: document 1: metadata must be a "
                                                  "mapping"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  labels: x\n", "f.yaml:4:11: document 1: "
                                                          "metadata.labels must be a mapping"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  labels: {a: [b]}\n",
     "f.yaml:4:12: document 1: metadata.labels must map strings to strings"),
    ("apiVersion: v1\nkind: List\n", "f.yaml:1:1: document 1 is a List without an items "
                                     "sequence"),
    ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n- just text\n",
     "f.yaml:6:3: document 1, item 2 is not a Kubernetes object"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  labels: {<<: [a]}\n",
     "f.yaml:4:17: the value of a merge key (<<) must be a mapping"),
])
def test_malformed_objects(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        select(text, "f.yaml", parse_selector("a"))
    assert str(caught.value).startswith(message)


def test_labels_through_aliases_and_merge_keys() -> None:
    common = "common: &common {app: web, tier: frontend}\n"
    aliased = obj("A", "aliased", "*common")
    merged = obj("B", "merged", "{<<: *common, tier: backend}")
    nested = obj("C", "nested", "{<<: [{app: db}, *common], extra: x}")
    texts = [aliased, merged, nested]
    text = "---\n".join(common + body for body in texts)
    assert select(text, "f.yaml", parse_selector("app=web,tier=frontend")) == common + aliased
    assert select(text, "f.yaml", parse_selector("tier=backend")) == f"---\n{common}{merged}"
    assert select(text, "f.yaml", parse_selector("app=db,tier=frontend,extra")) == \
        f"---\n{common}{nested}"


def test_non_string_label_values_are_taken_as_written() -> None:
    text = obj("A", "a", "{version: 1.10, enabled: true, empty: }")
    for selector in ("version=1.10", "enabled=true", "empty=", "empty in ()"):
        assert select(text, "f.yaml", parse_selector(selector)) == text, selector


ITEM_WEB = """- apiVersion: v1   # web
  kind: Service
  metadata:
    name: web
    labels:
      app: web
"""
ITEM_DB = """# the database, with a comment above it
- &db
  apiVersion: v1
  kind: Service
  metadata: {name: db, labels: {app: db}}
"""
ITEM_CACHE = """-   apiVersion: v1
    kind: Service
    metadata:
      labels: {app: cache}   # no name
"""
ITEM_NULL = "-\n"
BLOCK_LIST = f"""# a List
apiVersion: v1
kind: List
items:
{ITEM_WEB}{ITEM_DB}{ITEM_NULL}{ITEM_CACHE}metadata: {{resourceVersion: "1"}}
"""


@pytest.mark.parametrize(("selector", "removed"), [
    ("app=web", [ITEM_DB, ITEM_NULL, ITEM_CACHE]),
    ("app=db", [ITEM_WEB, ITEM_NULL, ITEM_CACHE]),
    ("app=cache", [ITEM_WEB, ITEM_DB, ITEM_NULL]),
    ("app in (web, cache)", [ITEM_DB, ITEM_NULL]),
    ("app!=db", [ITEM_DB, ITEM_NULL]),
    ("app", [ITEM_NULL]),
])
def test_block_list_items_are_cut_out(selector: str, removed: list[str]) -> None:
    expected = BLOCK_LIST
    for item in removed:
        expected = expected.replace(item, "", 1)
    check_select(BLOCK_LIST, selector, expected)


def test_a_list_without_matching_items_is_dropped() -> None:
    check_select(f"{WEB_SVC}---\n{BLOCK_LIST}", "app=nothing", "")
    check_select(f"{BLOCK_LIST}---\n{WEB_SVC}", "tier=frontend", f"---\n{WEB_SVC}")


def test_an_indented_block_list_keeps_its_last_line() -> None:
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "  - {apiVersion: v1, kind: A, metadata: {labels: {keep: y}}}\n"
            "  - {apiVersion: v1, kind: B}   # dropped\n"
            "kind2: x\n")
    check_select(text, "keep", text.replace("  - {apiVersion: v1, kind: B}   # dropped\n", ""))


KEEP_CHOMPED = """apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {labels: {app: a}}
    data:
      script: |+
        echo kept

  # b
  - apiVersion: v1
    kind: ConfigMap
    metadata: {labels: {app: b}}
"""


@pytest.mark.parametrize(("selector", "removed"), [
    ("app=a", "  # b\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {labels: {app: b}}\n"),
    ("app=b", "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {labels: {app: a}}\n"
              "    data:\n      script: |+\n        echo kept\n\n"),
])
def test_blank_lines_ending_a_block_scalar_stay_with_it(selector: str, removed: str) -> None:
    check_select(KEEP_CHOMPED, selector, KEEP_CHOMPED.replace(removed, "", 1))


FLOW_LIST = """{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "A", "metadata": {"labels": {"app": "a"}}},
  {"apiVersion": "v1", "kind": "B", "metadata": {"labels": {"app": "b"}}},
  {"apiVersion": "v1", "kind": "C", "metadata": {"labels": {"app": "c"}}}
]}
"""
FLOW_A = '{"apiVersion": "v1", "kind": "A", "metadata": {"labels": {"app": "a"}}}'
FLOW_B = '{"apiVersion": "v1", "kind": "B", "metadata": {"labels": {"app": "b"}}}'
FLOW_C = '{"apiVersion": "v1", "kind": "C", "metadata": {"labels": {"app": "c"}}}'


@pytest.mark.parametrize(("selector", "cuts"), [
    ("app=a", [f",\n  {FLOW_B},\n  {FLOW_C}"]),
    ("app=b", [f"{FLOW_A},\n  ", f",\n  {FLOW_C}"]),
    ("app=c", [f"{FLOW_A},\n  {FLOW_B},\n  "]),
    ("app!=b", [f"{FLOW_B},\n  "]),
    ("app in (b, c)", [f"{FLOW_A},\n  "]),
    ("app in (a, b)", [f",\n  {FLOW_C}"]),
])
def test_flow_list_items_are_cut_out(selector: str, cuts: list[str]) -> None:
    expected = FLOW_LIST
    for cut in cuts:
        expected = expected.replace(cut, "", 1)
    check_select(FLOW_LIST, selector, expected)


@pytest.mark.parametrize("text", [
    "apiVersion: v1\nkind: List\nitems:\n"
    "- {apiVersion: v1, kind: A, metadata: {labels: &labels {app: a}}}\n"
    "- {apiVersion: v1, kind: B, metadata: {labels: {<<: *labels, which: b}}}\n",
    "apiVersion: v1\nkind: List\nitems:\n"
    "- &a {apiVersion: v1, kind: A}\n"
    "- {apiVersion: v1, kind: B, metadata: {labels: {which: b}}}\n"
    "copy: *a\n",
])
def test_cutting_an_anchor_that_is_still_used_is_an_error(text: str) -> None:
    with pytest.raises(UserError) as caught:
        select(text, "f.yaml", parse_selector("which=b"))
    assert str(caught.value).startswith("f.yaml:1:1: document 1: cannot remove the List items")


def test_cutting_items_of_an_aliased_sequence_is_an_error() -> None:
    text = ("all: &all\n- {apiVersion: v1, kind: A, metadata: {labels: {app: a}}}\n"
            "- {apiVersion: v1, kind: B}\n"
            "apiVersion: v1\nkind: List\nitems: *all\n")
    with pytest.raises(UserError) as caught:
        select(text, "f.yaml", parse_selector("app"))
    assert str(caught.value).startswith("f.yaml:6:8: document 1: cannot remove the List items")
    assert select(text, "f.yaml", parse_selector("!nothing")) == text


def bounded_select(text: str, selector: str) -> str:
    """select, failing if it runs away (over 30 s: a bound for exponential work, not a speed
    target) or allocates over 20 MB."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        return select(text, "bomb.yaml", parse_selector(selector))
    finally:
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert elapsed < 30, f"took {elapsed:.1f} s"
        assert peak < 20_000_000, f"allocated {peak / 1e6:.0f} MB"


def test_an_alias_bomb_in_an_object_is_not_expanded() -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 13)]
    bomb = "spec:\n" + "".join(f"  {line}\n" for line in lines)
    text = obj("A", "bomb", "{app: bomb}") + bomb
    assert bounded_select(text, "app=bomb") == text
    assert bounded_select(text, "app!=bomb") == ""


def test_a_merge_key_bomb_in_labels_is_not_expanded() -> None:
    levels = [f"m0: &m0 {{app: bomb, {', '.join(f'k{n}: v' for n in range(10))}}}"]
    levels += [f"m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 10)}], level{n}: x}}"
               for n in range(1, 15)]
    text = "defs:\n" + "".join(f"  {line}\n" for line in levels) + \
        "apiVersion: v1\nkind: A\nmetadata:\n  labels: {<<: *m14, mine: y}\n"
    assert bounded_select(text, "app=bomb,level14,level1,k9,mine=y") == text
    assert bounded_select(text, "level15") == ""


def test_a_bomb_of_list_items_is_not_expanded() -> None:
    item = "{apiVersion: v1, kind: A, metadata: {labels: {app: a}}}"
    lines = [f"i0: &i0 [{item}, {item}]"]
    lines += [f"i{n}: &i{n} [*i{n - 1}, *i{n - 1}]" for n in range(1, 30)]
    text = "defs:\n" + "".join(f"  {line}\n" for line in lines) + \
        "apiVersion: v1\nkind: List\nitems: [*i29]\n"
    with pytest.raises(UserError) as caught:
        bounded_select(text, "app=a")
    assert "document 1, item 1 is not a Kubernetes object" in str(caught.value)
