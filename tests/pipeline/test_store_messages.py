"""The ledger of published messages (``store.message_log``) on the test database: an outcome is
never undone by a late producer, and ``waiting`` counts only what it is asked about."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from psycopg_pool import ConnectionPool

from contracts.broker import dramatiq_message
from contracts.messages import InvoiceChanged
from store import connections, document_history, message_log, outcomes
from store.connections import Connection
from tests.pipeline.support import published_row

#: A moment in Teamleader (an invoice's ``updated_at``); the version of these messages.
VERSION = datetime.fromisoformat("2026-03-01T10:00:00+00:00")


def connection(pool: ConnectionPool, name: str) -> Connection:
    return connections.create(
        pool,
        name=name,
        sandbox=True,
        teamleader_department_id=str(uuid.uuid4()),
        sync_from=date(2026, 1, 1),
    )


def invoice_changed(connection: Connection) -> InvoiceChanged:
    """A message about another invoice each time (so another dedupe key)."""
    return InvoiceChanged(
        connection_id=connection.id, teamleader_id=str(uuid.uuid4()), updated_at=VERSION
    )


def publish_recorded(pool: ConnectionPool, *sent: InvoiceChanged) -> None:
    for message in sent:
        message_log.record_published(pool, message.connection_id, [published_row(message)])


def finish(pool: ConnectionPool, message: InvoiceChanged, outcome: str) -> None:
    """As a consumer ends a message: through ``store.outcomes`` (a failure opens a row)."""
    failure = (
        outcomes.Failure("TestFailure", "test", dramatiq_message(message).asdict())
        if outcome == "failed"
        else None
    )
    outcomes.record(pool, message, outcome, "test", {}, failure)


def test_an_outcome_recorded_before_the_producer_records_the_publish_stays(
    pool: ConnectionPool,
) -> None:
    # Given a consumer that finished a message (failed) before its producer recorded it
    message = invoice_changed(connection(pool, "early"))
    finish(pool, message, "failed")
    # When the producer records the publish after all
    publish_recorded(pool, message)
    # Then the outcome is still failed, and nothing is waiting
    assert message_log.outcome_of(pool, message.dedupe_key) == "failed"
    assert message_log.waiting(pool) == 0


def test_a_message_recorded_again_while_waiting_is_counted_once(pool: ConnectionPool) -> None:
    message = invoice_changed(connection(pool, "again"))
    publish_recorded(pool, message, message)
    assert message_log.outcome_of(pool, message.dedupe_key) is None
    assert message_log.waiting(pool) == 1


def test_waiting_counts_only_the_given_connections_and_only_since_the_given_moment(
    pool: ConnectionPool,
) -> None:
    # Given two connections, each with a message published before a moment …
    ours, theirs = connection(pool, "ours"), connection(pool, "theirs")
    publish_recorded(pool, invoice_changed(ours), invoice_changed(theirs))
    since = document_history.database_now(pool)
    # … and after it two more of ours (one already finished) and one more of theirs
    later_ours = [invoice_changed(ours) for _ in range(3)]
    publish_recorded(pool, *later_ours, invoice_changed(theirs))
    finish(pool, later_ours[0], "posted")
    # Then waiting counts per connection and moment, only messages without an outcome
    assert message_log.waiting(pool, [ours.id], since) == 2
    assert message_log.waiting(pool, [theirs.id], since) == 1
    assert message_log.waiting(pool, [ours.id, theirs.id], since) == 3
    assert message_log.waiting(pool, [], since) == 0
    assert message_log.waiting(pool, [ours.id]) == 3
    assert message_log.waiting(pool, since=since) == 3
    assert message_log.waiting(pool) == 5
