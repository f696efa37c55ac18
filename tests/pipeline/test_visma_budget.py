"""Visma's limit counts per application and endpoint (issue 12 §4): every connection of one
OAuth application spends one budget per endpoint, through PostgreSQL, and no connection takes
more than its share of it."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import httpx
from psycopg_pool import ConnectionPool

from config import Settings
from ops.connect.connecting import Connected
from sandbox.ratelimit import SlidingWindow
from store.api_clients import ClientCache
from store.rate_budget import FairShareBudget, start_deferring, stop_deferring

LIMIT = 20
SERVER_WINDOW_S = 0.5
CLIENT_WINDOW_S = 0.55
KEY = "visma:app:/v2/customers"
#: Bulk work of every connection together: at most this share of the endpoint.
BULK_SHARE = 0.8


def test_a_connections_backfill_leaves_the_rest_of_the_endpoint_to_the_others(
    pool: ConnectionPool,
) -> None:
    # Given two connections of one application, each allowed half of an endpoint's budget
    server = SlidingWindow(LIMIT, SERVER_WINDOW_S)
    busy = FairShareBudget(pool, LIMIT, CLIENT_WINDOW_S, connection="busy", share=0.5)
    quiet = FairShareBudget(pool, LIMIT, CLIENT_WINDOW_S, connection="quiet", share=0.5)
    stop = threading.Event()
    refused: list[bool] = []

    def backfill() -> None:
        while not stop.is_set():
            busy.acquire(KEY)
            refused.append(not server.hit(KEY).allowed)
            busy.release(KEY)

    # When one backfills flat out on three threads
    threads = [threading.Thread(target=backfill) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    # Then the other's calls still go at once, and the server refuses none
    waits = []
    for _ in range(LIMIT // 2 - 1):
        waits.append(quiet.acquire(KEY))
        refused.append(not server.hit(KEY).allowed)
        quiet.release(KEY)
    stop.set()
    for thread in threads:
        thread.join()
    assert max(waits) < 0.05
    assert not any(refused)


def test_three_connections_backfilling_leave_another_connections_live_calls_room(
    pool: ConnectionPool,
) -> None:
    # Given three connections of one application, each allowed half of an endpoint, bulk
    # work of all together four fifths of it
    server = SlidingWindow(LIMIT, SERVER_WINDOW_S)
    budgets = [
        FairShareBudget(
            pool, LIMIT, CLIENT_WINDOW_S, connection=name, share=0.5, bulk_share=BULK_SHARE
        )
        for name in ("a", "b", "c", "live")
    ]
    *backfilling, live = budgets
    stop = threading.Event()
    refused: list[bool] = []

    def backfill(budget: FairShareBudget) -> None:
        # Bulk messages' calls, as the turns middleware marks them (no deferring: sleep).
        start_deferring(60.0, bulk=True)
        try:
            while not stop.is_set():
                budget.acquire(KEY)
                refused.append(not server.hit(KEY).allowed)
                budget.release(KEY)
        finally:
            stop_deferring()

    # When the three backfill flat out (half each: 150 % of the endpoint asked for)
    threads = [threading.Thread(target=backfill, args=(b,)) for b in backfilling for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(3 * CLIENT_WINDOW_S)
    # Then the fourth's live calls still go at once, and the server refuses none
    waits = []
    for _ in range(LIMIT // 10):
        waits.append(live.acquire(KEY))
        refused.append(not server.hit(KEY).allowed)
        live.release(KEY)
        time.sleep(CLIENT_WINDOW_S / LIMIT)
    stop.set()
    for thread in threads:
        thread.join()
    assert max(waits) < 0.05, waits
    assert not any(refused)


def test_every_connection_of_an_application_spends_one_budget_per_endpoint(
    pool: ConnectionPool, settings: Settings, connected: Connected
) -> None:
    """Two connections' Visma clients name the same key for the same endpoint; counting per
    company (``visma_rate_scope``) gives each its own."""
    keys: dict[str, list[str]] = {}
    for scope in ("application", "company"):
        scoped = settings.model_copy(update={"visma_rate_scope": scope})
        cache = ClientCache(scoped, pool)
        try:
            found = []
            for _ in range(2):
                connection = replace(connected.connection, id=uuid.uuid4())
                session = cache.for_connection(connection).visma.session
                request = httpx.Request("GET", "http://visma.test/v2/customers/123")
                found.append(session.limit_key(request))
            keys[scope] = found
        finally:
            cache.close()
    assert keys["application"][0] == keys["application"][1]
    assert keys["application"][0].endswith(":/v2/customers/{id}")
    assert keys["company"][0] != keys["company"][1]
