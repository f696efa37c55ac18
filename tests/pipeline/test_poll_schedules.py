"""The poller schedules each connection on its own (ops/processes/polling.py): a connection
whose round is slow, here because its rate budget is held, delays no other connection's
rounds; and a connection's rounds spend no more than their share of its Teamleader budget
(ops/processes/pacing.py)."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from psycopg_pool import ConnectionPool

from config import Settings
from ops.connect.connecting import Connected, connect_sandbox
from producers.poller import INVOICES
from store import cursors
from store.rate_budget import SharedRateBudget
from tests.conftest import TODAY
from tests.pipeline.support import start_koppel, start_logged, teamleader_part, wait_for

#: How long the slow connection's Teamleader budget is held (s).
HELD_S = 25.0


def _last_invoices_poll(pool: ConnectionPool, connected: Connected) -> datetime | None:
    return next(
        (
            c.last_success_at
            for c in cursors.all_for(pool, connected.connection.id)
            if c.stream == INVOICES
        ),
        None,
    )


def _rounds_after_the_first(
    pool: ConnectionPool, connected: Connected, seconds: float
) -> set[datetime]:
    """Waits for the connection's first round, then collects the end of each of its rounds
    (the invoices cursor's last success) for ``seconds``."""
    wait_for(
        lambda: _last_invoices_poll(pool, connected) is not None,
        timeout_s=30,
        what=f"a first round of {connected.connection.name}",
    )
    seen: set[datetime] = set()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        last = _last_invoices_poll(pool, connected)
        if last is not None:
            seen.add(last)
        time.sleep(0.05)
    return seen


def test_a_connection_whose_round_waits_on_its_budget_does_not_delay_another_connections_rounds(
    settings: Settings, pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given two connections, the slow one's Teamleader budget held by a server's "wait"
    other_department = next(
        d["id"] for d in teamleader_part()["departments"] if d["id"] != connected.department.id
    )
    quick = connect_sandbox(
        settings,
        pool,
        name="quick",
        department=other_department,
        sync_from=TODAY - timedelta(days=800),
    )
    SharedRateBudget(
        pool, settings.teamleader_calls_per_window, settings.teamleader_window_s
    ).hold_until(str(connected.connection.id), HELD_S)
    # When the poller runs with a 1 s interval for 8 s
    poller = start_koppel(koppel_env, "poll", "--interval-s", "1")
    try:
        seen = _rounds_after_the_first(pool, quick, 8.0)
        slow_polled = _last_invoices_poll(pool, connected)
    finally:
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=60)
    # Then the quick connection had a round about every second, while the slow one's first
    # round was still waiting for its budget
    assert slow_polled is None
    assert len(seen) >= 4, f"the quick connection had {len(seen)} rounds in 8 s"


def test_a_connection_polled_more_often_than_its_budget_allows_is_held_to_its_share(
    pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str], tmp_path: Path
) -> None:
    # Given rounds allowed a tenth of the 200 Teamleader calls a minute: 20 calls at once,
    # then one call every 3 s (a round reads four lists: one round every 12 s)
    env = {**koppel_env, "KOPPEL_POLL_BUDGET_SHARE": "0.1"}
    log = tmp_path / "poll.log"
    # When the poller is told to poll every 0.2 s, for 12 s after its first round
    poller = start_logged({**env, "COLUMNS": "250"}, log, "poll", "--interval-s", "0.2")
    try:
        seen = _rounds_after_the_first(pool, connected, 12.0)
    finally:
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=60)
    # Then it had the rounds its share holds and about one more, not the 40-odd of its
    # interval, and the poller said why
    assert 3 <= len(seen) <= 8, f"{len(seen)} rounds in 12 s"
    assert "polled less often than its interval" in log.read_text()
