"""Posting the reversing credit of a document deleted in Teamleader, exactly once, when
the connection says ``on_teamleader_delete = reverse`` (docs/architecture.md#deletions).

Teamleader no longer has the document, so the credit is made from what Visma holds: the
ledger item Koppel posted and its voucher (``translation/reversal.py``). It is written
under its own key (``contracts.keys.reversal``) with the reversal number as the reference
to look up after an ambiguous attempt.
"""

from __future__ import annotations

from config import clock as calendar
from consumers.base import Job, Outcome
from contracts import keys
from contracts.outcome_names import OutcomeName
from store import document_history
from store.links import Link
from store.writes import document_lock, write_once
from translation.errors import UnsupportedDocument
from translation.reversal import reversing_posting


def reverse(job: Job, document_type: str, document_id: str, link: Link, number: str) -> Outcome:
    """Post the credit that cancels ``link``'s ledger item (once), and say so."""
    visma = job.clients.visma
    connection_id = job.connection.id
    item = visma.ledger_item(link.visma_id)
    day = item.InvoiceDate or calendar.today()
    year = next((y for y in visma.fiscal_years() if y.covers(day)), None)
    if year is None:
        raise UnsupportedDocument(
            f"Visma has no fiscal year for {day}, the date of ledger item {link.visma_id}; "
            "reverse it in Visma by hand."
        )
    voucher = visma.voucher(year.Id, item.VoucherId)
    noun = "factuur" if document_type == "invoice" else "creditnota"
    text = f"Tegenboeking: Teamleader {noun} {number} verwijderd (Visma {item.InvoiceNumber})"
    posting = reversing_posting(item, voucher, calendar.today(), text)
    key = keys.reversal(connection_id, document_type, document_id)
    with document_lock(job.runtime.pool, key) as conn:

        def lookup(reference: str) -> str | None:
            found = visma.find_ledger_item(int(reference))
            return str(found.Id) if found is not None and found.Id else None

        def create() -> str:
            return str(visma.create_ledger_item_with_voucher(posting).Id)

        result = write_once(
            conn,
            key,
            connection_id=connection_id,
            kind=f"{document_type}_reversal",
            reference=str(posting.InvoiceNumber),
            lookup=lookup,
            create=create,
        )
        if result.created:
            document_history.record(
                conn,
                connection_id,
                document_type,
                document_id,
                "reversed in Visma",
                {
                    "detail": f"reversing credit posted as Visma invoice {posting.InvoiceNumber}",
                    "visma_ledger_item_id": result.remote_id,
                    "visma_number": str(posting.InvoiceNumber),
                    "reverses": link.visma_id,
                },
            )
    return Outcome(
        OutcomeName.POSTED,
        f"deleted in Teamleader; reversed in Visma as invoice {posting.InvoiceNumber}",
        {"visma_ledger_item_id": result.remote_id, "visma_number": posting.InvoiceNumber},
    )
