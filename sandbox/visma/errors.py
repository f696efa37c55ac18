"""Visma's error body (``CommonExtendedBadRequest``) and the exception that carries it.

Every refusal of the simulator is raised as :class:`VismaApiError` and rendered once, in
the shape Visma documents: ``{ErrorCode, DeveloperErrorMessage, ErrorId, Errors[]}``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

# Error codes from developer.vismaonline.com/docs/error-codes (docs/api-facts.md, Visma §4).
VALIDATION = 2000
RESOURCE_NOT_FOUND = 3000
FISCAL_YEAR_DOES_NOT_EXIST = 3001
ACCOUNT_NOT_FOUND = 3002
CONFLICT = 4000
NOT_AUTHORIZED = 4005
TOO_MANY_REQUESTS = 4010
CANNOT_BOOKKEEP = 4013
INVALID_VAT_NUMBER = 4025
VOUCHER_DATE_IN_LOCKED_PERIOD = 4026
VOUCHER_DATE_IN_LOCKED_YEAR = 4038
EXTERNAL_SERVICE_VALIDATION = 4100
INTERNAL_SERVER_ERROR = 5000
CANT_REACH_SYSTEM_DEPENDENCY = 5001
QUERY_PARAMETER_ERROR = 6000


@dataclass(frozen=True)
class FieldError:
    """One entry of ``Errors[]``: which field, and why."""

    field: str
    message: str
    key: str = "Invalid"
    code: str = str(VALIDATION)

    def as_json(self) -> dict[str, str]:
        return {
            "Field": self.field,
            "ErrorCode": self.code,
            "Message": self.message,
            "Key": self.key,
        }


@dataclass
class VismaApiError(Exception):
    """A refusal, with the HTTP status and Visma ``ErrorCode`` it is answered with."""

    error_code: int
    message: str
    status: int = 400
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"

    def body(self) -> dict[str, Any]:
        return error_body(self.error_code, self.message, self.errors)

    def body_as_map(self) -> dict[str, Any]:
        """The other shape some Visma answers take: field errors as ``ErrorMessages``,
        ``{field: [message, …]}`` (the mode ``error_shape: ErrorMessages``)."""
        body: dict[str, Any] = {
            "ErrorCode": self.error_code,
            "DeveloperErrorMessage": self.message,
            "ErrorId": str(uuid.uuid4()),
        }
        if self.errors:
            messages: dict[str, list[str]] = {}
            for error in self.errors:
                messages.setdefault(error.field, []).append(error.message)
            body["ErrorMessages"] = messages
        return body


def error_body(
    error_code: int, message: str, errors: list[FieldError] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ErrorCode": error_code,
        "DeveloperErrorMessage": message,
        "ErrorId": str(uuid.uuid4()),
    }
    if errors:
        body["Errors"] = [e.as_json() for e in errors]
    return body


def validation_error(field_name: str, message: str, key: str = "Invalid") -> VismaApiError:
    return VismaApiError(VALIDATION, message, errors=[FieldError(field_name, message, key)])


def not_found(field_name: str, message: str) -> VismaApiError:
    """ErrorCode 3000 for a referenced id that does not exist (HTTP 400, the id is in a body)."""
    return VismaApiError(
        RESOURCE_NOT_FOUND,
        message,
        errors=[FieldError(field_name, message, "NotFound", str(RESOURCE_NOT_FOUND))],
    )
