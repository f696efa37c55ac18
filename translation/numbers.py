"""Teamleader's ``"2026 / 17"`` → Visma's integer ``InvoiceNumber`` (int32), by a rule."""

from __future__ import annotations

import re
import string

from translation.errors import UnsupportedDocument

INT32_MAX = 2**31 - 1

# Year, slash, sequence; Teamleader writes spaces around the slash, but tolerate none.
_NUMBER = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,9})\s*$")
# The width of a format spec: [[fill]align][sign][z][#][0][width]... (Python's mini-language).
_WIDTH = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(\d+)")
_DIGITS = re.compile(r"^[0-9]+$")


def parse_teamleader_number(teamleader_number: str | None) -> tuple[int, int]:
    """``"2026 / 17"`` → ``(2026, 17)``; UnsupportedDocument when it has another shape."""
    match = _NUMBER.match(teamleader_number or "")
    if not match:
        shown = (
            "no number (is it still a draft?)"
            if not teamleader_number
            else (f"the number {teamleader_number!r}")
        )
        raise UnsupportedDocument(
            f"The Teamleader document has {shown}; Koppel needs 'year / sequence' "
            "(like '2026 / 17') to derive the Visma invoice number."
        )
    return int(match.group(1)), int(match.group(2))


def visma_invoice_number(teamleader_number: str, rule: str) -> int:
    """The Visma ``InvoiceNumber`` for a Teamleader number under ``rule``.

    ``rule`` is a ``str.format`` template over ``year`` and ``number`` (ints). A field with a
    width (``{number:05d}``) is a promise: a longer value would run into the digits of the
    next field, and so collide with another document's number. That is refused, as is any
    result that is not a positive int32 (Visma's ``InvoiceNumber``)."""
    year, number = parse_teamleader_number(teamleader_number)
    values = {"year": year, "number": number}
    try:
        fields = [
            (name, spec) for _, name, spec, _ in string.Formatter().parse(rule) if name is not None
        ]
        text = rule.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise UnsupportedDocument(
            f"The invoice number rule {rule!r} cannot number Teamleader document "
            f"{teamleader_number!r} ({exc}); the rule may use only {{year}} and {{number}}. "
            "Fix the connection's number rule."
        ) from exc
    for name, spec in fields:
        width = _WIDTH.match(spec or "")
        if name in values and width and width.group(1):
            size = int(width.group(1))
            if len(format(values[name], spec or "")) > size:
                raise UnsupportedDocument(
                    f"Teamleader document {teamleader_number!r}: its {name} {values[name]} "
                    f"has more than the {size} digits the invoice number rule {rule!r} "
                    "reserves, so its Visma number would collide with another document's. "
                    "Widen the rule (Visma numbers are at most 2147483647)."
                )
    if not _DIGITS.match(text):
        raise UnsupportedDocument(
            f"The invoice number rule {rule!r} turns Teamleader document "
            f"{teamleader_number!r} into {text!r}, which is not a whole number; Visma's "
            "invoice numbers are digits only. Fix the connection's number rule."
        )
    result = int(text)
    if not 0 < result <= INT32_MAX:
        raise UnsupportedDocument(
            f"The invoice number rule {rule!r} turns Teamleader document "
            f"{teamleader_number!r} into {result}, outside Visma's invoice numbers "
            f"(1 to {INT32_MAX}). Fix the connection's number rule."
        )
    return result
