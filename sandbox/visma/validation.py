"""Field rules → Visma's ErrorCode 2000 with one ``Errors[]`` entry per field.

Messages follow the ASP.NET data-annotation wording the real API (a .NET service) uses for
required fields and maximum lengths; other problems carry pydantic's own sentence.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sandbox.visma.errors import VALIDATION, FieldError, VismaApiError

Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], body: Any) -> Model:
    """The body as ``model``, or ErrorCode 2000 naming every field that does not fit."""
    if not isinstance(body, dict):
        raise VismaApiError(VALIDATION, "The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [_field_error(detail) for detail in exc.errors()]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise VismaApiError(VALIDATION, f"Validation failed. {summary}", errors=errors) from exc


def field_path(location: tuple[int | str, ...]) -> str:
    """``("Voucher", "Rows", 0, "DebitAmount")`` → ``Voucher.Rows[0].DebitAmount``."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(body)"


def _field_error(detail: ErrorDetails) -> FieldError:
    name = field_path(tuple(detail["loc"]))
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind == "missing":
        return FieldError(name, f"The {name} field is required.", "Required")
    if kind == "string_too_long":
        limit = context.get("max_length")
        return FieldError(
            name,
            f"The field {name} must be a string with a maximum length of {limit}.",
            "MaxLength",
        )
    return FieldError(name, f"The field {name} is invalid: {detail['msg']}.", "Invalid")
