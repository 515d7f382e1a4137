"""Kubernetes label selectors, as k8s.io/apimachinery/pkg/labels parses and matches them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kotasks.errors import UserError

_SYMBOLS = "=!(),<>"
_TWO_SYMBOLS = ("==", "!=")
_WHITESPACE = " \t\r\n"
_KEYWORDS = ("in", "notin")
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(2**63), 2**63)
_OPERATORS = "in, notin, =, ==, !=, >, <"


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``key``, an operator (``in``, ``notin``, ``=``, ``==``, ``!=``, ``>``,
    ``<``, ``exists``, ``!``) and its values."""

    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` meet it (``!=`` and ``notin`` hold when the key is absent)."""
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!":
            return self.key not in labels
        if self.key not in labels:
            return self.operator in ("!=", "notin")
        value = labels[self.key]
        if self.operator in ("!=", "notin"):
            return value not in self.values
        if self.operator in ("<", ">"):
            return _compare(value, self.operator, next(iter(self.values)))
        return value in self.values


@dataclass(frozen=True)
class Selector:
    """A parsed selector: the AND of its requirements (none selects everything)."""

    requirements: tuple[Requirement, ...]

    @property
    def empty(self) -> bool:
        """Whether the selector has no requirements and so selects everything."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` meet every requirement."""
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """Return the selector ``text`` spells (``""`` selects everything); raise UserError if bad."""
    return _Parser(text).selector()


def _compare(label: str, operator: str, bound: str) -> bool:
    """Whether the integer ``label`` is greater (``>``) or less (``<``) than ``bound``."""
    if not _INTEGER.fullmatch(label) or int(label) not in _INT64:
        return False
    return int(label) > int(bound) if operator == ">" else int(label) < int(bound)


@dataclass(frozen=True)
class _Token:
    """A lexeme: ``kind`` is the symbol, ``in``/``notin``, ``word`` or ``end``."""

    kind: str
    text: str
    column: int  # 1-based

    def __str__(self) -> str:
        return "end of selector" if self.kind == "end" else f"'{self.text}'"


def _lex(text: str) -> list[_Token]:
    """The tokens of ``text`` as labels.Lexer cuts them, ending with an ``end`` token."""
    tokens: list[_Token] = []
    index = 0
    while True:
        while index < len(text) and text[index] in _WHITESPACE:
            index += 1
        if index == len(text):
            return [*tokens, _Token("end", "", index + 1)]
        start = index
        if text[index] in _SYMBOLS:
            index += 2 if text[index:index + 2] in _TWO_SYMBOLS else 1
            tokens.append(_Token(text[start:index], text[start:index], start + 1))
            continue
        while index < len(text) and text[index] not in _SYMBOLS + _WHITESPACE:
            index += 1
        word = text[start:index]
        tokens.append(_Token(word if word in _KEYWORDS else "word", word, start + 1))


class _Parser:
    """labels.Parser: a recursive-descent parse of one selector string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.position = 0

    def peek(self) -> _Token:
        """The next token, not consumed."""
        return self.tokens[self.position]

    def take(self) -> _Token:
        """The next token, consumed."""
        token = self.tokens[self.position]
        self.position += 1
        return token

    def is_word(self, token: _Token) -> bool:
        """Outside operator position ``in`` and ``notin`` are words (keys, values) too."""
        return token.kind == "word" or token.kind in _KEYWORDS

    def error(self, token: _Token, problem: str) -> UserError:
        """The error for ``problem`` at ``token``."""
        return UserError(f"--selector '{self.text}': column {token.column}: {problem}")

    def expected(self, token: _Token, what: str) -> UserError:
        """The error for finding ``token`` where ``what`` should be."""
        return self.error(token, f"expected {what}, found {token}")

    def selector(self) -> Selector:
        """Requirements separated by commas, up to the end of the text."""
        requirements: list[Requirement] = []
        while self.peek().kind != "end":
            if requirements:
                separator = self.take()
                if separator.kind != ",":
                    raise self.expected(separator, "',' or end of selector")
                if not (self.is_word(self.peek()) or self.peek().kind == "!"):
                    raise self.expected(self.peek(), "a label key or '!' after ','")
            elif not (self.is_word(self.peek()) or self.peek().kind == "!"):
                raise self.expected(self.peek(), "a label key or '!'")
            requirements.append(self.requirement())
        return Selector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))

    def requirement(self) -> Requirement:
        """``[!]key``, or ``key`` then an operator and its value(s)."""
        negated = self.peek().kind == "!"
        if negated:
            self.take()
        token = self.take()
        if not self.is_word(token):
            raise self.expected(token, "a label key" + (" after '!'" if negated else ""))
        self.check_key(token)
        if negated or self.peek().kind in ("end", ","):
            return Requirement(token.text, "!" if negated else "exists", frozenset())
        operator = self.take()
        if operator.kind in ("in", "notin"):
            values = self.value_set(operator)
        elif operator.kind in ("=", "==", "!=", "<", ">"):
            values = self.exact_value(operator)
        else:
            raise self.expected(operator, f"an operator ({_OPERATORS}) after '{token.text}'")
        return Requirement(token.text, "=" if operator.kind == "==" else operator.kind, values)

    def value_set(self, operator: _Token) -> frozenset[str]:
        """``( value, … )`` after ``in``/``notin``; empty slots are the empty value."""
        opening = self.take()
        if opening.kind != "(":
            raise self.expected(opening, f"'(' after '{operator.text}'")
        values: set[str] = set()
        slot_filled = False
        while True:
            token = self.take()
            if self.is_word(token) and not slot_filled:
                values.add(self.check_value(token))
                slot_filled = True
            elif token.kind in (",", ")"):
                if not slot_filled:
                    values.add("")
                if token.kind == ")":
                    return frozenset(values)
                slot_filled = False
            else:
                raise self.expected(token, "',' or ')'" if slot_filled else "a value, ',' or ')'")

    def exact_value(self, operator: _Token) -> frozenset[str]:
        """The single (maybe empty) value after ``=``, ``==``, ``!=``, ``>`` or ``<``."""
        token = self.peek()
        if token.kind in ("end", ","):
            value = ""
        elif self.is_word(token):
            value = self.check_value(self.take())
        else:
            raise self.expected(token, f"a value after '{operator.text}'")
        if operator.kind in "<>" and not (_INTEGER.fullmatch(value) and int(value) in _INT64):
            raise self.error(token, f"'{operator.text}' needs an integer value, not '{value}'")
        return frozenset({value})

    def check_key(self, token: _Token) -> None:
        """Raise unless the key is a qualified name: ``[prefix/]name`` (validateLabelKey)."""
        prefix, slash, name = token.text.rpartition("/")
        problem = ""
        if "/" in prefix:
            problem = "a key has at most one '/'"
        elif slash and not prefix:
            problem = "the prefix before '/' must not be empty"
        elif slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
            problem = "the prefix before '/' must be a lowercase DNS subdomain (at most 253 " \
                      "characters)"
        elif len(name) > 63 or not _NAME.fullmatch(name):
            problem = "the name must be 1 to 63 letters, digits, '-', '_' or '.', beginning " \
                      "and ending with a letter or digit"
        if problem:
            raise self.error(token, f"invalid label key '{token.text}': {problem}")

    def check_value(self, token: _Token) -> str:
        """Return the value, raising unless it is a valid label value (validateLabelValue)."""
        if len(token.text) > 63 or not _VALUE.fullmatch(token.text):
            raise self.error(token, f"invalid label value '{token.text}': a value is at most 63 "
                                    f"letters, digits, '-', '_' or '.', beginning and ending "
                                    f"with a letter or digit")
        return token.text
