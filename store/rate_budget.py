"""A rate budget shared by every process through PostgreSQL (migration 0003).

The in-process :class:`clients.ratelimit.SlidingWindowLimiter` keeps one process under an
API's limit; several ``koppel work`` processes on one connection would each spend the whole
budget. :class:`SharedRateBudget` keeps the same sliding window in the database instead:
one ``SELECT rate_budget_take(...)`` per call reserves the call's moment (now, or when the
window next has room) and the caller sleeps until then. A server's "wait" is stored too, so
a 429 seen by one process holds the key for all of them. Times are the database's clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from store.db import Pool


class SharedRateBudget:
    """``calls_per_window`` calls per ``window_s`` seconds per key, across processes."""

    def __init__(
        self,
        pool: Pool,
        calls_per_window: int,
        window_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pool = pool
        self.calls_per_window = calls_per_window
        self.window_s = window_s
        self._sleep = sleep
        self._slots = threading.local()

    def acquire(self, key: str) -> float:
        """Reserve one call on ``key``, wait until its moment; return the seconds waited."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT wait_s, slot, hot FROM rate_budget_take(%s, %s, %s)",
                [key, self.calls_per_window, self.window_s],
                prepare=True,
            ).fetchone()
        if row is None:  # cannot happen: the function always returns its row
            return 0.0
        # Remembered per thread and key: the same thread sends the call and then releases.
        self._slots.__dict__[key] = row["slot"] if row["hot"] else None
        wait_s = float(row["wait_s"])
        if wait_s > 0:
            self._sleep(wait_s)
        return max(0.0, wait_s)

    def release(self, key: str) -> None:
        """The call acquired last on ``key`` by this thread was answered (or failed). Only
        while calls come at about the limit does this cost a statement (see migration 0003)."""
        slot = self._slots.__dict__.pop(key, None)
        if slot is None:
            return
        with self.pool.connection() as conn:
            conn.execute(
                "SELECT rate_budget_release(%s, %s, %s)",
                [key, self.calls_per_window, slot],
                prepare=True,
            )

    def hold_until(self, key: str, seconds_from_now: float) -> None:
        """Send nothing on ``key`` for the given time, in every process."""
        with self.pool.connection() as conn:
            conn.execute(
                "SELECT rate_budget_hold(%s, %s, %s)",
                [key, self.calls_per_window, max(0.0, seconds_from_now)],
            )


class FairShareBudget:
    """One connection's way into a budget many connections share (Visma: the application's
    per endpoint), taking at most ``share`` of it in any window.

    Each call reserves a moment in the connection's part first (``share`` ×
    ``calls_per_window`` per window, key ``<key>@<connection>``), then in the whole. So a
    connection backfilling thousands of documents fills its part and waits there, never in
    the whole's queue, and the rest of the window stays for the others; alone it still
    gets ``share`` of the endpoint. A 429 holds the whole key, for every connection."""

    def __init__(
        self,
        pool: Pool,
        calls_per_window: int,
        window_s: float,
        *,
        connection: str,
        share: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.whole = SharedRateBudget(pool, calls_per_window, window_s, sleep)
        part = max(1, int(calls_per_window * share))
        self.part = SharedRateBudget(pool, part, window_s, sleep) if share < 1 else None
        self.connection = connection

    def _part_key(self, key: str) -> str:
        return f"{key}@{self.connection}"

    def acquire(self, key: str) -> float:
        waited = self.part.acquire(self._part_key(key)) if self.part is not None else 0.0
        return waited + self.whole.acquire(key)

    def release(self, key: str) -> None:
        if self.part is not None:
            self.part.release(self._part_key(key))
        self.whole.release(key)

    def hold_until(self, key: str, seconds_from_now: float) -> None:
        self.whole.hold_until(key, seconds_from_now)
