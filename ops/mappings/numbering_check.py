"""What ``koppel mappings check`` says about numbers and currencies, from the account's
real documents (issue 13, points 2 and 4): none of it stops a document, but a bookkeeper
should know before the first sync.

* Documents whose Teamleader number the rules cannot represent (a fiscal-year name like
  "FY2026", a renumbered "2018 / 17000056"): Koppel's sequence numbers them in Visma.
* Invoice sequences the credit-note rule also produces (``{year}{number:05d}`` of
  "2026 / 90001" is ``{year}9{number:04d}`` of credit note "2026 / 1"): predicted
  collisions, which Koppel's sequence avoids.
* Foreign-currency documents: the exchange-rate reading in force, with one conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clients.teamleader.models import CreditNote, Invoice
from contracts.statuses import BOOKED_INVOICE_STATUSES
from store.api_clients import ApiClients
from store.connections import Connection
from translation.numbers import in_image, koppel_numbers, rule_number

#: Example documents named per note at most.
EXAMPLES = 3

READINGS = {
    "labels": "amount in `to` = amount in `from` ÷ rate, whichever side is the company's "
    "currency (the labels say which side is which)",
    "flipped": "amount in `to` = amount in `from` × rate (flipped with `koppel mappings set "
    "--exchange-rate-reading flipped`)",
}


@dataclass(frozen=True)
class Note:
    what: str
    detail: str


def _examples(numbers: Sequence[str]) -> str:
    shown = ", ".join(numbers[:EXAMPLES])
    return shown + (f" and {len(numbers) - EXAMPLES} more" if len(numbers) > EXAMPLES else "")


def notes(
    connection: Connection,
    invoices: Iterable[Invoice],
    credit_notes: Iterable[CreditNote],
    company_currency: str,
) -> list[Note]:
    """The notes for these documents of the connection (pure: tested on plain data)."""
    invoice_rule = connection.invoice_number_rule
    credit_rule = connection.credit_note_number_rule
    invoices = [i for i in invoices if i.invoice_number]
    credit_notes = [c for c in credit_notes if c.credit_note_number]
    unrepresentable: list[str] = []
    colliding: list[str] = []
    for invoice in invoices:
        number = invoice.invoice_number or ""
        if not koppel_numbers("invoice", number, invoice_rule, credit_rule):
            continue
        own = rule_number(number, invoice_rule)
        if own is not None and in_image(own, credit_rule):
            colliding.append(f"invoice {number} ({own})")
        else:
            unrepresentable.append(f"invoice {number}")
    for note in credit_notes:
        number = note.credit_note_number or ""
        if koppel_numbers("credit_note", number, invoice_rule, credit_rule):
            unrepresentable.append(f"credit note {number}")
    found: list[Note] = []
    if colliding:
        found.append(
            Note(
                f"{len(colliding)} invoice numbers in the credit-note rule's range",
                f"the invoice number rule {invoice_rule} gives {_examples(colliding)} a "
                f"number the credit-note rule {credit_rule} gives credit notes too (invoice "
                "sequences from 90000 on); Koppel numbers these invoices from its own "
                "sequence (10 digits), Teamleader's number stays in the voucher text.",
            )
        )
    if unrepresentable:
        found.append(
            Note(
                f"{len(unrepresentable)} numbers the rules cannot represent",
                f"{_examples(unrepresentable)}: a fiscal-year name that is not a year, or a "
                "sequence longer than the rule's digits; Koppel numbers them from its own "
                "sequence (10 digits), Teamleader's number stays in the voucher text.",
            )
        )
    documents: list[Invoice | CreditNote] = [*invoices, *credit_notes]
    # The list shape may leave ``currency`` out; its totals name it.
    foreign = [
        d
        for d in documents
        if (d.currency or d.total.payable.currency or company_currency).upper()
        != company_currency.upper()
    ]
    if foreign:
        first = foreign[0]
        exchange = first.currency_exchange_rate
        label = (
            f"{exchange.from_}→{exchange.to} {exchange.rate}"
            if exchange is not None
            else "no exchange rate"
        )
        shown = (
            first.invoice_number
            if isinstance(first, Invoice)
            else (first.credit_note_number if isinstance(first, CreditNote) else None)
        )
        found.append(
            Note(
                f"{len(foreign)} foreign-currency documents",
                f"exchange rate reading in force: {connection.exchange_rate_reading} — "
                f"{READINGS.get(connection.exchange_rate_reading, '?')}. Check the first one "
                f"({shown}, {label}) in `koppel backfill --dry-run` or `koppel history`.",
            )
        )
    return found


def check_numbering(connection: Connection, api: ApiClients, company_currency: str) -> list[Note]:
    """:func:`notes` for the department's documents dated from the connection's start
    (an item that does not fit is left out here: the poller records it)."""
    department = connection.teamleader_department_id
    invoices = api.teamleader.invoices(
        status=BOOKED_INVOICE_STATUSES,
        department_id=department,
        invoice_date_after=connection.sync_from,
        on_malformed=lambda _: None,
    )
    credit_notes = api.teamleader.credit_notes(
        department_id=department,
        credit_note_date_after=connection.sync_from,
        on_malformed=lambda _: None,
    )
    return notes(connection, list(invoices), list(credit_notes), company_currency)
