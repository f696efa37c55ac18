"""A list item that does not fit its model: what a stream records instead of stopping.

Real APIs return odd records (an invoice dated 2026-02-30, a number where text belongs).
One such item must not stop the stream it is in (docs/architecture.md#failures-are-data):
the client hands it over as a :class:`Malformed` naming the document and the fields, and
the rest of the page goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

#: Characters of one string kept in the recorded raw item: a 10 MB string is clipped, so a
#: failure row stays readable (and storable) while still showing what the value began with.
RAW_TEXT_MAX = 2000
#: Fields named in a reason at most (a record wrong everywhere is one line, not a page).
FIELDS_MAX = 8


@dataclass(frozen=True)
class Malformed:
    """One list item that could not be read."""

    #: Its ``id`` when it has a usable one, else None.
    document_id: str | None
    #: The fields that do not fit, as dotted paths ("invoice_date", "total.payable.amount").
    fields: tuple[str, ...]
    #: One sentence: which fields and why.
    reason: str
    #: The item as Teamleader sent it, long strings clipped (:data:`RAW_TEXT_MAX`).
    raw: Any
    #: Its ``updated_at`` when readable (so the cursor can move past it), else None.
    updated_at: datetime | None


def malformed(item: Any, error: ValidationError) -> Malformed:
    """The :class:`Malformed` of ``item`` that failed validation with ``error``."""
    document_id = _text_of(item, "id")
    problems: list[tuple[str, str]] = []
    for detail in error.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in detail["loc"]) or "(the item)"
        problems.append((path, str(detail["msg"])))
    fields = tuple(dict.fromkeys(path for path, _ in problems))
    shown = "; ".join(f"{path}: {msg}" for path, msg in problems[:FIELDS_MAX])
    more = f" (and {len(problems) - FIELDS_MAX} more)" if len(problems) > FIELDS_MAX else ""
    return Malformed(
        document_id=document_id,
        fields=fields,
        reason=f"{shown}{more}",
        raw=clip(item),
        updated_at=_timestamp(_text_of(item, "updated_at")),
    )


def clip(value: Any) -> Any:
    """``value`` with every string longer than :data:`RAW_TEXT_MAX` cut and marked, and
    numbers (decoded as ``Decimal``, exactly as written) as their text, so it stores as JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        if len(value) <= RAW_TEXT_MAX:
            return value
        return value[:RAW_TEXT_MAX] + f"… ({len(value)} characters in all)"
    if isinstance(value, dict):
        return {clip(k): clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v) for v in value]
    return value


def _text_of(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    # An id of 10 MB or with NUL bytes names nothing a person could look up.
    if isinstance(value, str) and 0 < len(value) <= 100 and "\x00" not in value:
        return value
    return None


def _timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
