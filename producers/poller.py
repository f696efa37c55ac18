"""The poller: read what changed in Teamleader and Visma, publish one message per change.

Each connection has five streams, each with its own cursor (``cursors``):

* ``contacts`` / ``companies`` — Teamleader customers → :class:`CustomerChanged`;
* ``invoices`` — the department's booked invoices (outstanding, matched) → :class:`InvoiceChanged`;
* ``credit_notes`` — the department's credit notes → :class:`CreditNoteChanged`;
* ``visma_ledger_items`` — customer ledger items Koppel posted whose remaining amount is not
  what Koppel last saw → :class:`PaymentObserved`; besides those modified since, every open
  one now and then (``producers/open_items.py``), as a payment may not move ``ModifiedUtc``.

The rules that keep a change from being lost (docs/architecture.md#cursors):

1. Query from the watermark minus ``poll_overlap_s`` (the first poll from ``sync_from`` at
   00:00 UTC); both APIs compare ``>=``, so a document on the watermark is read again.
2. Publish with publisher confirms, record the messages, and only then move the cursor — to
   the largest remote timestamp seen, never to our clock. A stream that fails (API or broker)
   records the error and keeps its watermark; the other streams still run.
3. The overlap re-reads recent documents every round: a message whose dedupe key is already
   recorded is skipped, unless it has waited :data:`REPUBLISH_UNFINISHED_AFTER_S` without an
   outcome (a safety net should a queue ever lose it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import dramatiq
import dramatiq.errors
import pika.exceptions

from clients.errors import ApiError, ReauthorizationNeeded
from clients.teamleader.client import OnMalformed
from clients.teamleader.malformed import Malformed
from clients.teamleader.models import CreditNote, Customer, Document, Invoice
from config import Settings, get_settings
from config.unreachable import ServiceUnreachable, broker_unreachable
from contracts import queues, streams
from contracts.broker import Lane, publish
from contracts.messages import (
    CreditNoteChanged,
    CustomerChanged,
    InvoiceChanged,
    PaymentObserved,
    SyncMessage,
)
from contracts.statuses import BOOKED_INVOICE_STATUSES
from contracts.streams import (
    COMPANIES,
    CONTACTS,
    CREDIT_NOTES,
    DELETIONS,
    INVOICES,
    VISMA_LEDGER_ITEMS,
)
from producers.deletion_check import check_connection
from producers.open_items import open_items_to_check
from store import connections, cursors, deletions, document_history, links, message_log
from store import malformed as malformed_store
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool

logger = logging.getLogger(__name__)

#: A message recorded this long ago (seconds) and still without an outcome is published
#: again when the overlap reads its document once more: a consumer takes seconds, so an
#: hour-old message with no outcome was most likely lost (a purged queue, a lost broker).
REPUBLISH_UNFINISHED_AFTER_S = 3600

#: Every stream, in the order a round polls them (``contracts/streams.py``).
STREAMS = streams.ALL


@dataclass(frozen=True)
class StreamReport:
    """What one stream of one connection did in one round."""

    stream: str
    #: Documents the query returned (every version read, including the overlap's re-reads).
    seen: int = 0
    published: int = 0
    #: Changes whose message was already recorded (the overlap reads them again).
    skipped: int = 0
    #: The cursor after the round (unchanged when the stream failed).
    watermark: datetime | None = None
    error: str | None = None
    #: Items that did not fit (recorded as failures; the rest of the stream went on).
    malformed: int = 0
    #: Documents dated before the connection's start (``sync_from``): their consumer
    #: skips them with a history entry, since they were booked elsewhere.
    before_start: int = 0


@dataclass(frozen=True)
class PollReport:
    connection: Connection
    streams: list[StreamReport] = field(default_factory=list)
    #: Another poller held the connection's round lock: this one skipped it (no streams).
    polled_elsewhere: bool = False
    #: "paused" or "removed": the connection is not synced, so it was not polled.
    stopped: str | None = None
    #: (Teamleader type, id) of what the round's deletion check found deleted.
    deleted: list[tuple[str, str]] = field(default_factory=list)
    #: Why the round's deletion check failed (it runs again the next round).
    deletion_error: str | None = None
    #: Teamleader calls the round made, retries included: the poller spaces the next round
    #: by them (``Settings.poll_budget_share``).
    teamleader_calls: int = 0

    @property
    def failed(self) -> bool:
        return any(stream.error for stream in self.streams)

    @property
    def published(self) -> int:
        return sum(stream.published for stream in self.streams)


@dataclass(frozen=True)
class Seen:
    """One document a stream's query returned."""

    document_id: str
    #: Its remote timestamp (``updated_at`` / ``ModifiedUtc``), timezone-aware.
    modified: datetime
    #: The message it calls for, or None (e.g. a ledger item Koppel did not post).
    message: SyncMessage | None
    #: Its own date (invoice / credit-note date) is before the connection's start.
    before_start: bool = False


#: (clients, pool, connection, since, on_malformed) → every document changed since then;
#: an item that does not fit is handed to ``on_malformed`` instead.
Reader = Callable[[ApiClients, Pool, Connection, datetime, OnMalformed], Iterable[Seen]]


# -- readers ----------------------------------------------------------------------------------
def _aware(moment: datetime) -> datetime:
    """A timestamp the API sent without an offset is UTC (both APIs document UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _changes(
    listing: Iterable[Customer | Document],
    what: str,
    message: Callable[[str, datetime], SyncMessage],
    start: date | None = None,
) -> Iterator[Seen]:
    """Every Teamleader object of ``listing`` as a change with its message (``start``: the
    connection's first day, to count documents dated before it)."""
    for item in listing:
        if item.updated_at is None:
            logger.warning("Teamleader %s %s has no updated_at; skipped", what, item.id)
            continue
        updated_at = _aware(item.updated_at)
        day = _document_date(item)
        early = start is not None and day is not None and day < start
        yield Seen(item.id, updated_at, message(item.id, updated_at), before_start=early)


def _document_date(item: Customer | Document) -> date | None:
    if isinstance(item, Invoice):
        return item.invoice_date
    if isinstance(item, CreditNote):
        return item.credit_note_date
    return None


def _customers(kind: Literal["contact", "company"]) -> Reader:
    def read(
        clients: ApiClients,
        pool: Pool,
        connection: Connection,
        since: datetime,
        on_malformed: OnMalformed,
    ) -> Iterable[Seen]:
        listing = clients.teamleader.contacts if kind == "contact" else clients.teamleader.companies
        return _changes(
            listing(updated_since=since, on_malformed=on_malformed),
            kind,
            lambda id_, at: CustomerChanged(
                connection_id=connection.id, kind=kind, teamleader_id=id_, updated_at=at
            ),
        )

    return read


def _invoices(
    clients: ApiClients,
    pool: Pool,
    connection: Connection,
    since: datetime,
    on_malformed: OnMalformed,
) -> Iterable[Seen]:
    listing = clients.teamleader.invoices(
        updated_since=since,
        status=BOOKED_INVOICE_STATUSES,
        department_id=connection.teamleader_department_id,
        on_malformed=on_malformed,
    )
    return _changes(
        listing,
        "invoice",
        lambda id_, at: InvoiceChanged(
            connection_id=connection.id, teamleader_id=id_, updated_at=at
        ),
        connection.sync_from,
    )


def _credit_notes(
    clients: ApiClients,
    pool: Pool,
    connection: Connection,
    since: datetime,
    on_malformed: OnMalformed,
) -> Iterable[Seen]:
    listing = clients.teamleader.credit_notes(
        updated_since=since,
        department_id=connection.teamleader_department_id,
        on_malformed=on_malformed,
    )
    return _changes(
        listing,
        "credit note",
        lambda id_, at: CreditNoteChanged(
            connection_id=connection.id, teamleader_id=id_, updated_at=at
        ),
        connection.sync_from,
    )


def _ledger_items(
    clients: ApiClients,
    pool: Pool,
    connection: Connection,
    since: datetime,
    on_malformed: OnMalformed,
) -> Iterable[Seen]:
    """Every ledger item modified since; a message only for one Koppel posted whose remaining
    amount is not the one Koppel last saw (the item changes for other reasons too)."""
    # Read whole (usually a handful since the last round), so that only their links are read.
    items = list(clients.visma.ledger_items(modified_since=since))
    # And now and then every open one: a payment may leave ModifiedUtc as it was.
    changed_ids = {item.Id.lower() for item in items if item.Id is not None}
    items += [
        item
        for item in open_items_to_check(get_settings(), clients, pool, connection)
        if item.Id is not None and item.Id.lower() not in changed_ids
    ]
    ids = [item.Id.lower() for item in items if item.Id is not None]
    posted = links.remaining_by_visma_id(pool, connection.id, links.LEDGER_ITEM, ids) if ids else {}
    for item in items:
        if item.Id is None or item.ModifiedUtc is None:
            logger.warning("Visma ledger item without Id or ModifiedUtc skipped: %r", item)
            continue
        modified = _aware(item.ModifiedUtc)
        message: SyncMessage | None = None
        item_id = item.Id.lower()
        # No remaining recorded yet counts as different: the consumer compares and records.
        if item_id in posted and posted[item_id] != item.RemainingAmountInvoiceCurrency:
            message = PaymentObserved(
                connection_id=connection.id,
                visma_ledger_item_id=item.Id,
                remaining_amount=item.RemainingAmountInvoiceCurrency,
                currency=item.CurrencyCode,
                modified_utc=modified,
            )
        yield Seen(item_id, modified, message)


READERS: dict[str, Reader] = {
    CONTACTS: _customers("contact"),
    COMPANIES: _customers("company"),
    INVOICES: _invoices,
    CREDIT_NOTES: _credit_notes,
    VISMA_LEDGER_ITEMS: _ledger_items,
}

#: What each Teamleader stream's items are: (document type, queue of its failures, noun).
MALFORMED_AS = {
    CONTACTS: ("contact", queues.CONTACTS, "contact"),
    COMPANIES: ("company", queues.CONTACTS, "company"),
    INVOICES: ("invoice", queues.INVOICES, "invoice"),
    CREDIT_NOTES: ("credit_note", queues.CREDIT_NOTES, "credit note"),
}

#: What each stream lists, for error messages.
WHAT = {
    CONTACTS: "Teamleader contacts",
    COMPANIES: "Teamleader companies",
    INVOICES: "Teamleader invoices",
    CREDIT_NOTES: "Teamleader credit notes",
    VISMA_LEDGER_ITEMS: "Visma customer ledger items",
}


# -- the rules --------------------------------------------------------------------------------
def query_start(settings: Settings, connection: Connection, watermark: datetime | None) -> datetime:
    """Where a stream's query begins: the overlap behind the watermark, or ``sync_from``."""
    if watermark is None:
        return datetime.combine(connection.sync_from, time(0), tzinfo=UTC)
    return watermark - timedelta(seconds=settings.poll_overlap_s)


def new_watermark(seen: Sequence[Seen]) -> datetime | None:
    """The largest remote timestamp seen — held back when the list moved under our paging.

    Both APIs page by offset. A document changed while we page it can move from a page
    already read to the end (Teamleader sorts customers by ``updated_at``), and then the
    document after it slides onto that read page and is never returned. Such a move shows as
    the same id returned twice; the document it hid sorted after the mover's first place, so
    holding the watermark at the mover's first timestamp makes the next round read it."""
    if not seen:
        return None
    largest = max(s.modified for s in seen)
    first_seen: dict[str, datetime] = {}
    for s in seen:
        if s.document_id in first_seen:
            largest = min(largest, first_seen[s.document_id])
        else:
            first_seen[s.document_id] = s.modified
    return largest


def latest_messages(seen: Sequence[Seen]) -> list[SyncMessage]:
    """One message per document: the newest version read (a moved document is read twice)."""
    newest: dict[str, Seen] = {}
    for s in seen:
        if s.message is None:
            continue
        if s.document_id not in newest or s.modified >= newest[s.document_id].modified:
            newest[s.document_id] = s
    return [s.message for s in sorted(newest.values(), key=lambda s: s.modified) if s.message]


def record_sent(
    pool: Pool,
    connection_id: uuid.UUID,
    sent: Sequence[SyncMessage],
    publishing_at: datetime | None,
    **detail: object,
) -> None:
    """Confirmed messages into ``messages`` and each document's "queued" event (with
    ``detail``), in two batches, the history stamped with the moment publishing began."""
    message_log.record_published(
        pool,
        connection_id,
        [(m.dedupe_key, m.queue, m.document_type, m.document_id, m.version) for m in sent],
    )
    document_history.record_many(
        pool,
        connection_id,
        [
            (
                m.document_type,
                m.document_id,
                "queued",
                {"queue": m.queue, "version": m.version, "dedupe_key": m.dedupe_key, **detail},
            )
            for m in sent
        ],
        at=publishing_at,
    )


def _explain(settings: Settings, connection: Connection, stream: str, error: Exception) -> str:
    """One sentence for the cursor and the operator: what failed and what happens next."""
    if isinstance(error, ReauthorizationNeeded):
        return (
            f"{error.service.capitalize()} refused the authorisation of connection"
            f" {connection.name!r} ({error.code or error.status or 'refused'});"
            " authorise it again with koppel connect."
        )
    if isinstance(error, ApiError):
        return f"Reading {WHAT[stream]} failed: {error}; the next round tries again."
    if isinstance(error, (dramatiq.errors.BrokerConnectionError, pika.exceptions.AMQPError)):
        unreachable = broker_unreachable(settings.broker_url, error.__class__.__name__)
        return f"{unreachable}; the next round publishes these {WHAT[stream]} again."
    if isinstance(error, ServiceUnreachable):
        return f"{error}; the next round tries again."
    return (
        f"Polling {WHAT[stream]} failed unexpectedly ({type(error).__name__}: {error});"
        " see the poller's log."
    )


def _reversal_message(connection: Connection, kind: str, id_: str, at: datetime) -> SyncMessage:
    if kind == "credit_note":
        return CreditNoteChanged(connection_id=connection.id, teamleader_id=id_, updated_at=at)
    return InvoiceChanged(connection_id=connection.id, teamleader_id=id_, updated_at=at)


# -- polling ----------------------------------------------------------------------------------
def poll_stream(
    settings: Settings,
    pool: Pool,
    broker: dramatiq.Broker,
    connection: Connection,
    clients: ApiClients,
    stream: str,
    cursor: cursors.Cursor,
    moves: list[tuple[str, datetime | None]],
) -> StreamReport:
    """One stream, one round: read, publish (confirmed) and record; the cursor's move is
    appended to ``moves`` for the caller to make once every stream is published (``cursor``:
    the stream's cursor as read at the start of the round)."""
    since = query_start(settings, connection, cursor.watermark)
    seen: list[Seen] = []
    sent: list[SyncMessage] = []
    bad: list[Malformed] = []
    skipped = 0
    try:
        seen = list(READERS[stream](clients, pool, connection, since, bad.append))
        _record_malformed(pool, connection, stream, seen, bad)
        changes = latest_messages(seen)
        recorded = message_log.already_recorded(
            pool, [m.dedupe_key for m in changes], REPUBLISH_UNFINISHED_AFTER_S
        )
        skipped = sum(1 for m in changes if m.dedupe_key in recorded)
        publishing_at = document_history.database_now(pool) if len(changes) > skipped else None
        try:
            for message in changes:
                if message.dedupe_key not in recorded:
                    # A round's first messages are live; a backlog past them is bulk, so it
                    # never holds up another connection's next change.
                    live = len(sent) < settings.live_messages_per_round
                    publish(broker, message, Lane.LIVE if live else Lane.BULK)
                    sent.append(message)
        finally:
            # What RabbitMQ confirmed is in a queue, even if a later publish failed.
            record_sent(pool, connection.id, sent, publishing_at)
    except Exception as error:  # a failing stream must not stop the others
        if not isinstance(error, (ApiError, dramatiq.errors.BrokerConnectionError)):
            logger.exception("polling %s of %s failed", stream, connection.name)
        explanation = _explain(settings, connection, stream, error)
        logger.warning("%s %s: %s", connection.name, stream, explanation)
        cursors.record_error(pool, connection.id, stream, explanation)
        return StreamReport(
            stream,
            seen=len(seen),
            published=len(sent),
            skipped=skipped,
            watermark=cursor.watermark,
            error=explanation,
            malformed=len(bad),
            before_start=sum(1 for s in seen if s.before_start),
        )
    # A malformed item with a readable timestamp moves the cursor too: it is recorded.
    moved_to = new_watermark(
        seen
        + [
            Seen(m.document_id or f"(malformed {i})", _aware(m.updated_at), None)
            for i, m in enumerate(bad)
            if m.updated_at is not None
        ]
    )
    moves.append((stream, moved_to))
    # The cursor never moves backwards (cursors.advance_many keeps the larger one).
    candidates = [w for w in (cursor.watermark, moved_to) if w is not None]
    return StreamReport(
        stream,
        seen=len(seen),
        published=len(sent),
        skipped=skipped,
        watermark=max(candidates) if candidates else None,
        malformed=len(bad),
        before_start=sum(1 for s in seen if s.before_start),
    )


def _record_malformed(
    pool: Pool, connection: Connection, stream: str, seen: Sequence[Seen], bad: list[Malformed]
) -> None:
    """Record the items that did not fit; close the failures of documents that fit now."""
    if stream not in MALFORMED_AS:
        return
    document_type, queue, what = MALFORMED_AS[stream]
    readable = {s.document_id for s in seen} - {m.document_id for m in bad}
    malformed_store.close(pool, connection.id, document_type, sorted(readable))
    if bad:
        logger.warning(
            "%s %s: %d item(s) did not fit and were recorded as failures",
            connection.name,
            stream,
            len(bad),
        )
        malformed_store.record(
            pool, connection.id, queue=queue, document_type=document_type, what=what, bad=bad
        )


def poll_connection(
    settings: Settings,
    pool: Pool,
    broker: dramatiq.Broker,
    connection: Connection,
    clients: ApiClients,
    streams: Sequence[str] = STREAMS,
    interval_s: float | None = None,
) -> PollReport:
    """One round of every stream of one connection; a failing stream does not stop the rest.

    Skipped (``polled_elsewhere``) while another poller holds the connection's round lock,
    so two pollers (``--scale poller=2`` for availability) never do the same round twice;
    not polled (``stopped``) when the connection is paused or removed.
    ``interval_s``: the poller's interval for this connection, recorded with the round
    (``koppel status`` shows it); None for a one-off round."""
    with round_lock(pool, connection) as held:
        if not held:
            logger.info("%s is being polled by another poller; skipped", connection.name)
            return PollReport(connection, polled_elsewhere=True)
        # Read under the lock, not from ``connection``: the caller's list may be a round
        # old, and `koppel connections remove` takes this lock, so no round follows it.
        state = connections.state_of(pool, connection.id)
        if state != "active":
            logger.info("%s is %s; not polled", connection.name, state)
            return PollReport(connection, stopped=state or "removed")
        calls_before = clients.teamleader.session.calls_sent
        report = _poll_locked(settings, pool, broker, connection, clients, streams, interval_s)
        calls = clients.teamleader.session.calls_sent - calls_before
        return replace(report, teamleader_calls=calls)


@contextmanager
def round_lock(pool: Pool, connection: Connection) -> Iterator[bool]:
    """Try the connection's poll lock (a session-level advisory lock) without waiting; yields
    whether this session got it. The pooled session stays taken for the round, so a poll
    thread holds one session more than its statements need (see ``poll_threads``)."""
    key = connections.poll_lock_key(connection.id)
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS held", [key]
        ).fetchone()
        held = bool(row and row["held"])
        try:
            yield held
        finally:
            if held:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def _poll_locked(
    settings: Settings,
    pool: Pool,
    broker: dramatiq.Broker,
    connection: Connection,
    clients: ApiClients,
    streams: Sequence[str],
    interval_s: float | None = None,
) -> PollReport:
    # One query for the five cursors and one to move them: a poller serving 1,000
    # connections runs these every round. Moving them after every stream was published is
    # as safe as moving each after its own: what a crash in between re-reads is recorded.
    current = {cursor.stream: cursor for cursor in cursors.all_for(pool, connection.id)}
    moves: list[tuple[str, datetime | None]] = []
    reports = [
        poll_stream(
            settings,
            pool,
            broker,
            connection,
            clients,
            stream,
            current.get(stream) or cursors.Cursor.empty(stream),
            moves,
        )
        for stream in streams
        if stream != DELETIONS
    ]
    cursors.advance_many(pool, connection.id, moves, interval_s)
    poked = DELETIONS in streams
    deleted, error = _check_deletions(settings, pool, broker, connection, clients, poked)
    return PollReport(connection, reports, deleted=deleted, deletion_error=error)


def _check_deletions(
    settings: Settings,
    pool: Pool,
    broker: dramatiq.Broker,
    connection: Connection,
    clients: ApiClients,
    poked: bool,
) -> tuple[list[tuple[str, str]], str | None]:
    """The deletion check, when a webhook asked for it or it is due; never fails a round.

    With ``on_teamleader_delete = reverse``, each posted document found deleted gets a
    message (versioned by the moment it was found), whose consumer posts the reversing
    credit once (``consumers/reversal.py``)."""
    now = document_history.database_now(pool)
    if not poked and not deletions.check_due(
        pool, connection.id, settings.deletion_check_interval_s, now
    ):
        return [], None
    try:
        report = check_connection(pool, connection, clients, "webhook" if poked else "poller")
        if report.found and deletions.policy(pool, connection.id) == deletions.REVERSE:
            reversals = [
                _reversal_message(connection, kind, id_, now)
                for kind, id_ in report.found
                if kind in deletions.DOCUMENT_TYPES
                and links.get(pool, connection.id, kind, id_) is not None
            ]
            sent = []
            try:
                for message in reversals:
                    publish(broker, message)
                    sent.append(message)
            finally:
                record_sent(pool, connection.id, sent, now)
    except Exception as error:  # the streams' results stand; the next round checks again
        explanation = _explain(settings, connection, INVOICES, error)
        logger.warning("%s deletion check: %s", connection.name, explanation)
        return [], explanation
    deletions.checked(pool, connection.id, now)
    return report.found, None
