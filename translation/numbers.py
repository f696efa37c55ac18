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
# A zero-padded integer field's spec ("05d"): its width.
_PADDED = re.compile(r"^[+\- ]?z?#?0(\d+)d?$")


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


# -- numbers a rule cannot represent (issue 13, point 2) --------------------------------------
#: Teamleader's number: the fiscal year's *name* (free text a user may edit: "2026",
#: "FY2026", "2025-2026", "Boekjaar 26"), a slash, and the sequence.
_NAMED = re.compile(r"^\s*(.*?)\s*/\s*(\d+)\s*$", re.DOTALL)


def rule_number(teamleader_number: str, rule: str, avoid_rule: str | None = None) -> int | None:
    """The rule's Visma number for ``teamleader_number``, or None where the rule cannot
    represent it: a fiscal-year name that is not a year, a sequence longer than the
    rule's digits, a result beyond Visma's int32 — or, with ``avoid_rule``, a number that
    rule could also give (an invoice sequence ≥ 90000 under ``{year}{number:05d}`` is the
    credit-note rule ``{year}9{number:04d}``'s number of another document). Such a
    document gets a number from Koppel's sequence instead (``store/numbers.py``).

    A rule that is itself broken (unknown fields, not digits) still raises
    UnsupportedDocument: it would refuse every document, and must be fixed."""
    if not _NUMBER.match(teamleader_number or ""):
        _check_rule(rule, teamleader_number)
        return None
    try:
        number = visma_invoice_number(teamleader_number, rule)
    except UnsupportedDocument:
        _check_rule(rule, teamleader_number)
        return None
    if avoid_rule is not None and in_image(number, avoid_rule):
        return None
    return number


def _check_rule(rule: str, teamleader_number: str) -> None:
    """Raise when ``rule`` refuses even an ordinary number (so the rule is at fault)."""
    try:
        visma_invoice_number("2026 / 1", rule)
    except UnsupportedDocument as exc:
        raise UnsupportedDocument(
            f"Teamleader document {teamleader_number!r}: {exc.reason}"
        ) from exc


def image_pattern(rule: str) -> re.Pattern[str]:
    """A regular expression matching every number ``rule`` can give (as digits)."""
    parts: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(rule):
        parts.append(re.escape(literal))
        if name is None:
            continue
        most = 4 if name == "year" else 9  # what parse_teamleader_number accepts
        padded = _PADDED.match(spec or "")
        if padded:
            size = int(padded.group(1))
            # Zero-padded: exactly its width (visma_invoice_number refuses a wider value).
            parts.append(rf"\d{{{size}}}")
        else:
            parts.append(rf"\d{{1,{most}}}")
    return re.compile("".join(parts))


def in_image(number: int, rule: str) -> bool:
    """Could ``rule`` give ``number`` for some Teamleader number?"""
    return image_pattern(rule).fullmatch(str(number)) is not None


def fiscal_year_name(teamleader_number: str) -> str | None:
    """The fiscal-year name of a Teamleader number ("FY2026" of "FY2026 / 3")."""
    match = _NAMED.match(teamleader_number or "")
    return match.group(1) if match else None


def koppel_numbers(
    document_type: str, number: str | None, invoice_rule: str, credit_rule: str
) -> bool:
    """Whether Koppel's sequence numbers the document in Visma (not the rule): its number
    is not the rule's to represent, or, for an invoice, the credit-note rule could give
    the same number to another document. False for no number at all (a draft: the
    translation refuses it by name)."""
    if number is None or fiscal_year_name(number) is None:
        return False
    if document_type == "invoice":
        return rule_number(number, invoice_rule, avoid_rule=credit_rule) is None
    return rule_number(number, credit_rule) is None


def free_for_koppel(number: int, invoice_rule: str, credit_rule: str) -> bool:
    """A number neither rule can give: one Koppel's sequence may allocate."""
    return not in_image(number, invoice_rule) and not in_image(number, credit_rule)
