"""Queue ``credit_notes``: a Teamleader credit note → a Visma credit ledger item, tied to
the credited invoice (its Visma number in the voucher text, and a link)."""

from __future__ import annotations

from clients.teamleader.models import CreditNote
from config import get_settings
from consumers import app
from consumers.base import Consumer, Job, Outcome
from consumers.errors import NotYetPossible, Wait, WaitingFor
from consumers.postings import dated_before_start, other_department, post_document
from contracts import queues
from contracts.messages import CreditNoteChanged
from contracts.outcome_names import OutcomeName
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
    credit_note = job.clients.teamleader.credit_note(message.teamleader_id)
    number = credit_note.credit_note_number or credit_note.id
    if elsewhere := other_department(job, credit_note, f"credit note {number}"):
        return elsewhere
    if before_start := dated_before_start(job, "credit_note", credit_note.credit_note_date):
        return before_start
    credited_number: int | None = None
    facts: dict[str, object] = {}
    if credit_note.invoice is not None:
        invoice_link = links.get(
            job.runtime.pool, job.connection.id, "invoice", credit_note.invoice.id
        )
        if invoice_link is None or invoice_link.visma_number is None:
            _wait_while_invoice_queued(job, credit_note.id, credit_note.invoice.id)
            earlier = _never_posted_or_wait(job, number, credit_note)
            if isinstance(earlier, Outcome):
                return earlier
            facts = earlier
        else:
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
        translate=lambda customer_id, posting_map, visma_number: posting_for_credit_note(
            credit_note, customer_id, posting_map, credited_number, visma_number
        ),
        facts=facts,
    )


def _never_posted_or_wait(
    job: Job, number: str, credit_note: CreditNote
) -> Outcome | dict[str, object]:
    """The credited invoice has no Visma posting: fail if it never will, else wait for it.

    An invoice from another department is never posted by Koppel, so waiting (hours of
    retries) would only delay a failure a bookkeeper can act on now. An invoice dated before
    the connection's start was booked elsewhere: its credit note needs attention (with its
    amount), or, when the connection says ``credits_of_earlier_invoices = post``, it is
    posted without a credited Visma invoice (the facts returned say which invoice it
    credits)."""
    assert credit_note.invoice is not None
    invoice_id = credit_note.invoice.id
    invoice = job.clients.teamleader.invoice(invoice_id)
    credited = invoice.invoice_number or invoice_id
    label = f"Teamleader credit note {number} credits invoice {credited}"
    if invoice.department.id != job.connection.teamleader_department_id:
        raise UnsupportedDocument(f"{label} of another department; Koppel does not post it.")
    start = job.connection.sync_from
    if invoice.invoice_date is not None and invoice.invoice_date < start:
        amount = credit_note.total.payable
        facts: dict[str, object] = {
            "credited_invoice": invoice_id,
            "credited_teamleader_number": credited,
            "credited_invoice_date": invoice.invoice_date.isoformat(),
            "total": f"{amount.amount:.2f}",
            "currency": amount.currency or credit_note.currency,
        }
        if job.connection.credits_of_earlier_invoices == "post":
            return facts
        return Outcome(
            OutcomeName.ATTENTION,
            f"{label} of {invoice.invoice_date.isoformat()}, dated before the connection's "
            f"start ({start.isoformat()}), so that invoice was booked elsewhere; the credit "
            f"of {amount.currency or credit_note.currency or ''} {amount.amount:,.2f} was not "
            "posted. Book it by hand, or let such credits post with `koppel mappings set "
            "--credits-of-earlier-invoices post` and requeue it.",
            facts,
        )
    # Retried with backoff; dead-lettered with this reason if it never comes.
    raise NotYetPossible(f"{label}, which is not posted in Visma yet")


consumer = Consumer(queues.CREDIT_NOTES, handle)

app.when_run_by_dramatiq()
