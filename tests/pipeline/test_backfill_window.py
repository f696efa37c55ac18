"""A backfill keeps a window (ops/backfill/run.py, ``publish_in_window``): at most that many
of its messages are in RabbitMQ without an outcome, and each outcome lets one more go, so
backfills of many connections share the consumers evenly whatever their sizes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from contracts import queues
from contracts.broker import make_broker
from ops.backfill.plan import Planned
from ops.backfill.run import Published, publish_in_window
from ops.connect.connecting import Connected
from store import message_log
from tests.pipeline.support import wait_for

WINDOW = 5
PLANNED = 12


def planned_invoices(count: int) -> list[Planned]:
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    return [
        Planned(
            document_type="invoice",
            id=f"window-{n}",
            number=f"2026 / {n + 1}",
            day=date(2026, 3, 1),
            updated_at=at + timedelta(minutes=n),
            currency="EUR",
            total_excl=Decimal("100.00"),
            total_incl=Decimal("121.00"),
            taxes=(),
            customer=("company", "x"),
            state="new",
        )
        for n in range(count)
    ]


def recorded(pool: ConnectionPool, connected: Connected) -> list[tuple[str, str | None]]:
    """(dedupe key, outcome) of the connection's messages, in publishing order."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT dedupe_key, outcome FROM messages WHERE connection_id = %s"
            " ORDER BY published_at, dedupe_key",
            [connected.connection.id],
        ).fetchall()
    return [(row["dedupe_key"], row["outcome"]) for row in rows]


def post(pool: ConnectionPool, connected: Connected, count: int) -> None:
    """Record a "posted" outcome for ``count`` of the waiting messages, as a consumer would."""
    waiting = [key for key, outcome in recorded(pool, connected) if outcome is None][:count]
    for key in waiting:
        message_log.finish(
            pool,
            connected.connection.id,
            key,
            queue=queues.INVOICES,
            document_type="invoice",
            document_id=key,
            version="v",
            outcome="posted",
        )


def test_a_backfill_keeps_at_most_its_window_queued_and_publishes_one_more_per_outcome(
    settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given a backfill of 12 invoices with a window of 5, and no consumer running
    broker = make_broker(settings)
    result: list[Published] = []
    done_counts: list[int] = []
    stop = threading.Event()

    def run() -> None:
        result.append(
            publish_in_window(
                pool,
                broker,
                connected.connection.id,
                planned_invoices(PLANNED),
                window=WINDOW,
                on_done=done_counts.append,
                stop=stop,
            )
        )

    backfill = threading.Thread(target=run, daemon=True)
    backfill.start()
    try:
        # When it has published its window
        wait_for(
            lambda: len(recorded(pool, connected)) == WINDOW,
            timeout_s=30,
            what="the first window published",
        )
        # Then it publishes no more while none of them has an outcome (several looks)
        stop.wait(1.0)
        assert len(recorded(pool, connected)) == WINDOW
        assert message_log.waiting(pool, [connected.connection.id]) == WINDOW
        # When 3 of them are posted
        post(pool, connected, 3)
        # Then 3 more are published: 8 in all, 5 of them waiting again
        wait_for(
            lambda: len(recorded(pool, connected)) == WINDOW + 3,
            timeout_s=30,
            what="three more published",
        )
        stop.wait(1.0)
        assert len(recorded(pool, connected)) == WINDOW + 3
        assert message_log.waiting(pool, [connected.connection.id]) == WINDOW
        # When every message gets its outcome, a window at a time
        for _ in range(10):
            if not backfill.is_alive():
                break
            post(pool, connected, WINDOW)
            backfill.join(timeout=2)
    finally:
        stop.set()
        backfill.join(timeout=10)
        broker.close()
    # Then the backfill returned with all 12 published by this run, each once
    assert [r.published for r in result] == [PLANNED]
    keys = [key for key, _ in recorded(pool, connected)]
    assert len(keys) == len(set(keys)) == PLANNED
    assert done_counts[-1] == PLANNED
    assert done_counts == sorted(done_counts)


def test_a_backfill_stopped_while_its_window_is_full_ends_with_a_keyboard_interrupt(
    settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given a backfill waiting on a full window
    broker = make_broker(settings)
    stop = threading.Event()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            publish_in_window(
                pool,
                broker,
                connected.connection.id,
                planned_invoices(PLANNED),
                window=WINDOW,
                stop=stop,
            )
        except BaseException as error:  # the test looks at what it raised
            raised.append(error)

    backfill = threading.Thread(target=run, daemon=True)
    backfill.start()
    try:
        wait_for(
            lambda: len(recorded(pool, connected)) == WINDOW,
            timeout_s=30,
            what="the first window published",
        )
        # When the stop is asked for
        stop.set()
        backfill.join(timeout=10)
    finally:
        broker.close()
    # Then it ended at once with a KeyboardInterrupt, the rest not published
    assert not backfill.is_alive()
    assert [type(error) for error in raised] == [KeyboardInterrupt]
    assert len(recorded(pool, connected)) == WINDOW


@pytest.mark.parametrize("window", [1, WINDOW, PLANNED * 2])
def test_a_backfill_run_again_counts_its_earlier_messages_against_the_window(
    window: int, settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given an earlier run that published the first 4 (still without an outcome)
    plan = planned_invoices(PLANNED)
    broker = make_broker(settings)
    stop = threading.Event()
    try:
        first = threading.Thread(
            target=lambda: _quietly(
                lambda: publish_in_window(
                    pool, broker, connected.connection.id, plan, window=4, stop=stop
                )
            ),
            daemon=True,
        )
        first.start()
        wait_for(lambda: len(recorded(pool, connected)) == 4, timeout_s=30, what="4 published")
        stop.set()
        first.join(timeout=10)
    finally:
        broker.close()
    # When it runs again with a window of its own
    broker = make_broker(settings)
    stop = threading.Event()
    again = threading.Thread(
        target=lambda: _quietly(
            lambda: publish_in_window(
                pool, broker, connected.connection.id, plan, window=window, stop=stop
            )
        ),
        daemon=True,
    )
    try:
        again.start()
        expected = max(window, 4) if window < PLANNED else PLANNED
        wait_for(
            lambda: len(recorded(pool, connected)) == expected,
            timeout_s=30,
            what=f"{expected} recorded",
        )
        stop.wait(1.0)
        # Then the earlier 4 fill that much of the window: never more than it waiting
        assert len(recorded(pool, connected)) == expected
        assert message_log.waiting(pool, [connected.connection.id]) == expected
    finally:
        stop.set()
        again.join(timeout=10)
        broker.close()


def _quietly(work: Callable[[], object]) -> None:
    """Run ``work`` and swallow the KeyboardInterrupt a stop ends it with."""
    with contextlib.suppress(KeyboardInterrupt):
        work()
