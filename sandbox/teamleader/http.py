"""JSON in and out the Teamleader way: ``Decimal`` money, ``{"errors": [...]}`` bodies."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.teamleader.state import Problem


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(body: Any) -> bytes:
    return json.dumps(body, default=_default, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status, headers=headers, media_type="application/json")


def error_body(status: int, title: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"title": title, "status": status}
    if field:
        error["meta"] = {"field": field}
    return {"errors": [error]}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        error_body(problem.status, problem.title, problem.field), problem.status, headers
    )


async def read_json(request: Request, *, optional: bool = True) -> Any:
    """The body as JSON (numbers with a fraction as ``Decimal``); empty means ``{}``."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise Problem(400, "a JSON body is required", "(body)")
    try:
        return json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}", "(body)") from exc


async def read_object(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object", "(body)")
    return body
