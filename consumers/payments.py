"""Queue ``payments``: a Visma ledger item Koppel posted was (partly) paid → register the
payment on the Teamleader invoice (``invoices.registerPayment``), once per observed change.

Visma is where the bank is matched, so its remaining amount is the truth: the amount to
register is what Visma says was paid since Koppel last looked, but never more than would
bring Teamleader's amount due below Visma's remaining amount. That also makes the step
self-healing: if an earlier attempt's registration landed but its answer was lost,
Teamleader's due already reflects it and nothing more is registered.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from consumers import app
from consumers.base import Consumer, Job, Outcome
from contracts import keys, queues
from contracts.messages import PaymentObserved
from contracts.outcome_names import OutcomeName
from store import document_history, links
from store.writes import document_lock, write_once


def handle(job: Job, message: PaymentObserved) -> Outcome:
    pool = job.runtime.pool
    connection = job.connection
    item_id = message.visma_ledger_item_id.lower()
    with document_lock(pool, keys.payment_lock(connection.id, item_id)) as conn:
        link = links.by_visma(conn, connection.id, links.LEDGER_ITEM, item_id)
        if link is None or link.teamleader_type != "invoice":
            return Outcome(OutcomeName.SKIPPED, "not an invoice Koppel posted")
        item = job.clients.visma.ledger_item(item_id)
        remaining = Decimal(item.RemainingAmountInvoiceCurrency)
        last_seen = link.remaining if link.remaining is not None else remaining
        if remaining == last_seen:
            return Outcome(OutcomeName.UNCHANGED, f"Visma still shows {remaining} open")
        if remaining > last_seen:
            # A payment was undone in Visma (unmatched from the bank line): Teamleader still
            # shows it, and taking a payment back is not something to do unasked.
            links.set_remaining(conn, connection.id, links.LEDGER_ITEM, item_id, remaining)
            return Outcome(
                OutcomeName.ATTENTION,
                f"Visma now shows {remaining} open on invoice {link.visma_number}, more than the "
                f"{last_seen} Koppel saw before: a payment was undone in Visma. Teamleader still "
                "shows it as paid; remove that payment in Teamleader if it was a mistake.",
                {"visma_remaining": str(remaining), "before": str(last_seen)},
            )
        invoice = job.clients.teamleader.invoice(link.teamleader_id)
        due = invoice.total.due.amount if invoice.total.due else invoice.total.payable.amount
        # An over-payment (Visma's remainder below zero) is registered up to the amount due
        # only: Teamleader would show the invoice as paid more than its total.
        settled = max(remaining, Decimal(0)) if last_seen > 0 else remaining
        amount = min(last_seen - settled, due - settled)
        overpaid = _overpaid(invoice.invoice_number, link.visma_number, remaining, last_seen)
        if invoice.paid or amount <= 0:
            links.set_remaining(conn, connection.id, links.LEDGER_ITEM, item_id, remaining)
            if overpaid is not None:
                return overpaid
            return Outcome(
                OutcomeName.SKIPPED,
                f"Teamleader already shows invoice {invoice.invoice_number} as paid"
                if invoice.paid
                else f"Teamleader's amount due ({due}) already matches Visma ({remaining})",
            )
        currency = invoice.currency or invoice.total.payable.currency or message.currency
        # Visma's ledger item has no payment date; the change was recorded at ModifiedUtc.
        paid_at = item.ModifiedUtc or message.modified_utc
        teamleader = job.clients.teamleader

        def lookup(reference: str) -> str | None:
            wanted_amount, wanted_text = reference.split("|")
            wanted_at = datetime.fromisoformat(wanted_text)
            fresh = teamleader.invoice(link.teamleader_id)
            for payment in fresh.payments:
                # Teamleader keeps whole seconds; compare within one.
                close_in_time = abs((payment.paid_at - wanted_at).total_seconds()) < 1
                if payment.payment.amount == Decimal(wanted_amount) and close_in_time:
                    return reference
            return None

        def create() -> str:
            teamleader.register_payment(link.teamleader_id, amount, currency, paid_at)
            return f"{amount}|{paid_at.isoformat()}"

        write_once(
            conn,
            keys.payment(connection.id, item_id, remaining),
            connection_id=connection.id,
            kind="teamleader_payment",
            reference=f"{amount}|{paid_at.isoformat()}",
            lookup=lookup,
            create=create,
            record=lambda db, _reference: links.set_remaining(
                db, connection.id, links.LEDGER_ITEM, item_id, remaining
            ),
        )
    # The invoice's own timeline shows its payments too (``koppel history``).
    document_history.record(
        pool,
        connection.id,
        "invoice",
        link.teamleader_id,
        "payment registered",
        {"amount": str(amount), "currency": currency, "visma_remaining": str(remaining)},
    )
    if overpaid is not None:
        return Outcome(
            OutcomeName.ATTENTION,
            f"registered {currency} {amount} on Teamleader invoice {invoice.invoice_number}, "
            f"its amount due; {overpaid.detail}",
            {**overpaid.facts, "amount": str(amount), "currency": currency},
        )
    return Outcome(
        OutcomeName.POSTED,
        f"registered {currency} {amount} on Teamleader invoice {invoice.invoice_number}"
        + (" (now paid)" if remaining == 0 else f" ({remaining} still open in Visma)"),
        {
            "teamleader_invoice": link.teamleader_id,
            "amount": str(amount),
            "currency": currency,
            "visma_remaining": str(remaining),
        },
    )


def _overpaid(
    teamleader_number: str | None, visma_number: str | None, remaining: Decimal, last_seen: Decimal
) -> Outcome | None:
    """The attention an invoice paid more than its total needs (None when it was not)."""
    if not (last_seen > 0 and remaining < 0):
        return None
    return Outcome(
        OutcomeName.ATTENTION,
        f"Visma invoice {visma_number} (Teamleader {teamleader_number}) was paid {-remaining} "
        "more than its total; Koppel registers no more in Teamleader than the amount due. "
        "Refund the over-payment or settle it in Visma.",
        {"visma_remaining": str(remaining), "overpaid": str(-remaining)},
    )


consumer = Consumer(queues.PAYMENTS, handle)

app.when_run_by_dramatiq()
