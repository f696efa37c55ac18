"""One reconciliation, without click: read both books, compare, store the result, export
the metric; and ``--fix``, which republishes the documents missing in Visma through the
normal queues (the poller's messages and dedupe keys), so the exactly-once path posts each
once. Nothing here writes to Visma or Teamleader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clients.visma.models import FiscalYear
from config import Settings
from contracts.broker import make_broker, publish
from contracts.messages import CreditNoteChanged, InvoiceChanged, SyncMessage
from ops.backfill.plan import StartDateError, parse_from, start_date
from ops.reconcile import metrics
from ops.reconcile.compare import MISSING, Books, Result, compare
from ops.reconcile.read import read_books
from producers.poller import record_sent
from store import document_history, reconcile_runs
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool

#: ``--from`` when none is given: the quarter a VAT return covers.
DEFAULT_FROM = "this-quarter"


class PeriodError(StartDateError):
    """``--from``/``--to`` do not make a period; the message says why."""


@dataclass(frozen=True)
class Reconciled:
    result: Result
    books: Books
    teamleader_calls: int
    visma_calls: int


def period(
    from_text: str | None,
    to: date | None,
    today: date,
    fiscal_years: list[FiscalYear] | None = None,
) -> tuple[date, date]:
    """``--from`` (a keyword or a date, as ``koppel backfill`` takes it) and ``--to``
    (default today) as an inclusive period."""
    start = start_date(parse_from(from_text or DEFAULT_FROM), today, fiscal_years or [])
    end = to or today
    if end < start:
        raise PeriodError(f"--to {end.isoformat()} is before the start {start.isoformat()}")
    return start, end


def reconcile(
    pool: Pool,
    connection: Connection,
    api: ApiClients,
    start: date,
    end: date,
    *,
    trigger: str = "command",
) -> Reconciled:
    """Compare, store the result (``koppel status`` shows it) and export the metric."""
    read = read_books(pool, connection, api, start, end)
    result = compare(read.books)
    counts = result.counts()
    reconcile_runs.save(
        pool,
        connection.id,
        trigger=trigger,
        period_from=start,
        period_to=end,
        documents=result.documents,
        matching=result.matching,
        counts=counts,
        details=[d.as_dict() for d in result.differences],
        teamleader_calls=read.teamleader_calls,
        visma_calls=read.visma_calls,
    )
    metrics.observe(connection.name, counts)
    return Reconciled(result, read.books, read.teamleader_calls, read.visma_calls)


def missing_messages(connection: Connection, reconciled: Reconciled) -> list[SyncMessage]:
    """The messages that post the documents missing in Visma: invoices first, so a credit
    note finds its invoice posted (or waits for it, which is no failure)."""
    missing = {d.teamleader_id for d in reconciled.result.differences if d.kind == MISSING}
    documents = [d for d in reconciled.books.documents if d.id in missing]
    documents.sort(key=lambda d: d.kind != "invoice")
    messages: list[SyncMessage] = []
    for document in documents:
        if document.updated_at is None:
            continue
        kind = InvoiceChanged if document.kind == "invoice" else CreditNoteChanged
        messages.append(
            kind(
                connection_id=connection.id,
                teamleader_id=document.id,
                updated_at=document.updated_at,
            )
        )
    return messages


def fix(settings: Settings, pool: Pool, connection: Connection, reconciled: Reconciled) -> int:
    """Republish the missing documents (each confirmed by RabbitMQ, then recorded like the
    poller's); the number published. A document posted meanwhile is not posted again: its
    consumer finds the write done (store/writes.py)."""
    messages = missing_messages(connection, reconciled)
    if not messages:
        return 0
    broker = make_broker(settings)
    try:
        for message in messages:
            publishing_at = document_history.database_now(pool)
            publish(broker, message)
            record_sent(pool, connection.id, [message], publishing_at, reconcile=True)
    finally:
        broker.close()
    return len(messages)
