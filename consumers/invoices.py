"""Queue ``invoices``: a booked Teamleader invoice → a Visma customer ledger item + voucher."""

from __future__ import annotations

from consumers.base import Job, Outcome, sync_actor
from consumers.postings import post_document
from contracts import queues
from contracts.messages import InvoiceChanged
from translation.ledger_items import posting_for_invoice

#: Only booked invoices are posted; a draft has no number and may still change.
BOOKED = ("outstanding", "matched")


def handle(job: Job, message: InvoiceChanged) -> Outcome:
    invoice = job.clients.teamleader.invoice(message.teamleader_id)
    if invoice.status not in BOOKED:
        return Outcome("skipped", f"invoice is {invoice.status}, not booked")
    return post_document(
        job,
        document_type="invoice",
        document=invoice,
        number=invoice.invoice_number or invoice.id,
        day=invoice.invoice_date,
        translate=lambda customer_id, posting_map: posting_for_invoice(
            invoice, customer_id, posting_map
        ),
    )


actor = sync_actor(queues.INVOICES, handle)
