"""List requests: checking ``filter``/``sort``/``page``, and applying them.

* ``page``: ``number`` from 1, ``size`` 1..100 (default 20). A larger size is refused with
  400 (field ``page.size``) rather than clamped, so a client that would stop on a "short"
  page of 100 cannot silently lose rows.
* ``updated_since`` compares ``updated_at >= updated_since``.
* Every sort ends with ``id`` as a tie-breaker, so paging is stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.teamleader.objects import parse_timestamp
from sandbox.teamleader.state import Problem

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

Item = dict[str, Any]


def filter_of(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("filter", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Problem(400, "filter must be an object", "filter")
    return value


def string_list(filters: Mapping[str, Any], key: str, allowed: Iterable[str] = ()) -> list[str]:
    value = filters[key]
    allowed = set(allowed)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Problem(400, f"filter.{key} must be an array of strings", f"filter.{key}")
    wrong = [v for v in value if allowed and v not in allowed]
    if wrong:
        raise Problem(
            400, f"filter.{key}: {wrong[0]!r} is not one of {sorted(allowed)}", f"filter.{key}"
        )
    return value


def string(filters: Mapping[str, Any], key: str) -> str:
    value = filters[key]
    if not isinstance(value, str):
        raise Problem(400, f"filter.{key} must be a string", f"filter.{key}")
    return value


def since(filters: Mapping[str, Any]) -> datetime:
    try:
        return parse_timestamp(string(filters, "updated_since"))
    except ValueError as exc:
        raise Problem(
            400, "filter.updated_since must be an ISO 8601 datetime", "filter.updated_since"
        ) from exc


def a_date(filters: Mapping[str, Any], key: str) -> str:
    text = string(filters, key)
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise Problem(400, f"filter.{key} must be a date YYYY-MM-DD", f"filter.{key}") from exc


def customer_ref(filters: Mapping[str, Any]) -> tuple[str, str]:
    value = filters["customer"]
    if (
        not isinstance(value, dict)
        or value.get("type") not in ("contact", "company")
        or not isinstance(value.get("id"), str)
    ):
        raise Problem(400, "filter.customer must be {type: contact|company, id}", "filter.customer")
    return value["type"], value["id"]


def updated_since(items: Iterable[Item], filters: Mapping[str, Any]) -> Iterable[Item]:
    if "updated_since" not in filters:
        return items
    bound = since(filters)
    return (item for item in items if parse_timestamp(item["updated_at"]) >= bound)


def by_ids(items: Iterable[Item], filters: Mapping[str, Any]) -> Iterable[Item]:
    if "ids" not in filters:
        return items
    wanted = set(string_list(filters, "ids"))
    return (item for item in items if item["id"] in wanted)


def by_term(
    items: Iterable[Item], filters: Mapping[str, Any], texts: Callable[[Item], Iterable[Any]]
) -> Iterable[Item]:
    if "term" not in filters:
        return items
    needle = string(filters, "term").casefold()
    return (
        item
        for item in items
        if any(needle in str(text).casefold() for text in texts(item) if text)
    )


def sorted_items(
    items: Iterable[Item],
    body: Mapping[str, Any],
    keys: Mapping[str, Callable[[Item], Any]],
    default: Sequence[tuple[str, str]],
) -> list[Item]:
    """Sort by the request's ``sort`` (or ``default``), then by ``id``."""
    requested = body.get("sort")
    if requested is None:
        order = list(default)
    else:
        if not isinstance(requested, list):
            raise Problem(400, "sort must be an array", "sort")
        order = []
        for index, entry in enumerate(requested):
            if not isinstance(entry, dict) or entry.get("field") not in keys:
                raise Problem(
                    400,
                    f"sort[{index}].field must be one of {sorted(keys)}",
                    f"sort[{index}].field",
                )
            direction = entry.get("order", "asc")
            if direction not in ("asc", "desc"):
                raise Problem(400, "sort order must be asc or desc", f"sort[{index}].order")
            order.append((entry["field"], direction))
    result = sorted(items, key=lambda item: item["id"])
    for field_name, direction in reversed(order):
        result.sort(
            key=lambda item: _nulls_first(keys[field_name](item)), reverse=direction == "desc"
        )
    return result


def _nulls_first(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def page_of(items: Sequence[Item], body: Mapping[str, Any]) -> Sequence[Item]:
    page = body.get("page", {}) or {}
    if not isinstance(page, dict):
        raise Problem(400, "page must be an object", "page")
    size, number = page.get("size", DEFAULT_PAGE_SIZE), page.get("number", 1)
    if not _whole(size) or not 1 <= size <= MAX_PAGE_SIZE:
        raise Problem(
            400, f"page.size must be a whole number from 1 to {MAX_PAGE_SIZE}", "page.size"
        )
    if not _whole(number) or number < 1:
        raise Problem(400, "page.number must be a whole number from 1", "page.number")
    start = (int(number) - 1) * int(size)
    return items[start : start + int(size)]


def _whole(value: Any) -> bool:
    """A JSON whole number (``20`` or ``20.0``; JSON numbers with a point are Decimals)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, Decimal):
        return value == value.to_integral_value()
    return isinstance(value, float) and value.is_integer()
