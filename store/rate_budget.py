"""A rate budget shared by every process through PostgreSQL (migration 0003).

The in-process :class:`clients.ratelimit.SlidingWindowLimiter` keeps one process under an
API's limit; several ``koppel work`` processes on one connection would each spend the whole
budget. :class:`SharedRateBudget` keeps the same sliding window in the database instead:
one ``SELECT rate_budget_take(...)`` per call reserves the call's moment (now, or when the
window next has room) and the caller sleeps until then. A server's "wait" is stored too, so
a 429 seen by one process holds the key for all of them. Times are the database's clock.

Inside :func:`deferring` (a consumer handling one message), a thread never sleeps long on
one key: when the reserved moment is more than ``max_wait_s`` away, :meth:`acquire` keeps
the reservation as a :class:`Turn` and raises :class:`TurnLater`. The message goes back with
a delay to its turn, carrying it; when it comes back, the call uses that turn without asking
again, so a deferred message keeps its place in its key's order and the slot is spent on
time (docs/architecture.md#many-connections). Meanwhile the thread serves other keys. The
ring hands out slots in the order they are asked for, whatever the key names (a connection,
or an application and endpoint shared by every connection): callers paced by their own
budgets ask at their own rates, so a shared key is split between them in that proportion.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from config.errors import TryLater
from store.db import Pool

#: A turn comes back this much before its moment (s, at most half the allowed wait), so the
#: hop through RabbitMQ's delay queue does not make the call late.
TURN_LEAD_S = 0.25
#: A turn used this much after its moment (s) is given up and a new one reserved: the ring
#: planned the calls after it from that moment, so a call sent much later could make one
#: window hold one call too many (a 429, seen when a starved worker brought turns back late).
#: The slot given up goes unused, which costs a call's worth of rate, never a 429.
LATE_TURN_S = 0.25


@dataclass(frozen=True)
class Turn:
    """A reserved call on a key: its slot in the ring and its moment (``time.time()`` s)."""

    slot: int
    due_at: float

    def as_json(self) -> list[float]:
        return [self.slot, self.due_at]

    @classmethod
    def from_json(cls, value: object) -> Turn | None:
        """The turn a message carried, or None for anything else (a hand-edited message)."""
        if not isinstance(value, list | tuple) or len(value) != 2:
            return None
        slot, due_at = value
        if not isinstance(slot, int) or not isinstance(due_at, int | float):
            return None
        return cls(slot, float(due_at))


class TurnLater(TryLater):
    """A call's turn on ``key`` is more than the allowed moment away: come back at it.

    ``turns`` are every turn the message holds (this one included), keyed like the budget,
    to be handed back to :func:`deferring` when the message returns."""

    def __init__(self, key: str, wait_s: float, turns: Mapping[str, Turn]) -> None:
        super().__init__(f"its turn on the rate budget {key} is in {wait_s:.1f} s")
        self.key = key
        self.wait_s = wait_s
        self.turns = dict(turns)

    @property
    def delay_s(self) -> float:
        """How long the message should be away (s): back a moment before its turn."""
        return max(0.0, self.wait_s - min(TURN_LEAD_S, self.wait_s / 2))


@dataclass
class _Scope:
    max_wait_s: float
    turns: dict[str, Turn]
    #: The message in hand is bulk work (a backfill's, a poll round's backlog): its calls on
    #: a budget shared by many connections also pass that budget's bulk part.
    bulk: bool = False


_scope = threading.local()


def start_deferring(
    max_wait_s: float, turns: Mapping[str, Turn] | None = None, *, bulk: bool = False
) -> None:
    """From now on, :meth:`SharedRateBudget.acquire` on this thread sleeps at most
    ``max_wait_s`` (s) and raises :class:`TurnLater` for a longer wait; ``turns`` are the
    reservations a returning message holds; ``bulk``: the message is bulk work
    (:class:`FairShareBudget`). Until :func:`stop_deferring`."""
    _scope.current = _Scope(max_wait_s, dict(turns or {}), bulk)


def handling_bulk() -> bool:
    """Whether this thread handles a bulk message now."""
    scope: _Scope | None = getattr(_scope, "current", None)
    return scope is not None and scope.bulk


def stop_deferring() -> None:
    """This thread's calls wait for their moment again, however long."""
    _scope.current = None


@contextmanager
def deferring(max_wait_s: float, turns: Mapping[str, Turn] | None = None) -> Iterator[None]:
    """:func:`start_deferring` for the block."""
    start_deferring(max_wait_s, turns)
    try:
        yield
    finally:
        stop_deferring()


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
        """Reserve one call on ``key``, wait until its moment; return the seconds waited.
        Inside :func:`deferring`, raise :class:`TurnLater` rather than wait long."""
        scope: _Scope | None = getattr(_scope, "current", None)
        if scope is not None:
            turn = scope.turns.pop(key, None)
            if turn is not None and time.time() - turn.due_at <= LATE_TURN_S:
                return self._take_turn(scope, key, turn)
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT wait_s, slot, hot FROM rate_budget_take(%s, %s, %s)",
                [key, self.calls_per_window, self.window_s],
                prepare=True,
            ).fetchone()
        if row is None:  # cannot happen: the function always returns its row
            return 0.0
        wait_s = float(row["wait_s"])
        if scope is not None and wait_s > scope.max_wait_s:
            scope.turns[key] = Turn(int(row["slot"]), time.time() + wait_s)
            raise TurnLater(key, wait_s, scope.turns)
        # Remembered per thread and key: the same thread sends the call and then releases.
        self._slots.__dict__[key] = row["slot"] if row["hot"] else None
        if wait_s > 0:
            self._sleep(wait_s)
        return max(0.0, wait_s)

    def _take_turn(self, scope: _Scope, key: str, turn: Turn) -> float:
        """Use a turn reserved before: wait for it here if it is close, else defer again."""
        wait_s = turn.due_at - time.time()
        if wait_s > scope.max_wait_s:
            scope.turns[key] = turn
            raise TurnLater(key, wait_s, scope.turns)
        # A turn reserved long ago is released like a hot one: its slot is stamped again.
        self._slots.__dict__[key] = turn.slot
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
    per endpoint), taking at most ``share`` of it in any window, and bulk work of all the
    connections together at most ``bulk_share`` of it.

    Each call reserves a moment in the connection's part first (``share`` ×
    ``calls_per_window`` per window, key ``<key>@<connection>``), then, for a bulk message
    (:func:`handling_bulk`), in the bulk part (``bulk_share`` of the whole, key
    ``<key>#bulk``), then in the whole. So a connection backfilling thousands of documents
    fills its part and waits there, never in the whole's queue, and the rest of the window
    stays for the others; alone it still gets ``share`` of the endpoint. Ten connections
    backfilling at once fill the bulk part, not the whole: without it they booked the whole
    ring a window ahead, and another connection's live posting waited behind them for up to
    a minute (bench/fairness.py at time scale 1, B's p99 54 s). A 429 holds the whole key,
    for every connection."""

    def __init__(
        self,
        pool: Pool,
        calls_per_window: int,
        window_s: float,
        *,
        connection: str,
        share: float,
        bulk_share: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.whole = SharedRateBudget(pool, calls_per_window, window_s, sleep)
        part = max(1, int(calls_per_window * share))
        self.part = SharedRateBudget(pool, part, window_s, sleep) if share < 1 else None
        bulk = max(1, int(calls_per_window * bulk_share))
        self.bulk = SharedRateBudget(pool, bulk, window_s, sleep) if bulk_share < 1 else None
        self.connection = connection

    def _part_key(self, key: str) -> str:
        return f"{key}@{self.connection}"

    @staticmethod
    def _bulk_key(key: str) -> str:
        return f"{key}#bulk"

    def acquire(self, key: str) -> float:
        waited = self.part.acquire(self._part_key(key)) if self.part is not None else 0.0
        if self.bulk is not None and handling_bulk():
            waited += self.bulk.acquire(self._bulk_key(key))
        return waited + self.whole.acquire(key)

    def release(self, key: str) -> None:
        if self.part is not None:
            self.part.release(self._part_key(key))
        if self.bulk is not None:
            # A no-op when this thread's call took no bulk slot (a live message).
            self.bulk.release(self._bulk_key(key))
        self.whole.release(key)

    def hold_until(self, key: str, seconds_from_now: float) -> None:
        self.whole.hold_until(key, seconds_from_now)
