"""The Teamleader and Visma clients of one stored connection.

Producers, consumers and ops all reach the APIs this way: tokens come from PostgreSQL
(decrypted with ``KOPPEL_TOKEN_KEY``), a sandbox connection talks to the simulators, and
every client paces itself through the rate budget in PostgreSQL (``store/rate_budget.py``),
so a budget is counted once however many threads and processes call: Teamleader's per
connection, Visma's per application and endpoint, each connection taking at most its share.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clients.teamleader import TeamleaderClient
from clients.visma import VismaClient
from config import Settings
from store.connections import Connection
from store.db import Pool
from store.rate_budget import FairShareBudget, SharedRateBudget
from store.token_store import PgTokenStore


@dataclass
class ApiClients:
    teamleader: TeamleaderClient
    visma: VismaClient

    def close(self) -> None:
        self.teamleader.close()
        self.visma.close()


def settings_for(settings: Settings, connection: Connection) -> Settings:
    return settings.use_sandbox() if connection.sandbox else settings


#: httpx event hooks per service ("teamleader", "visma"): how tests watch every exchange.
ServiceHooks = Mapping[str, Mapping[str, list[Callable[..., Any]]]]


class ClientCache:
    """One pair of clients per connection for the life of a process (they are thread-safe)."""

    def __init__(
        self, settings: Settings, pool: Pool, *, event_hooks: ServiceHooks | None = None
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._hooks = event_hooks or {}
        self._lock = threading.Lock()
        self._clients: dict[uuid.UUID, ApiClients] = {}

    def for_connection(self, connection: Connection) -> ApiClients:
        with self._lock:
            clients = self._clients.get(connection.id)
            if clients is None:
                clients = self._clients[connection.id] = self._open(connection)
            return clients

    def _open(self, connection: Connection) -> ApiClients:
        settings = settings_for(self._settings, connection)
        key = settings.token_key.get_secret_value()
        # The budget lives in PostgreSQL; these objects only carry the limit (a sandbox
        # connection's windows are scaled like the simulators', see Settings.use_sandbox).
        teamleader_budget = SharedRateBudget(
            self._pool, settings.teamleader_calls_per_window, settings.teamleader_window_s
        )
        visma_budget = FairShareBudget(
            self._pool,
            settings.visma_calls_per_window,
            settings.visma_window_s,
            connection=str(connection.id),
            # Counted per company, the connection's key is its own: nobody to share with.
            share=1.0
            if settings.visma_rate_scope == "company"
            else settings.visma_connection_share,
            bulk_share=settings.visma_bulk_share,
        )
        return ApiClients(
            teamleader=TeamleaderClient(
                settings,
                PgTokenStore(self._pool, connection.id, "teamleader", key),
                str(connection.id),
                limiter=teamleader_budget,
                event_hooks=self._hooks.get("teamleader"),
            ),
            visma=VismaClient.from_settings(
                settings,
                PgTokenStore(self._pool, connection.id, "visma", key),
                connection_id=str(connection.id),
                limiter=visma_budget,
                event_hooks=self._hooks.get("visma"),
            ),
        )

    def close(self) -> None:
        with self._lock:
            for clients in self._clients.values():
                clients.close()
            self._clients.clear()
