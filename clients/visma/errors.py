"""Visma's answers sorted into ``clients.errors`` (what the caller should do about them).

* 400 with ``ErrorCode`` → :class:`DataError`, except 4000 (duplicate) → :class:`Conflict`
  and 3000 (a named resource does not exist) → :class:`NotFound`. 3001 (no fiscal year for
  the date) and 3002 (account missing in the fiscal year) stay plain :class:`DataError`:
  the bookkeeper must add the year or account, the message names it.
* 401 → :class:`ReauthorizationNeeded` (the auth already tried one refresh).
* 4100/5001 (VIES or another dependency unreachable) → :class:`TransientError`, also as 400.
* 404 → :class:`NotFound`; 429 → :class:`RateLimited` with the seconds from
  "Try again in N seconds." (60 s when the message says none); 5xx → :class:`TransientError`.

``code`` is ``str(ErrorCode)``; ``fields`` the names of the fields refused; ``reason`` the
``DeveloperErrorMessage`` followed by each field's message. Visma gives field errors as
``Errors[]`` (``{Field, Message}``, the description's ``CommonExtendedBadRequest``) or, in
some answers, as an ``ErrorMessages`` map ``{field: [message, …]}`` (or ``{field:
message}``); both are read, so a refusal always names its field.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from clients.errors import (
    ApiError,
    Conflict,
    DataError,
    NotFound,
    RateLimited,
    ReauthorizationNeeded,
    TransientError,
)
from clients.http import decode_json

SERVICE = "visma"
#: A ``$filter``/``$orderby``/paging parameter Visma does not accept.
QUERY_PARAMETER_ERROR = "6000"
#: Visma could not reach a service it checks with (VIES for VAT numbers): 4100
#: ExternalServiceValidation, 5001 CantReachSystemDependency. Transient, whatever the status.
DEPENDENCY_DOWN_CODES = frozenset({"4100", "5001"})
DEFAULT_RETRY_AFTER_S = 60.0
_TRY_AGAIN = re.compile(r"try again in (\d+) seconds?", re.IGNORECASE)


def error_for(response: httpx.Response) -> ApiError:
    body = _body(response)
    error_code = body.get("ErrorCode") if isinstance(body, dict) else None
    code = str(error_code) if error_code is not None else None
    reason, fields = _reason(body, response)
    status = response.status_code
    common: dict[str, Any] = {"status": status, "code": code, "fields": fields, "body": body}
    if status == 401:
        return ReauthorizationNeeded(SERVICE, f"access refused: {reason}", **common)
    if status == 429:
        return RateLimited(SERVICE, reason, retry_after_s=retry_after_s(reason), **common)
    if status >= 500 or code in DEPENDENCY_DOWN_CODES:
        return TransientError(SERVICE, reason, **common)
    if status == 404 or code == "3000":
        return NotFound(SERVICE, reason, **common)
    if code == "4000":
        return Conflict(SERVICE, reason, **common)
    return DataError(SERVICE, reason, **common)


def retry_after_s(message: str) -> float:
    match = _TRY_AGAIN.search(message)
    return float(match.group(1)) if match else DEFAULT_RETRY_AFTER_S


def _body(response: httpx.Response) -> Any:
    try:
        return decode_json(response)
    except ValueError:
        return response.text[:500]


def _reason(body: Any, response: httpx.Response) -> tuple[str, list[str]]:
    if not isinstance(body, dict):
        return (str(body) if body else f"HTTP {response.status_code}"), []
    parts = [str(body.get("DeveloperErrorMessage") or f"HTTP {response.status_code}")]
    fields: list[str] = []
    for field, message in _field_errors(body):
        if field and field not in fields:
            fields.append(field)
        if message and message not in parts[0]:
            parts.append(f"{field or ''}: {message}".lstrip(": "))
    reason = "; ".join(parts)
    unnamed = [field for field in fields if field not in reason]
    if unnamed:  # the message said it already, but not which field: the bookkeeper needs it
        reason += f" (field: {', '.join(unnamed)})"
    return reason, fields


def _field_errors(body: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    """(field, message) from ``Errors[]`` and from an ``ErrorMessages`` map."""
    found: list[tuple[str | None, str | None]] = []
    for entry in body.get("Errors") or []:
        if isinstance(entry, dict):
            field = str(entry["Field"]) if entry.get("Field") else None
            message = entry.get("Message")
            found.append((field, str(message) if message else None))
    messages = body.get("ErrorMessages")
    if isinstance(messages, dict):
        for field, said in messages.items():
            for message in said if isinstance(said, list) else [said]:
                found.append((str(field) or None, str(message) if message else None))
    return found
