"""JSON in and out of the simulator: Decimal money, ISO dates, UUIDs as strings.

Numbers are read with ``parse_float=Decimal`` so money never passes through float; a
Decimal is written through ``float`` (shortest round-trip repr: an amount of up to 15
significant digits keeps exactly its digits), the same rule as ``clients.http.encode_json``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.errors import VALIDATION, VismaApiError


def utc_now() -> datetime:
    """Now in UTC, to the millisecond: what we store is exactly what we print."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_datetime(value: datetime) -> str:
    """``2026-01-31T12:00:00.123Z``: UTC with milliseconds."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(body: Any) -> bytes:
    return json.dumps(body, default=_default, separators=(",", ":")).encode()


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise VismaApiError(VALIDATION, "The request body is empty.")
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise VismaApiError(VALIDATION, f"The request body is not valid JSON: {exc}") from exc
