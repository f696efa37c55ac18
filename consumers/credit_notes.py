"""Queue ``credit_notes``: a Teamleader credit note → a Visma credit ledger item, tied to
the credited invoice (its Visma number in the voucher text, and a link)."""

from __future__ import annotations

from typing import NoReturn

from clients.errors import NotFound
from config import get_settings
from consumers import app
from consumers.base import Consumer, Job, Outcome
from consumers.errors import NotYetPossible, Wait, WaitingFor
from consumers.postings import deleted_in_teamleader, other_department, post_document
from contracts import queues
from contracts.messages import CreditNoteChanged
from store import links, message_log
from translation.errors import UnsupportedDocument
from translation.ledger_items import posting_for_credit_note

#: Credit note id → the invoice it credits (which never changes), learned on the first try,
#: so a credit note whose invoice is still queued waits without calling Teamleader again.
_credited: dict[str, str] = {}
_CREDITED_MAX = 10_000


def _wait_while_invoice_queued(job: Job, credit_note_id: str, invoice_id: str | None) -> None:
    """In a backfill the credit notes queue is short and the invoices queue long, and in an
    outage the invoice's own retries may take hours: a credit note whose invoice message has
    not been handled yet waits for it (a Wait: no retry used up, one database query a try,
    soon at first and less often as the wait goes on), up to KOPPEL_WAIT_FOR_INVOICE_MAX_S."""
    if invoice_id is None:
        return
    if len(_credited) >= _CREDITED_MAX:
        _credited.clear()
    _credited[credit_note_id] = invoice_id
    settings = get_settings()
    # As long as the wait may last: an invoice message retrying for hours is still under way.
    within_s = settings.wait_for_invoice_max_s
    if message_log.queued(job.runtime.pool, job.connection.id, "invoice", invoice_id, within_s):
        raise Wait(
            f"credit note {credit_note_id}: its invoice {invoice_id} is queued, not posted yet",
            waiting_for=WaitingFor.INVOICE,
            delay=settings.retry_min_backoff_ms,
        )


def handle(job: Job, message: CreditNoteChanged) -> Outcome:
    known_invoice = _credited.get(message.teamleader_id)
    if known_invoice and links.get(job.runtime.pool, job.connection.id, "invoice", known_invoice):
        known_invoice = None  # posted meanwhile: go on
    _wait_while_invoice_queued(job, message.teamleader_id, known_invoice)
    try:
        credit_note = job.clients.teamleader.credit_note(message.teamleader_id)
    except NotFound:
        return deleted_in_teamleader(job, "credit_note", message.teamleader_id)
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
            _wait_while_invoice_queued(job, credit_note.id, credit_note.invoice.id)
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


consumer = Consumer(queues.CREDIT_NOTES, handle)

app.when_run_by_dramatiq()
