"""THE rule for a customer ledger item with voucher — the one place it is written down.

How Visma NL books the VAT part of such a voucher is not documented publicly; this is our
interpretation (docs/architecture.md#postings, ASSUMPTIONS.md "Posting rule"). In the order checked:

1. The customer exists (3000, ``CustomerId``).
2. No ledger item of the company has this ``InvoiceNumber`` (4000, ``InvoiceNumber``).
3. A currency other than the company's needs ``CurrencyRate`` > 0 (2000); in the company's
   own currency the rate is 1.
4. The voucher date (``Voucher.VoucherDate``, else ``InvoiceDate``, else today) falls in a
   fiscal year (3001) that is not locked for accounting (4013), and after the company's
   ``AccountingLockedTo`` (4026 VoucherDateIsInLockedPeriod; 4038 VoucherDateIsInLockedYear
   when the lock interval is a year).
5. The voucher has rows; each row has exactly one of ``DebitAmount``/``CreditAmount`` > 0,
   with at most 2 decimals (2000, naming the row's field).
6. Every ``AccountNumber`` exists in that fiscal year (3002, naming number and year); a row
   on an account with ``IsFirstCostCenterMandatory`` needs ``CostCenterItemId1`` (2000).
7. Every ``VatCodeId`` exists (3000, naming it).
8. The voucher balances: Σ debit = Σ credit (2000).
9. The totals have at most 2 decimals, ``IsCreditInvoice`` agrees with the sign of
   ``TotalAmountInvoiceCurrency`` (negative ⇔ credit) and ``RemainingAmountInvoiceCurrency``
   equals the total on create (2000).
10. Rows on the receivables account (1300) net (debit − credit) to
    round2(TotalAmountInvoiceCurrency × rate): an invoice debits, a credit invoice credits.
11. Rows on VAT accounts (every account a VAT code's ``RelatedAccounts`` names) net
    (credit − debit) to round2(VATAmountInvoiceCurrency × rate), with a tolerance of 0.01
    per VAT row when the rate is not 1 (each row was rounded on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.visma.company import RECEIVABLES_ACCOUNT
from sandbox.visma.errors import (
    ACCOUNT_NOT_FOUND,
    CANNOT_BOOKKEEP,
    CONFLICT,
    FISCAL_YEAR_DOES_NOT_EXIST,
    VOUCHER_DATE_IN_LOCKED_PERIOD,
    VOUCHER_DATE_IN_LOCKED_YEAR,
    FieldError,
    VismaApiError,
    not_found,
    validation_error,
)
from sandbox.visma.schemas import LedgerItemWithVoucherIn, VoucherRowIn
from sandbox.visma.state import Company

CENT = Decimal("0.01")


def round2(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Posting:
    """What the rule established, for the records that will be created."""

    customer: dict[str, Any]
    voucher_date: date
    fiscal_year_id: str
    currency_rate: Decimal


def check_posting(
    company: Company,
    item: LedgerItemWithVoucherIn,
    today: date,
    *,
    duplicates_allowed: bool = False,
) -> Posting:
    """Apply the rule above; raise :class:`VismaApiError` at the first breach.

    ``duplicates_allowed`` (the mode ``duplicate_invoice_numbers``) skips rule 2."""
    customer = company.customers.get(item.CustomerId)
    if customer is None:
        raise not_found("CustomerId", f"Customer with id {item.CustomerId} was not found.")
    taken = (li["InvoiceNumber"] == item.InvoiceNumber for li in company.ledger_items.values())
    if not duplicates_allowed and any(taken):
        raise VismaApiError(
            CONFLICT,
            f"A customer ledger item with invoice number {item.InvoiceNumber} already exists.",
            errors=[FieldError("InvoiceNumber", "Duplicate invoice number.", "Conflict", "4000")],
        )
    rate = _currency_rate(company, item)
    voucher_date = item.Voucher.VoucherDate or item.InvoiceDate or today
    year = company.fiscal_year_for(voucher_date)
    if year is None:
        raise VismaApiError(
            FISCAL_YEAR_DOES_NOT_EXIST,
            f"There is no fiscal year for the voucher date {voucher_date.isoformat()}.",
        )
    if year["IsLockedForAccounting"]:
        raise VismaApiError(
            CANNOT_BOOKKEEP,
            f"The fiscal year {year['StartDate'].year} is locked for accounting.",
        )
    _check_lock(company, voucher_date)
    rows = item.Voucher.Rows
    if not rows:
        raise validation_error("Voucher.Rows", "A voucher needs at least one row.", "Required")
    for index, row in enumerate(rows):
        _check_amounts(index, row)
    for index, row in enumerate(rows):
        if (year["Id"], row.AccountNumber) not in company.accounts:
            raise VismaApiError(
                ACCOUNT_NOT_FOUND,
                f"Account {row.AccountNumber} does not exist in fiscal year "
                f"{year['StartDate'].isoformat()}–{year['EndDate'].isoformat()}.",
                errors=[
                    FieldError(
                        f"Voucher.Rows[{index}].AccountNumber",
                        f"Account {row.AccountNumber} was not found.",
                        "NotFound",
                        str(ACCOUNT_NOT_FOUND),
                    )
                ],
            )
        account = company.accounts[(year["Id"], row.AccountNumber)]
        if account["IsFirstCostCenterMandatory"] and row.CostCenterItemId1 is None:
            raise validation_error(
                f"Voucher.Rows[{index}].CostCenterItemId1",
                f"Account {row.AccountNumber} requires a first cost center.",
                "Required",
            )
        if row.VatCodeId is not None and row.VatCodeId not in company.vat_codes:
            raise not_found(
                f"Voucher.Rows[{index}].VatCodeId", f"VAT code {row.VatCodeId} was not found."
            )
    debit = sum((_debit(r) for r in rows), Decimal(0))
    credit = sum((_credit(r) for r in rows), Decimal(0))
    if debit != credit:
        raise validation_error(
            "Voucher.Rows",
            f"The voucher does not balance: debit {debit} ≠ credit {credit}.",
            "Unbalanced",
        )
    _check_totals(item)
    _check_receivables(rows, item, rate)
    _check_vat(rows, item, rate, company.vat_accounts())
    return Posting(customer, voucher_date, year["Id"], rate)


#: ``AccountingLockInterval`` 3: the lock is set per year (the description's values).
LOCK_INTERVAL_YEAR = 3


def _check_lock(company: Company, voucher_date: date) -> None:
    """A voucher dated on or before ``AccountingLockedTo`` is refused (the lock is inclusive)."""
    locked_to: date | None = company.settings.get("AccountingLockedTo")
    if locked_to is None or voucher_date > locked_to:
        return
    yearly = company.settings.get("AccountingLockInterval") == LOCK_INTERVAL_YEAR
    raise VismaApiError(
        VOUCHER_DATE_IN_LOCKED_YEAR if yearly else VOUCHER_DATE_IN_LOCKED_PERIOD,
        f"The voucher date {voucher_date.isoformat()} is in a locked "
        f"{'year' if yearly else 'period'}: accounting is locked to {locked_to.isoformat()}.",
        errors=[
            FieldError(
                "Voucher.VoucherDate",
                f"Accounting is locked to {locked_to.isoformat()}.",
                "LockedPeriod",
                str(VOUCHER_DATE_IN_LOCKED_YEAR if yearly else VOUCHER_DATE_IN_LOCKED_PERIOD),
            )
        ],
    )


def _currency_rate(company: Company, item: LedgerItemWithVoucherIn) -> Decimal:
    if item.CurrencyCode.upper() == company.settings["CurrencyCode"].upper():
        return Decimal(1)
    if item.CurrencyRate is None or item.CurrencyRate <= 0:
        raise validation_error(
            "CurrencyRate",
            f"A CurrencyRate above 0 is required for currency {item.CurrencyCode}.",
            "Required",
        )
    return item.CurrencyRate


def _debit(row: VoucherRowIn) -> Decimal:
    return row.DebitAmount or Decimal(0)


def _credit(row: VoucherRowIn) -> Decimal:
    return row.CreditAmount or Decimal(0)


def _check_amounts(index: int, row: VoucherRowIn) -> None:
    where = f"Voucher.Rows[{index}]"
    for name, amount in (("DebitAmount", row.DebitAmount), ("CreditAmount", row.CreditAmount)):
        if amount is not None and amount != round2(amount):
            raise validation_error(
                f"{where}.{name}", f"{where}.{name} {amount} has more than 2 decimals."
            )
    if (_debit(row) > 0) == (_credit(row) > 0):
        raise validation_error(
            where, f"{where} needs exactly one of DebitAmount and CreditAmount above 0."
        )


def _check_totals(item: LedgerItemWithVoucherIn) -> None:
    total = item.TotalAmountInvoiceCurrency
    for name in (
        "TotalAmountInvoiceCurrency",
        "VATAmountInvoiceCurrency",
        "RemainingAmountInvoiceCurrency",
    ):
        amount = getattr(item, name)
        if amount is not None and amount != round2(amount):
            raise validation_error(name, f"{name} {amount} has more than 2 decimals.")
    if item.IsCreditInvoice != (total < 0):
        raise validation_error(
            "IsCreditInvoice",
            f"IsCreditInvoice is {item.IsCreditInvoice} but the total is {total}: a credit "
            "invoice has a negative total, an invoice a positive one.",
        )
    if item.RemainingAmountInvoiceCurrency != total:
        raise validation_error(
            "RemainingAmountInvoiceCurrency",
            "RemainingAmountInvoiceCurrency must equal TotalAmountInvoiceCurrency on create.",
        )


def _check_receivables(
    rows: list[VoucherRowIn], item: LedgerItemWithVoucherIn, rate: Decimal
) -> None:
    expected = round2(item.TotalAmountInvoiceCurrency * rate)
    booked = sum(
        (_debit(r) - _credit(r) for r in rows if r.AccountNumber == RECEIVABLES_ACCOUNT),
        Decimal(0),
    )
    if booked != expected:
        raise validation_error(
            "Voucher.Rows",
            f"The rows on receivables account {RECEIVABLES_ACCOUNT} net to {booked}; the "
            f"ledger item's total is {expected} in the company currency.",
            "ReceivablesMismatch",
        )


def _check_vat(
    rows: list[VoucherRowIn], item: LedgerItemWithVoucherIn, rate: Decimal, vat_accounts: set[int]
) -> None:
    vat_rows = [r for r in rows if r.AccountNumber in vat_accounts]
    expected = round2((item.VATAmountInvoiceCurrency or Decimal(0)) * rate)
    booked = sum((_credit(r) - _debit(r) for r in vat_rows), Decimal(0))
    tolerance = Decimal(0) if rate == 1 else CENT * max(1, len(vat_rows))
    if abs(booked - expected) > tolerance:
        raise validation_error(
            "Voucher.Rows",
            f"The rows on VAT accounts {sorted(vat_accounts)} net to a credit of {booked}; "
            f"VATAmountInvoiceCurrency is {expected} in the company currency.",
            "VatMismatch",
        )
