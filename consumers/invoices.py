"""Queue ``invoices``: a booked Teamleader invoice → a Visma customer ledger item + voucher."""

from __future__ import annotations

from consumers import app
from consumers.base import Consumer, Job, Outcome
from consumers.postings import dated_before_start, post_document
from contracts import queues
from contracts.messages import InvoiceChanged
from contracts.outcome_names import OutcomeName
from contracts.statuses import BOOKED_INVOICE_STATUSES
from translation.ledger_items import posting_for_invoice


def handle(job: Job, message: InvoiceChanged) -> Outcome:
    invoice = job.clients.teamleader.invoice(message.teamleader_id)
    if invoice.status not in BOOKED_INVOICE_STATUSES:
        return Outcome(OutcomeName.SKIPPED, f"invoice is {invoice.status}, not booked")
    if before_start := dated_before_start(job, "invoice", invoice.invoice_date):
        return before_start
    return post_document(
        job,
        document_type="invoice",
        document=invoice,
        number=invoice.invoice_number or invoice.id,
        day=invoice.invoice_date,
        translate=lambda customer_id, posting_map, visma_number: posting_for_invoice(
            invoice, customer_id, posting_map, visma_number
        ),
    )


consumer = Consumer(queues.INVOICES, handle)

app.when_run_by_dramatiq()
