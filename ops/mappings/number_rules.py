"""The rules that turn Teamleader's ``2026 / 17`` into Visma's integer invoice number: an
example of a rule, and why a pair of rules would not give every document its own number."""

from __future__ import annotations

from config import clock as calendar
from translation.errors import TranslationError
from translation.numbers import visma_invoice_number

#: Teamleader sequences every number rule must number without a collision: the first, a
#: typical one, and the 9,999th document of a year (a rule too narrow for that is refused).
SAMPLE_SEQUENCES = (1, 17, 9999)
#: The sequence in the examples ``show`` prints (``2026 / 17 → 202600017``).
EXAMPLE_SEQUENCE = 17


def number_example(rule: str, year: int | None = None) -> str:
    """``2026 / 17 → 202600017`` under ``rule``, or why the rule cannot number it."""
    teamleader_number = f"{year or calendar.today().year} / {EXAMPLE_SEQUENCE}"
    try:
        return f"{teamleader_number} → {visma_invoice_number(teamleader_number, rule)}"
    except TranslationError as error:
        return f"{teamleader_number} → cannot be numbered: {error.reason}"


def number_rule_problems(invoice_rule: str, credit_note_rule: str) -> list[str]:
    """Why the rules would not give every document its own Visma number (empty: fine).

    Each rule must number a sample of this year's and last year's sequences, give no two
    of them the same number, and share no number with the other rule (an invoice and a
    credit note must never meet in Visma's one invoice-number series)."""
    this_year = calendar.today().year
    samples = [f"{year} / {seq}" for year in (this_year - 1, this_year) for seq in SAMPLE_SEQUENCES]
    problems: list[str] = []
    made: dict[str, dict[int, str]] = {}
    for label, rule in (("invoice", invoice_rule), ("credit-note", credit_note_rule)):
        numbers: dict[int, str] = {}
        for sample in samples:
            try:
                number = visma_invoice_number(sample, rule)
            except TranslationError as error:
                problems.append(f"The {label} number rule {rule!r} is refused: {error.reason}")
                break
            if number in numbers:
                problems.append(
                    f"The {label} number rule {rule!r} gives {numbers[number]} and {sample} "
                    f"the same Visma number {number}; use both {{year}} and {{number}}."
                )
                break
            numbers[number] = sample
        made[label] = numbers
    if not problems:
        shared = sorted(set(made["invoice"]) & set(made["credit-note"]))
        if shared:
            number = shared[0]
            problems.append(
                f"The invoice number rule {invoice_rule!r} and the credit-note number rule "
                f"{credit_note_rule!r} both give {number} (invoice {made['invoice'][number]}, "
                f"credit note {made['credit-note'][number]}); make them differ, e.g. "
                "'{year}{number:05d}' and '{year}9{number:04d}'."
            )
    return problems
