"""Queue ``credit_notes``: a Teamleader credit note → a Visma credit ledger item, tied to
the credited invoice (its Visma number in the voucher text, and a link)."""

from __future__ import annotations

from typing import NoReturn

from consumers.base import Job, Outcome, sync_actor
from consumers.errors import NotYetPossible
from consumers.postings import other_department, post_document
from contracts import queues
from contracts.messages import CreditNoteChanged
from store import links
from translation.errors import UnsupportedDocument
from translation.ledger_items import posting_for_credit_note


def handle(job: Job, message: CreditNoteChanged) -> Outcome:
    credit_note = job.clients.teamleader.credit_note(message.teamleader_id)
    number = credit_note.credit_note_number or credit_note.id
    if elsewhere := other_department(job, credit_note, f"credit note {number}"):
        return elsewhere
    credited_number: int | None = None
    facts: dict[str, object] = {}
    if credit_note.invoice is not None:
        invoice_link = links.get(
            job.runtime.pool, job.connection.id, "invoice", credit_note.invoice.id
        )
        if invoice_link is None or invoice_link.visma_number is None:
            _never_posted_or_wait(job, number, credit_note.invoice.id)
        assert invoice_link is not None and invoice_link.visma_number is not None
        credited_number = int(invoice_link.visma_number)
        facts = {
            "credited_invoice": credit_note.invoice.id,
            "credited_visma_ledger_item_id": invoice_link.visma_id,
            "credited_visma_number": credited_number,
        }
    return post_document(
        job,
        document_type="credit_note",
        document=credit_note,
        number=number,
        day=credit_note.credit_note_date,
        translate=lambda customer_id, posting_map: posting_for_credit_note(
            credit_note, customer_id, posting_map, credited_number
        ),
        facts=facts,
    )


def _never_posted_or_wait(job: Job, number: str, invoice_id: str) -> NoReturn:
    """The credited invoice has no Visma posting: fail if it never will, else wait for it.

    An invoice from before the connection's first day or from another department is never
    posted by Koppel, so waiting (hours of retries) would only delay a
    failure a bookkeeper can act on now."""
    invoice = job.clients.teamleader.invoice(invoice_id)
    credited = invoice.invoice_number or invoice_id
    label = f"Teamleader credit note {number} credits invoice {credited}"
    if invoice.department.id != job.connection.teamleader_department_id:
        raise UnsupportedDocument(f"{label} of another department; Koppel does not post it.")
    if invoice.invoice_date is not None and invoice.invoice_date < job.connection.sync_from:
        raise UnsupportedDocument(
            f"{label} of {invoice.invoice_date.isoformat()}, before this connection syncs "
            f"(from {job.connection.sync_from.isoformat()}), so Koppel never posted it; post "
            "the credit note in Visma by hand, or sync from an earlier date."
        )
    # Retried with backoff; dead-lettered with this reason if it never comes.
    raise NotYetPossible(f"{label}, which is not posted in Visma yet")


actor = sync_actor(queues.CREDIT_NOTES, handle)
