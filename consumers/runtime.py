"""What a consumer process shares between its worker threads: settings, the database pool,
the API clients per connection and cached reference data."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from config import Settings, get_settings
from store.api_clients import ApiClients, ClientCache
from store.connections import Connection
from store.db import Pool, shared_pool


@dataclass
class Runtime:
    settings: Settings
    pool: Pool
    clients: ClientCache

    def clients_for(self, connection: Connection) -> ApiClients:
        return self.clients.for_connection(connection)


_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    """The process's runtime, made on first use (after Dramatiq forked the worker)."""
    global _runtime
    with _lock:
        if _runtime is None:
            settings = get_settings()
            pool = shared_pool(settings, name="koppel-consumer")
            _runtime = Runtime(settings, pool, ClientCache(settings, pool))
        return _runtime


def use_runtime(chosen: Runtime) -> None:
    """Install a runtime made elsewhere (tests whose clients carry spec-checking hooks)."""
    global _runtime
    reset_runtime()
    with _lock:
        _runtime = chosen


def reset_runtime() -> None:
    """Forget the runtime (tests that change settings between cases)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.clients.close()
        _runtime = None
