"""Queue ``credit_notes``: a Teamleader credit note → a Visma credit ledger item, tied to
the credited invoice (its Visma number in the voucher text, and a link)."""

from __future__ import annotations

from consumers.base import Job, Outcome, sync_actor
from consumers.errors import NotYetPossible
from consumers.postings import post_document
from contracts import queues
from contracts.messages import CreditNoteChanged
from store import links
from translation.errors import UnsupportedDocument
from translation.ledger_items import posting_for_credit_note


def handle(job: Job, message: CreditNoteChanged) -> Outcome:
    credit_note = job.clients.teamleader.credit_note(message.teamleader_id)
    if credit_note.department.id != job.connection.teamleader_department_id:
        return Outcome("skipped", "credit note belongs to another department")
    if credit_note.credit_note_date is None:
        raise UnsupportedDocument(
            f"Teamleader credit note {credit_note.credit_note_number or credit_note.id} has "
            "no date, so it has no period in Visma."
        )
    credited_number: int | None = None
    facts: dict[str, object] = {}
    if credit_note.invoice is not None:
        invoice_link = links.get(
            job.runtime.pool, job.connection.id, "invoice", credit_note.invoice.id
        )
        if invoice_link is None or invoice_link.visma_number is None:
            # Retried with backoff; dead-lettered with this reason if it never comes.
            raise NotYetPossible(
                f"credit note {credit_note.credit_note_number} credits Teamleader invoice "
                f"{credit_note.invoice.id}, which is not posted in Visma yet"
            )
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
        number=credit_note.credit_note_number or credit_note.id,
        day=credit_note.credit_note_date,
        translate=lambda customer_id, posting_map: posting_for_credit_note(
            credit_note, customer_id, posting_map, credited_number
        ),
        facts=facts,
    )


actor = sync_actor(queues.CREDIT_NOTES, handle)
