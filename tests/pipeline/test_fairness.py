"""One connection's backlog never holds up another's live sync (docs/architecture.md#many-
connections): the backlog travels in the bulk lane, and a worker thread whose message would
wait long on its connection's rate budget sends the message back to its turn instead of
sleeping, so another connection's live document is posted within seconds."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import httpx
from psycopg_pool import ConnectionPool

from config import Settings
from contracts import queues
from contracts.broker import make_broker
from ops.backfill.plan import Planned
from ops.backfill.run import publish_planned
from ops.connect.connecting import Connected, connect_sandbox
from store import failures, message_log
from tests.conftest import TODAY, Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    consumers_running,
    outcome,
    send,
    teamleader_part,
    wait_for,
)

#: The backlog of connection A, in messages.
BACKLOG = 1_000
#: "Within seconds": from publishing B's live document to its posting in Visma (s).
LIVE_WITHIN_S = 10.0


def other_account_connection(
    settings: Settings, pool: ConnectionPool, sandbox: Sandbox
) -> Connected:
    """A connection on a Teamleader account and a Visma company of its own (so a rate budget
    of its own), with the generated account's data."""
    account = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/accounts", json=teamleader_part(), timeout=60
    )
    account.raise_for_status()
    company = httpx.post(f"{sandbox.visma_url}/_sandbox/companies", json={}, timeout=60)
    company.raise_for_status()
    return connect_sandbox(
        settings,
        pool,
        name="backlog",
        sync_from=TODAY - timedelta(days=800),
        teamleader_account=account.json()["account_id"],
        visma_company=company.json()["company_id"],
    )


def backlog_of(connected: Connected, count: int) -> list[Planned]:
    """``count`` messages as a backfill plans them: the account's booked invoices in turn,
    each again with a later version (so two threads seldom want one document at once)."""
    invoices = [changed(connected, invoice) for invoice in booked(connected)]
    planned = []
    for n in range(count):
        message = invoices[n % len(invoices)]
        planned.append(
            Planned(
                document_type="invoice",
                id=message.teamleader_id,
                number=f"backlog {n}",
                day=date(2026, 1, 1),
                updated_at=message.updated_at + timedelta(seconds=n // len(invoices)),
                currency="EUR",
                total_excl=Decimal("1"),
                total_incl=Decimal("1"),
                taxes=(),
                customer=("company", "x"),
                state="new",
            )
        )
    return planned


def test_a_live_invoice_of_one_connection_is_posted_within_seconds_while_another_has_1000_queued(
    settings: Settings, pool: ConnectionPool, connected: Connected, sandbox: Sandbox
) -> None:
    # Given connection A with 1,000 invoice messages queued, its backfill's way, and
    # connection B (another account, so another rate budget) with a booked invoice
    backlog = other_account_connection(settings, pool, sandbox)
    broker = make_broker(settings)
    try:
        result = publish_planned(pool, broker, backlog.connection.id, backlog_of(backlog, BACKLOG))
    finally:
        broker.close()
    assert result.published == BACKLOG
    live = changed(connected, booked(connected)[1])
    with consumers_running(queues.INVOICES, threads=4):
        # ... A's budget (200 calls a window) spent on the first of them
        wait_for(
            lambda: message_log.waiting(pool, [backlog.connection.id]) < BACKLOG - 100,
            timeout_s=60,
            what="A's first window of calls",
        )
        # When B's live document is published
        started = time.monotonic()
        send(pool, live)
        # Then it is posted within seconds, while A still has hundreds waiting
        wait_for(
            lambda: outcome(pool, live) == "posted",
            timeout_s=LIVE_WITHIN_S,
            what="B's live invoice posted",
        )
        took_s = time.monotonic() - started
        still_waiting = message_log.waiting(pool, [backlog.connection.id])
    assert took_s < LIVE_WITHIN_S
    assert still_waiting > 500, f"A's backlog went faster than its rate budget: {still_waiting}"
    # And B has nothing left waiting, and A's deferred messages are waits, not failures
    assert message_log.waiting(pool, [connected.connection.id]) == 0
    assert failures.listing(pool) == []
