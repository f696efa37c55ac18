"""The OData subset Visma's list endpoints accept in ``$filter`` and ``$orderby``.

Grammar (case-insensitive keywords)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := Property op literal         op: eq ne gt ge lt le
    literal    := 'text' (quote doubled inside) | number | true | false | null
                | 2026-01-31 | 2026-01-31T12:00:00[.fff][Z] | datetime'…'

A literal is compared in the type of the property: a text or date literal against a
timestamp property is read as a timestamp (no offset means UTC), against a date property as
a date. Text comparisons ignore case, as the real API's SQL collation does. Anything else
is ErrorCode 6000 (QueryParameterError).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.visma.errors import QUERY_PARAMETER_ERROR, VismaApiError

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>datetime'[^']*'
          |\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_OPERATORS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def query_error(message: str) -> VismaApiError:
    return VismaApiError(QUERY_PARAMETER_ERROR, message)


def parse_filter(text: str, properties: set[str]) -> Predicate:
    """A predicate over records for ``$filter``; ``properties`` are the filterable names."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, properties, text)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise query_error(f"Invalid $filter '{text}': unexpected '{tokens[parser.position][1]}'")
    return predicate


def sort_records(records: list[Record], orderby: str, properties: set[str]) -> list[Record]:
    """Apply ``$orderby`` (``Prop [asc|desc], …``); nulls sort first, as in SQL Server."""
    keys = []
    for clause in (c.strip() for c in orderby.split(",") if c.strip()):
        parts = clause.split()
        name = _property(parts[0], properties, orderby)
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if direction not in ("asc", "desc") or len(parts) > 2:
            raise query_error(f"Invalid $orderby '{orderby}'")
        keys.append((name, direction == "desc"))
    for name, descending in reversed(keys):
        records = sorted(records, key=lambda r: _sort_key(r.get(name)), reverse=descending)
    return records


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise query_error(f"Invalid $filter '{text}' at position {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _property(name: str, properties: set[str], text: str) -> str:
    for known in properties:
        if known.lower() == name.lower():
            return known
    raise query_error(f"Invalid query '{text}': unknown property '{name}'")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], properties: set[str], text: str) -> None:
        self.tokens = tokens
        self.properties = properties
        self.text = text
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise query_error(f"Invalid $filter '{self.text}': it ends too early")
        self.position += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def expression(self) -> Predicate:
        terms = [self._and()]
        while self._keyword("or"):
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else (lambda r: any(t(r) for t in terms))

    def _and(self) -> Predicate:
        terms = [self._unary()]
        while self._keyword("and"):
            terms.append(self._unary())
        return terms[0] if len(terms) == 1 else (lambda r: all(t(r) for t in terms))

    def _unary(self) -> Predicate:
        if self._keyword("not"):
            inner = self._unary()
            return lambda r: not inner(r)
        token = self._peek()
        if token == ("paren", "("):
            self._take()
            inner = self.expression()
            if self._take() != ("paren", ")"):
                raise query_error(f"Invalid $filter '{self.text}': missing ')'")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        kind, name = self._take()
        if kind != "word":
            raise query_error(f"Invalid $filter '{self.text}': expected a property, got '{name}'")
        prop = _property(name, self.properties, self.text)
        kind, op = self._take()
        compare = _OPERATORS.get(op.lower()) if kind == "word" else None
        if compare is None:
            raise query_error(f"Invalid $filter '{self.text}': unknown operator '{op}'")
        literal = _literal(self._take(), self.text)

        def predicate(record: Record) -> bool:
            value = record.get(prop)
            if value is None or literal is None:
                # Only eq/ne mean something next to null; an ordering with null is false.
                both_null = value is None and literal is None
                return {"eq": both_null, "ne": not both_null}.get(op.lower(), False)
            try:
                left, right = _comparable(value, literal)
                return bool(compare(left, right))
            except (TypeError, ValueError) as exc:
                raise query_error(
                    f"Invalid $filter '{self.text}': cannot compare {prop} with {literal!r}"
                ) from exc

        return predicate


def _literal(token: tuple[str, str], text: str) -> Any:
    kind, raw = token
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "datetime":
        return _parse_datetime(raw.removeprefix("datetime").strip("'"), text)
    if kind == "number":
        try:
            return int(raw) if re.fullmatch(r"-?\d+", raw) else Decimal(raw)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise query_error(f"Invalid number {raw}") from exc
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if kind == "word" and raw.lower() == "null":
        return None
    raise query_error(f"Invalid $filter '{text}': expected a value, got '{raw}'")


def _parse_datetime(raw: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise VismaApiError(6001, f"Invalid date '{raw}' in '{text}'") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _comparable(value: Any, literal: Any) -> tuple[Any, Any]:
    """Bring the literal into the property's type."""
    if isinstance(value, datetime):
        if isinstance(literal, str):
            literal = _parse_datetime(literal, literal)
        if not isinstance(literal, datetime):
            raise TypeError("not a timestamp")
        return value, literal
    if isinstance(value, date):
        if isinstance(literal, str):
            literal = _parse_datetime(literal, literal)
        if isinstance(literal, datetime):
            literal = literal.date()
        return value, literal
    if isinstance(value, bool) or isinstance(literal, bool):
        if not (isinstance(value, bool) and isinstance(literal, bool)):
            raise TypeError("not a boolean")
        return value, literal
    if isinstance(value, (int, Decimal)):
        if isinstance(literal, datetime) or not isinstance(literal, (int, Decimal, str)):
            raise TypeError("not a number")
        return Decimal(value), Decimal(literal)
    if isinstance(value, str):
        if isinstance(literal, datetime):
            raise TypeError("not text")
        return value.lower(), str(literal).lower()
    raise TypeError("not comparable")
