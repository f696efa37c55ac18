"""What the simulator counts a rate limit and a filter list on: the normalised path."""

from __future__ import annotations

import re

_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def endpoint_of(method: str, path: str) -> str:
    """``/v2/customers/3fa8…`` → ``/v2/customers/{id}`` (ids and numbers become ``{id}``)."""
    segments = path.rstrip("/").split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s.lower() for s in segments)
