"""``$page`` / ``$pagesize`` / ``$filter`` / ``$orderby`` on a list, answered as Visma pages.

``$page`` counts from 1; ``$pagesize`` defaults to 50 and is capped at 1000 (the maximum is
not documented; 1000 is the commonly assumed value, see ASSUMPTIONS.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from sandbox.visma.jsonio import utc_now
from sandbox.visma.odata import parse_filter, query_error, sort_records

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_of(
    request: Request, records: Iterable[dict[str, Any]], properties: Iterable[str]
) -> dict[str, Any]:
    """Filter, sort and cut ``records`` as the query asks; the ``PaginatedResponseOf…`` body.

    ``properties`` are the names ``$filter`` and ``$orderby`` may use (the GET schema's)."""
    rows = list(records)
    properties = set(properties)
    query = request.query_params
    if query.get("$filter"):
        predicate = parse_filter(query["$filter"], properties)
        rows = [r for r in rows if predicate(r)]
    if query.get("$orderby"):
        rows = sort_records(rows, query["$orderby"], properties)
    page = _positive_int(query.get("$page"), "$page", 1)
    size = min(_positive_int(query.get("$pagesize"), "$pagesize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    total = len(rows)
    return {
        "Meta": {
            "CurrentPage": page,
            "PageSize": size,
            "TotalNumberOfPages": math.ceil(total / size),
            "TotalNumberOfResults": total,
            "ServerTimeUtc": utc_now(),
        },
        "Data": rows[(page - 1) * size : page * size],
    }


def _positive_int(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise query_error(f"{name} must be a whole number, got '{raw}'") from exc
    if value < 1:
        raise query_error(f"{name} must be 1 or more, got {value}")
    return value
