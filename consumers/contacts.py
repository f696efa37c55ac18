"""The contacts queue: a Teamleader contact or company → a Visma customer.

Each ``CustomerChanged`` makes sure the customer exists in Visma and carries Teamleader's
current data (``consumers.customer_sync``). A contact or company that no longer exists in
Teamleader is skipped: there is nothing to sync, and nothing a person needs to do.
"""

from __future__ import annotations

from consumers import app
from consumers.base import Consumer, Job, Outcome
from consumers.customer_sync import ensure_customer
from contracts import queues
from contracts.messages import CustomerChanged
from contracts.outcome_names import OutcomeName
from store import deletions
from translation.customers import CustomerNotFound


def handle(job: Job, message: CustomerChanged) -> Outcome:
    try:
        result = ensure_customer(job, message.kind, message.teamleader_id)
    except CustomerNotFound as gone:
        # Its Visma customer, if any, is kept; its history notes the deletion.
        deletions.notice(
            job.runtime.pool, job.connection.id, message.kind, message.teamleader_id, "consumer"
        )
        return Outcome(OutcomeName.SKIPPED, gone.reason)
    return Outcome(
        result.outcome,
        result.detail,
        {"visma_customer_id": result.visma_id, "visma_customer_number": result.visma_number},
    )


consumer = Consumer(queues.CONTACTS, handle)

app.when_run_by_dramatiq()
