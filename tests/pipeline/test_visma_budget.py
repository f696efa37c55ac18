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
from store.rate_budget import FairShareBudget

LIMIT = 20
SERVER_WINDOW_S = 0.5
CLIENT_WINDOW_S = 0.55
KEY = "visma:app:/v2/customers"


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
