"""The rate budget in PostgreSQL keeps every process of a connection under one limit.

Two "processes" here are two pools with their own :class:`SharedRateBudget` instances, each
called from several threads; after each acquire the call is counted by the simulators' own
sliding window (what the server would do), which must never refuse one.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from sandbox.ratelimit import SlidingWindow
from store.db import open_pool
from store.rate_budget import SharedRateBudget, Turn, TurnLater, deferring

LIMIT = 20
#: The server's window (seconds) and ours, with the same kind of margin as the settings'
#: 61 s against 60 s: a call is stamped before the server sees it.
SERVER_WINDOW_S = 0.5
CLIENT_WINDOW_S = 0.55


def _hammer(budgets: list[SharedRateBudget], calls_each: int, key: str) -> tuple[list[bool], float]:
    server = SlidingWindow(LIMIT, SERVER_WINDOW_S)
    verdicts: list[bool] = []
    lock = threading.Lock()

    def worker(budget: SharedRateBudget) -> None:
        for _ in range(calls_each):
            budget.acquire(key)
            verdict = server.hit(key)
            budget.release(key)
            with lock:
                verdicts.append(verdict.allowed)

    threads = [
        threading.Thread(target=worker, args=(budget,)) for budget in budgets for _ in range(3)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return verdicts, time.monotonic() - started


def test_two_processes_sharing_a_budget_never_exceed_it_in_any_window(
    pool: ConnectionPool, settings: Settings
) -> None:
    other = open_pool(settings, name="koppel-test-other")
    try:
        budgets = [
            SharedRateBudget(pool, LIMIT, CLIENT_WINDOW_S),
            SharedRateBudget(other, LIMIT, CLIENT_WINDOW_S),
        ]
        # 6 threads × 15 calls = 90 calls = 4.5 windows' worth.
        verdicts, elapsed_s = _hammer(budgets, 15, "connection-a")
    finally:
        other.close()
    assert len(verdicts) == 90
    assert all(verdicts), f"the server refused {verdicts.count(False)} of 90 calls"
    # The first 20 go at once, then 20 per window: the 90th no earlier than 4 windows on,
    # and not much later either (the budget is used, not wasted).
    assert 4 * CLIENT_WINDOW_S <= elapsed_s < 4 * CLIENT_WINDOW_S + 1.5


def test_two_separate_in_process_limiters_would_exceed_the_window() -> None:
    """The control: the same load through the per-process limiters is refused."""
    from clients.ratelimit import SlidingWindowLimiter

    server = SlidingWindow(LIMIT, SERVER_WINDOW_S)
    limiters = [SlidingWindowLimiter(LIMIT, CLIENT_WINDOW_S) for _ in range(2)]
    refused = 0
    for _ in range(LIMIT):
        for limiter in limiters:
            limiter.acquire("connection-a")
            refused += not server.hit("connection-a").allowed
    assert refused == LIMIT


def test_a_hold_seen_by_one_process_makes_the_others_wait(
    pool: ConnectionPool, settings: Settings
) -> None:
    other = open_pool(settings, name="koppel-test-other")
    try:
        first = SharedRateBudget(pool, LIMIT, CLIENT_WINDOW_S)
        second = SharedRateBudget(other, LIMIT, CLIENT_WINDOW_S)
        assert second.acquire("connection-b") == 0
        first.hold_until("connection-b", 0.4)
        started = time.monotonic()
        waited_s = second.acquire("connection-b")
        assert waited_s > 0.3
        assert time.monotonic() - started > 0.3
    finally:
        other.close()


def test_keys_have_budgets_of_their_own(pool: ConnectionPool) -> None:
    budget = SharedRateBudget(pool, 1, 60.0)
    assert budget.acquire("connection-c:/v2/customers") == 0
    assert budget.acquire("connection-c:/v2/vouchers") == 0


def test_a_slow_call_while_the_budget_is_tight_keeps_its_slot_until_it_was_answered(
    pool: ConnectionPool,
) -> None:
    """The server counts a call when it arrives: a call that took long to send must not let
    the next one in its slot go a window after it was reserved, but after it was answered."""
    budget = SharedRateBudget(pool, 1, 0.3)
    budget.acquire("connection-d")
    budget.release("connection-d")
    budget.acquire("connection-d")  # the slot was used a moment ago: tight
    time.sleep(0.2)  # a slow send
    budget.release("connection-d")
    answered = time.monotonic()
    budget.acquire("connection-d")
    assert time.monotonic() - answered >= 0.25


def _taken(pool: ConnectionPool, key: str) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT taken FROM rate_budget WHERE key = %s", [key]).fetchone()
    assert row is not None
    return int(row["taken"])


def test_inside_deferring_a_far_turn_is_kept_and_raised_instead_of_slept_and_used_on_return(
    pool: ConnectionPool,
) -> None:
    # Given a key whose one call a window is spent
    budget = SharedRateBudget(pool, 1, 0.6)
    budget.acquire("connection-e")
    budget.release("connection-e")
    # When a handler's call on it may wait at most 0.1 s
    with deferring(0.1), pytest.raises(TurnLater) as later:
        budget.acquire("connection-e")
    # Then it was told to come later instead of being let through (a sleep until the turn
    # would have returned), and it holds the next slot as its turn, about a window away
    turn = later.value.turns["connection-e"]
    assert 0.3 < later.value.wait_s <= 0.6
    assert later.value.delay_s < later.value.wait_s
    assert _taken(pool, "connection-e") == 2
    # And coming back too early, it is told again to come later, with the same turn
    with deferring(0.1, {"connection-e": turn}), pytest.raises(TurnLater) as again:
        budget.acquire("connection-e")
    assert again.value.turns["connection-e"] == turn
    # And coming back at it, the call goes out in that turn without reserving another
    time.sleep(max(0.0, turn.due_at - time.time() - 0.05))
    with deferring(0.1, {"connection-e": turn}):
        waited = budget.acquire("connection-e")
        budget.release("connection-e")
    assert waited <= 0.1
    assert _taken(pool, "connection-e") == 2


def test_a_turn_brought_back_long_after_its_moment_is_given_up_for_a_new_reservation(
    pool: ConnectionPool,
) -> None:
    # Given a turn kept on a key whose one call a window is spent
    budget = SharedRateBudget(pool, 1, 0.3)
    budget.acquire("connection-g")
    budget.release("connection-g")
    with deferring(0.05), pytest.raises(TurnLater) as later:
        budget.acquire("connection-g")
    turn = later.value.turns["connection-g"]
    assert _taken(pool, "connection-g") == 2
    # When the message comes back a second after that turn's moment (a starved worker)
    time.sleep(max(0.0, turn.due_at - time.time()) + 1.0)
    with deferring(5.0, {"connection-g": turn}):
        budget.acquire("connection-g")
        budget.release("connection-g")
    # Then the call did not go out in the stale slot: it reserved a new one, so the ring's
    # plan for the calls after that slot still holds
    assert _taken(pool, "connection-g") == 3


def test_outside_deferring_a_call_still_waits_for_its_moment(pool: ConnectionPool) -> None:
    budget = SharedRateBudget(pool, 1, 0.3)
    with deferring(0.0):
        budget.acquire("connection-f")  # the first call has its moment now
        budget.release("connection-f")
    started = time.monotonic()
    budget.acquire("connection-f")  # a producer or a command: no queue to go back to
    assert time.monotonic() - started >= 0.2


def test_a_turn_a_message_carries_survives_its_json_and_a_bad_one_is_dropped() -> None:
    turn = Turn(3, 1_781_000_000.5)
    assert Turn.from_json(json.loads(json.dumps(turn.as_json()))) == turn
    assert Turn.from_json("3,1781000000") is None
    assert Turn.from_json([3]) is None
