"""Helpers the translation tests share (no tests here): documents as Teamleader sends them,
the default connection's posting map, and the Visma simulator's own posting rule.

Documents are built with the Teamleader simulator's functions (``line_item`` → ``line_totals``,
``document_totals``), so their totals are exactly the ones Teamleader would send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clients.teamleader.models import CreditNote, Invoice, TaxRate
from clients.visma.client import to_body
from clients.visma.models import CustomerLedgerItemWithVoucher, VoucherRow
from sandbox.teamleader.documents import document_totals
from sandbox.teamleader.objects import line_item, money, ref, taxes_json
from sandbox.visma.company import (
    CHART_OF_ACCOUNTS,
    DEFAULT_COMPANY_ID,
    RECEIVABLES_ACCOUNT,
    default_company,
    terms_of_payment_id,
    vat_code_id,
)
from sandbox.visma.dataset import parse_visma
from sandbox.visma.posting_rules import Posting, check_posting
from sandbox.visma.schemas import LedgerItemWithVoucherIn
from sandbox.visma.state import Company, company_from_data
from tests.conftest import TODAY  # the simulated company has fiscal years 2025 and 2026
from translation.posting_map import PostingMap, VatMapping

DEPARTMENT_ID = "dep-nl"
CUSTOMER_ID = "0b6f3c55-2d1e-4c7a-9f0e-5a8b7c6d5e4f"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rate:
    """A Teamleader tax rate of the Dutch department and what it maps to in Visma."""

    id: str
    description: str
    rate: Decimal
    vat_code: str
    vat_account: int | None
    revenue_account: int


RATES: dict[str, Rate] = {
    r.id: r
    for r in (
        Rate("tr-21", "21%", Decimal("0.21"), "1a", 1510, 8000),
        Rate("tr-9", "9%", Decimal("0.09"), "1b", 1520, 8010),
        Rate("tr-0", "0%", Decimal("0"), "1e", None, 8020),
        Rate("tr-0-verlegd", "0% verlegd", Decimal("0"), "2a", None, 8030),
        Rate("tr-0-icl", "0% ICL", Decimal("0"), "3b", None, 8040),
    )
}

# Teamleader product categories: three with a ledger for the department, one without.
CATEGORIES: dict[str, tuple[str, int | None]] = {
    "cat-consultancy": ("Consultancy", 8100),
    "cat-licenties": ("Licenties", 8200),
    "cat-opleidingen": ("Opleidingen", 8300),
    "cat-hardware": ("Hardware", None),
}


def posting_map(**overrides: Any) -> PostingMap:
    values: dict[str, Any] = {
        "department_id": DEPARTMENT_ID,
        "vat": {
            r.id: VatMapping(
                tax_rate_id=r.id,
                rate=r.rate,
                description=r.description,
                vat_code_id=vat_code_id(r.vat_code),
                vat_account=r.vat_account,
                revenue_account=r.revenue_account,
            )
            for r in RATES.values()
        },
        "category_accounts": {k: a for k, (_, a) in CATEGORIES.items() if a is not None},
        "category_names": {k: name for k, (name, _) in CATEGORIES.items()},
        "receivables_account": RECEIVABLES_ACCOUNT,
        "visma_accounts": frozenset(number for number, _, _ in CHART_OF_ACCOUNTS),
        "company_currency": "EUR",
        "tax_rates": {
            r.id: TaxRate(id=r.id, description=r.description, rate=r.rate) for r in RATES.values()
        },
    }
    values.update(overrides)
    return PostingMap(**values)


def company() -> Company:
    """The simulator's default Dutch company with one customer, built without HTTP."""
    part = default_company(TODAY)
    part["customers"] = [
        {
            "Id": CUSTOMER_ID,
            "Name": "Acme B.V.",
            "InvoicePostalCode": "1011 AB",
            "InvoiceCity": "Amsterdam",
            "IsPrivatePerson": False,
            "IsActive": True,
            "TermsOfPaymentId": terms_of_payment_id("30"),
        }
    ]
    return company_from_data(DEFAULT_COMPANY_ID, parse_visma(part, TODAY))


def check(visma: Company, posting: CustomerLedgerItemWithVoucher) -> Posting:
    """The simulator's rule on the body the Visma client would send (schema included)."""
    body = LedgerItemWithVoucherIn.model_validate(to_body(posting))
    return check_posting(visma, body, TODAY)


def line(
    description: str,
    quantity: str | Decimal,
    unit_price: str | Decimal,
    tax_rate_id: str = "tr-21",
    *,
    discount: str | Decimal | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """A compact line, the form the Teamleader simulator's ``line_item`` takes."""
    return {
        "description": description,
        "quantity": Decimal(quantity),
        "unit_price": Decimal(unit_price),
        "tax_rate_id": tax_rate_id,
        "discount_percentage": Decimal(discount) if discount is not None else None,
        "product_category_id": category,
    }


def document(
    lines: Sequence[Mapping[str, Any]],
    *,
    credit_note: bool = False,
    discounts: Sequence[Decimal | str] = (),
    currency: str = "EUR",
    exchange_rate: Decimal | str | None = None,
    number: str = "2026 / 17",
    on: date = date(2026, 3, 1),
    invoicee: str | None = "Acme B.V.",
    payment_reference: str | None = None,
    rates: Mapping[str, Rate] = RATES,
) -> dict[str, Any]:
    """An ``invoices.info`` / ``creditNotes.info`` body, totals as Teamleader computes them."""
    items, inputs = [], []
    for compact in lines:
        rate = rates[compact["tax_rate_id"]].rate
        item, computation = line_item(compact, rate, currency, credit_note=credit_note)
        items.append(item)
        inputs.append(computation)
    percentages = [Decimal(d) for d in discounts]
    totals = document_totals(inputs, percentages)
    total: dict[str, Any] = {
        "tax_exclusive": money(totals.tax_exclusive, currency),
        "tax_inclusive": money(totals.tax_inclusive, currency),
        "payable": money(totals.payable, currency),
        "taxes": taxes_json(totals, currency),
    }
    body: dict[str, Any] = {
        "id": "doc-1",
        "department": ref("department", DEPARTMENT_ID),
        "invoicee": {"name": invoicee, "customer": ref("company", "tl-customer-1")},
        "discounts": [{"type": "percentage", "value": d} for d in percentages],
        "grouped_lines": [{"section": {"title": ""}, "line_items": items}],
        "total": total,
        "currency": currency,
        "currency_exchange_rate": {
            "from": currency,
            "to": "EUR",
            "rate": Decimal(exchange_rate) if exchange_rate is not None else Decimal(1),
        },
    }
    if credit_note:
        body |= {
            "credit_note_number": number,
            "credit_note_date": on.isoformat(),
            "status": "booked",
            "invoice": ref("invoice", "inv-1"),
        }
    else:
        total["due"] = money(totals.payable, currency)
        body |= {
            "invoice_number": number,
            "invoice_date": on.isoformat(),
            "status": "outstanding",
            "due_on": (on + timedelta(days=30)).isoformat(),
            "payment_reference": payment_reference,
        }
    return body


def invoice(lines: Sequence[Mapping[str, Any]], **options: Any) -> Invoice:
    return Invoice.model_validate(document(lines, **options))


def credit_note(lines: Sequence[Mapping[str, Any]], **options: Any) -> CreditNote:
    return CreditNote.model_validate(document(lines, credit_note=True, **options))


def net(rows: Sequence[VoucherRow], accounts: set[int] | int) -> Decimal:
    """Credit − debit on ``accounts`` (the side revenue and VAT sit on in an invoice)."""
    wanted = {accounts} if isinstance(accounts, int) else accounts
    return sum(
        (
            (r.CreditAmount or Decimal(0)) - (r.DebitAmount or Decimal(0))
            for r in rows
            if r.AccountNumber in wanted
        ),
        Decimal(0),
    )


def round2(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
