"""``$page`` / ``$pagesize`` / ``$filter`` / ``$orderby`` on a list, answered as Visma pages.

``$page`` counts from 1; ``$pagesize`` defaults to 50; more than the configured maximum
(``Modes.max_page_size``, 200 unless changed; Visma's is not documented, see ASSUMPTIONS.md)
is refused with 6000. ``$filter`` may name only the endpoint's filterable properties
(``sandbox/visma/filterable.py``); ``$orderby`` any property of the GET schema.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from sandbox.visma.endpoints import endpoint_of
from sandbox.visma.jsonio import utc_now
from sandbox.visma.odata import parse_filter, query_error, sort_records

DEFAULT_PAGE_SIZE = 50


def page_of(
    request: Request, records: Iterable[dict[str, Any]], properties: Iterable[str]
) -> dict[str, Any]:
    """Filter, sort and cut ``records`` as the query asks; the ``PaginatedResponseOf…`` body.

    ``properties`` are the names ``$orderby`` may use (the GET schema's); ``$filter`` may use
    those of them the modes list as filterable for the endpoint."""
    rows = list(records)
    properties = set(properties)
    modes = request.app.state.sim.modes
    query = request.query_params
    if query.get("$filter"):
        endpoint = endpoint_of(request.method, request.url.path)
        filterable = properties & set(modes.filterable.get(endpoint, properties))
        predicate = parse_filter(query["$filter"], filterable)
        rows = [r for r in rows if predicate(r)]
    if query.get("$orderby"):
        rows = sort_records(rows, query["$orderby"], properties)
    page = _positive_int(query.get("$page"), "$page", 1)
    size = _positive_int(query.get("$pagesize"), "$pagesize", DEFAULT_PAGE_SIZE)
    if size > modes.max_page_size:
        raise query_error(f"$pagesize must be {modes.max_page_size} or less, got {size}")
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
