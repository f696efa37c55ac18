"""Reading both books for a reconciliation (``ops/reconcile/compare.py`` compares them).

Cost, in API calls (bench/reconcile.py measures it): Teamleader one ``invoices.list`` call
per 100 booked invoices of the period and one ``creditNotes.list`` call per 100 credit
notes (100 is the largest page; the list items carry every total, tax and paid amount that
is compared), plus one ``.info`` per posted document that no longer appears (to tell a
deletion, 404, from a change of date or status); Visma one call per 1,000 ledger items,
vouchers and customers, plus the VAT codes and the company settings. Nothing is written.

Not compared: revenue per ledger account. The lists have no lines (only ``.info`` does, one
call a document: 25 minutes of Teamleader's budget for 5,000 documents), so the voucher's
revenue is compared per VAT rate with ``total.taxes[].taxable`` instead; an account mapped
wrongly shows in ``koppel mappings check``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from clients.errors import NotFound
from clients.teamleader.models import CreditNote, Invoice
from clients.visma.client import odata_datetime
from clients.visma.models import Customer, CustomerLedgerItem, Voucher
from ops.reconcile.compare import (
    Books,
    Posted,
    TeamleaderDocument,
    VismaCustomer,
    VismaItem,
)
from producers.poller import BOOKED_INVOICE_STATUSES
from store import reconcile_runs
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool
from translation.customers import REFERENCE_FIELD

#: Teamleader's list page (docs/api-facts.md, Teamleader §2) and Visma's largest one.
TEAMLEADER_PAGE = 100
VISMA_PAGE = 1000


@dataclass(frozen=True)
class _VismaSide:
    items: list[VismaItem]
    customers: list[VismaCustomer]
    revenue: dict[str, dict[Decimal, Decimal]]
    currency: str | None
    calls: int


@dataclass(frozen=True)
class Read:
    books: Books
    teamleader_calls: int
    visma_calls: int


def _pages(count: int, size: int) -> int:
    """List calls for ``count`` items: pages until a short one (an exact multiple needs one
    more, empty, page)."""
    return count // size + 1 if size else 0


def teamleader_document(document: Invoice | CreditNote) -> TeamleaderDocument:
    total = document.total
    payable = total.payable.amount
    if isinstance(document, Invoice):
        kind, number, day = "invoice", document.invoice_number, document.invoice_date
        due = total.due.amount if total.due is not None else payable
        paid = payable - due
        credits = None
    else:
        kind, number, day = "credit_note", document.credit_note_number, document.credit_note_date
        paid = Decimal(0)
        credits = document.invoice.id if document.invoice is not None else None
    return TeamleaderDocument(
        kind=kind,
        id=document.id,
        number=number or document.id,
        day=day,
        currency=(document.currency or total.payable.currency or "?").upper(),
        payable=payable,
        vat=sum((t.tax.amount for t in total.taxes), Decimal(0)),
        paid=paid,
        updated_at=document.updated_at,
        customer=(document.invoicee.customer.type or "company", document.invoicee.customer.id),
        credits=credits,
        taxable=tuple((t.rate, t.taxable.amount) for t in total.taxes),
    )


def visma_item(item: CustomerLedgerItem) -> VismaItem:
    return VismaItem(
        id=(item.Id or "").lower(),
        number=item.InvoiceNumber,
        customer_id=item.CustomerId.lower(),
        day=item.InvoiceDate,
        currency=item.CurrencyCode,
        total=item.TotalAmountInvoiceCurrency,
        vat=item.VATAmountInvoiceCurrency or Decimal(0),
        remaining=item.RemainingAmountInvoiceCurrency,
        voucher_id=item.VoucherId.lower() if item.VoucherId else None,
    )


def revenue_per_rate(voucher: Voucher, rates: dict[str, Decimal]) -> dict[Decimal, Decimal]:
    """VAT rate (a fraction) → credit − debit of the voucher's rows with a VAT code of it."""
    out: dict[Decimal, Decimal] = {}
    for row in voucher.Rows:
        if not row.VatCodeId or row.VatCodeId.lower() not in rates:
            continue
        rate = rates[row.VatCodeId.lower()]
        out[rate] = out.get(rate, Decimal(0)) + (row.CreditAmount or 0) - (row.DebitAmount or 0)
    return out


def visma_customer(customer: Customer) -> VismaCustomer:
    reference = (customer.model_extra or {}).get(REFERENCE_FIELD)
    return VismaCustomer(
        id=(customer.Id or "").lower(),
        name=customer.Name,
        vat_number=customer.VatNumber,
        reference=reference if isinstance(reference, str) and reference else None,
    )


def read_books(pool: Pool, connection: Connection, api: ApiClients, start: date, end: date) -> Read:
    """Both books of ``start``…``end`` (inclusive) and Koppel's links."""
    department = connection.teamleader_department_id
    first = datetime.combine(start, time.min, tzinfo=UTC)
    last = datetime.combine(end, time.min, tzinfo=UTC)

    def read_invoices() -> list[Invoice]:
        return list(
            api.teamleader.invoices(
                status=BOOKED_INVOICE_STATUSES,
                department_id=department,
                invoice_date_after=start,
                invoice_date_before=end,
            )
        )

    def read_notes() -> list[CreditNote]:
        # creditNotes.list's upper bound is exclusive.
        return list(
            api.teamleader.credit_notes(
                department_id=department,
                credit_note_date_after=start,
                credit_note_date_before=end + timedelta(days=1),
            )
        )

    def read_visma() -> _VismaSide:
        items = [
            visma_item(i)
            for i in api.visma.ledger_items(
                f"InvoiceDate ge {odata_datetime(first)} and InvoiceDate le {odata_datetime(last)}"
            )
        ]
        customers = [visma_customer(c) for c in api.visma.customers()]
        # The vouchers of the period (a posting's voucher is dated like its ledger item),
        # their VAT codes' rates and the company currency: revenue per rate, row by row.
        rates = {c.Id.lower(): c.VatRate / 100 for c in api.visma.vat_codes()}
        vouchers = list(
            api.visma.vouchers(
                f"VoucherDate ge {odata_datetime(first)} and VoucherDate le {odata_datetime(last)}"
            )
        )
        currency = api.visma.company_settings().CurrencyCode
        calls = sum(max(1, math.ceil(n / VISMA_PAGE)) for n in (len(items), len(customers)))
        return _VismaSide(
            items=items,
            customers=customers,
            revenue={(v.Id or "").lower(): revenue_per_rate(v, rates) for v in vouchers},
            currency=currency,
            calls=calls + max(1, math.ceil(len(vouchers) / VISMA_PAGE)) + 2,
        )

    # The three reads at once: each client paces itself (the same limiters as the polls),
    # and one side's answers are parsed while the other's server works: 5,250 documents in
    # 9.5 s instead of 18.9 s one after the other (bench/RESULTS.md, "Reconcile").
    with ThreadPoolExecutor(3, thread_name_prefix="reconcile-read") as executor:
        invoices_read = executor.submit(read_invoices)
        notes_read = executor.submit(read_notes)
        visma = executor.submit(read_visma).result()
        invoices = invoices_read.result()
        notes_listed = notes_read.result()
    notes = [n for n in notes_listed if n.status != "draft"]
    teamleader_calls = _pages(len(invoices), TEAMLEADER_PAGE) + _pages(
        len(notes_listed), TEAMLEADER_PAGE
    )
    items, customers = visma.items, visma.customers
    visma_calls = visma.calls

    rows = reconcile_runs.document_links(pool, connection.id)
    posted = [
        Posted(
            teamleader_type=r.teamleader_type,
            teamleader_id=r.teamleader_id,
            visma_id=r.visma_id.lower(),
            visma_number=int(r.visma_number)
            if r.visma_number and r.visma_number.isdigit()
            else None,
            posted_at=r.created_at,
        )
        for r in rows
        if r.visma_type == "ledger_item"
    ]
    customer_links = {
        r.visma_id.lower(): (r.teamleader_type, r.teamleader_id)
        for r in rows
        if r.visma_type == "customer"
    }
    listed = {d.id for d in invoices} | {n.id for n in notes}
    in_period = {i.id for i in items}
    deleted: set[str] = set()
    for link in posted:
        if link.teamleader_id in listed or link.visma_id not in in_period:
            continue
        teamleader_calls += 1
        try:
            if link.teamleader_type == "invoice":
                api.teamleader.invoice(link.teamleader_id)
            else:
                api.teamleader.credit_note(link.teamleader_id)
        except NotFound:
            deleted.add(link.teamleader_id)
    documents = [teamleader_document(i) for i in invoices] + [teamleader_document(n) for n in notes]
    books = Books(
        start=start,
        end=end,
        documents=documents,
        items=items,
        posted=posted,
        customers=customers,
        customer_links=customer_links,
        deleted=frozenset(deleted),
        invoices_posted=frozenset(
            p.teamleader_id for p in posted if p.teamleader_type == "invoice"
        ),
        revenue_by_voucher=visma.revenue,
        company_currency=visma.currency,
        invoice_number_rule=connection.invoice_number_rule,
        credit_note_number_rule=connection.credit_note_number_rule,
    )
    return Read(books, teamleader_calls, visma_calls)
