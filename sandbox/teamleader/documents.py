"""Invoice and credit-note totals, as pure functions over ``Decimal`` (no I/O, no state).

The rules (amounts in the document's currency, rounded half-up to cents):

* line ``tax_exclusive = round2(quantity × unit_price × (1 − discount / 100))``
* line ``tax_inclusive = round2(tax_exclusive × (1 + rate))``
* per tax *rate*: ``taxable = Σ line tax_exclusive``, then each document-level commercial
  discount (a percentage, in the order given) ``taxable = round2(taxable × (1 − d / 100))``,
  and ``tax = round2(taxable × rate)``
* document ``tax_exclusive = Σ taxable``, ``tax_inclusive = tax_exclusive + Σ tax``,
  ``payable = tax_inclusive`` (no withholding tax), ``due = payable − Σ payments``.

So Σ line ``tax_inclusive`` may differ from the document's ``tax_inclusive`` by a few cents:
that is deliberate, Koppel must post Teamleader's per-rate totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def round2(value: Decimal) -> Decimal:
    """Round half-up to cents (``Decimal`` only; floats never get here)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal  # net (Teamleader's unit prices are always tax-excluding)
    rate: Decimal  # a fraction: 0.21 for 21 %
    discount_percentage: Decimal = ZERO


@dataclass(frozen=True)
class LineTotals:
    tax_exclusive: Decimal
    tax_exclusive_before_discount: Decimal
    tax_inclusive: Decimal
    tax_inclusive_before_discount: Decimal


@dataclass(frozen=True)
class RateTotal:
    rate: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class DocumentTotals:
    tax_exclusive: Decimal
    tax_exclusive_before_discount: Decimal
    tax_inclusive: Decimal
    tax_inclusive_before_discount: Decimal
    taxes: tuple[RateTotal, ...]
    payable: Decimal


def line_totals(line: LineInput) -> LineTotals:
    gross = line.quantity * line.unit_price
    exclusive = round2(gross * (1 - line.discount_percentage / HUNDRED))
    before = round2(gross)
    return LineTotals(
        tax_exclusive=exclusive,
        tax_exclusive_before_discount=before,
        tax_inclusive=round2(exclusive * (1 + line.rate)),
        tax_inclusive_before_discount=round2(before * (1 + line.rate)),
    )


def _per_rate(
    pairs: Iterable[tuple[Decimal, Decimal]], discounts: Sequence[Decimal] = ()
) -> tuple[RateTotal, ...]:
    taxable: dict[Decimal, Decimal] = {}
    for rate, amount in pairs:
        key = rate.normalize()
        taxable[key] = taxable.get(key, ZERO) + amount
    for percentage in discounts:
        taxable = {k: round2(v * (1 - percentage / HUNDRED)) for k, v in taxable.items()}
    # Highest rate first, as Teamleader's documents print them.
    return tuple(
        RateTotal(rate=rate, taxable=amount, tax=round2(amount * rate))
        for rate, amount in sorted(taxable.items(), key=lambda item: -item[0])
    )


def document_totals(
    lines: Sequence[LineInput], discounts: Sequence[Decimal] = ()
) -> DocumentTotals:
    """``discounts``: the document's commercial discounts, percentages (10 for 10 %).

    The ``*_before_discount`` totals are before line and document discounts alike."""
    per_line = [line_totals(line) for line in lines]
    taxes = _per_rate(
        ((ln.rate, t.tax_exclusive) for ln, t in zip(lines, per_line, strict=True)), discounts
    )
    before = _per_rate(
        (ln.rate, t.tax_exclusive_before_discount) for ln, t in zip(lines, per_line, strict=True)
    )
    exclusive = sum((t.taxable for t in taxes), ZERO)
    inclusive = exclusive + sum((t.tax for t in taxes), ZERO)
    exclusive_before = sum((t.taxable for t in before), ZERO)
    inclusive_before = exclusive_before + sum((t.tax for t in before), ZERO)
    return DocumentTotals(
        tax_exclusive=exclusive,
        tax_exclusive_before_discount=exclusive_before,
        tax_inclusive=inclusive,
        tax_inclusive_before_discount=inclusive_before,
        taxes=taxes,
        payable=inclusive,
    )


def amount_due(payable: Decimal, payments: Iterable[Decimal]) -> Decimal:
    return payable - sum(payments, ZERO)
