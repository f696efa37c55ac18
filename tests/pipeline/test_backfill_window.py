"""A backfill keeps a window (ops/backfill/run.py, ``publish_in_window``): at most that many
of its messages are in RabbitMQ without an outcome, and each outcome lets one more go, so
backfills of many connections share the consumers evenly whatever their sizes."""

from __future__ import annotations

import threading
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


class BackfillThread:
    """``publish_in_window`` of the plan on a thread of its own, as ``koppel backfill`` runs
    it; ``stop`` asks it to end, and what it returned or raised is kept."""

    def __init__(
        self, settings: Settings, pool: ConnectionPool, connected: Connected, window: int
    ) -> None:
        self.broker = make_broker(settings)
        self.stop = threading.Event()
        self.done_counts: list[int] = []
        self.returned: list[Published] = []
        self.raised: list[BaseException] = []
        self.thread = threading.Thread(
            target=self._run, args=(pool, connected, window), daemon=True
        )
        self.thread.start()

    def _run(self, pool: ConnectionPool, connected: Connected, window: int) -> None:
        try:
            self.returned.append(
                publish_in_window(
                    pool,
                    self.broker,
                    connected.connection.id,
                    planned_invoices(PLANNED),
                    window=window,
                    on_done=self.done_counts.append,
                    stop=self.stop,
                )
            )
        except BaseException as error:  # the tests look at what it raised
            self.raised.append(error)

    def end(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.broker.close()


def wait_recorded(pool: ConnectionPool, connected: Connected, count: int) -> None:
    wait_for(
        lambda: len(recorded(pool, connected)) == count,
        timeout_s=30,
        what=f"{count} messages published",
    )


def test_a_backfill_keeps_at_most_its_window_queued_and_publishes_one_more_per_outcome(
    settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given a backfill of 12 invoices with a window of 5, and no consumer running
    backfill = BackfillThread(settings, pool, connected, WINDOW)
    try:
        # When it has published its window
        wait_recorded(pool, connected, WINDOW)
        # Then it publishes no more while none of them has an outcome (several looks)
        backfill.stop.wait(1.0)
        assert len(recorded(pool, connected)) == WINDOW
        assert message_log.waiting(pool, [connected.connection.id]) == WINDOW
        # When 3 of them are posted
        post(pool, connected, 3)
        # Then 3 more are published: 8 in all, 5 of them waiting again
        wait_recorded(pool, connected, WINDOW + 3)
        backfill.stop.wait(1.0)
        assert len(recorded(pool, connected)) == WINDOW + 3
        assert message_log.waiting(pool, [connected.connection.id]) == WINDOW
        # When every message gets its outcome, a window at a time
        for _ in range(10):
            if not backfill.thread.is_alive():
                break
            post(pool, connected, WINDOW)
            backfill.thread.join(timeout=2)
    finally:
        backfill.end()
    # Then the backfill returned with all 12 published by this run, each once
    assert [r.published for r in backfill.returned] == [PLANNED], backfill.raised
    keys = [key for key, _ in recorded(pool, connected)]
    assert len(keys) == len(set(keys)) == PLANNED
    assert backfill.done_counts[-1] == PLANNED
    assert backfill.done_counts == sorted(backfill.done_counts)


def test_a_backfill_stopped_while_its_window_is_full_ends_with_a_keyboard_interrupt(
    settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given a backfill waiting on a full window
    backfill = BackfillThread(settings, pool, connected, WINDOW)
    try:
        wait_recorded(pool, connected, WINDOW)
    finally:
        # When the stop is asked for
        backfill.end()
    # Then it ended at once with a KeyboardInterrupt, the rest not published
    assert not backfill.thread.is_alive()
    assert [type(error) for error in backfill.raised] == [KeyboardInterrupt]
    assert len(recorded(pool, connected)) == WINDOW


@pytest.mark.parametrize("window", [1, WINDOW, PLANNED * 2])
def test_a_backfill_run_again_counts_its_earlier_messages_against_the_window(
    window: int, settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given an earlier run that published the first 4 and was stopped (none has an outcome)
    first = BackfillThread(settings, pool, connected, 4)
    try:
        wait_recorded(pool, connected, 4)
    finally:
        first.end()
    # When it runs again with a window of its own
    again = BackfillThread(settings, pool, connected, window)
    try:
        expected = PLANNED if window >= PLANNED else max(window, 4)
        wait_recorded(pool, connected, expected)
        again.stop.wait(1.0)
        # Then the earlier 4 fill that much of the window: never more than it waiting
        assert len(recorded(pool, connected)) == expected
        assert message_log.waiting(pool, [connected.connection.id]) == expected
    finally:
        again.end()
