"""What ``--connection`` names, found in the store (declared in ``ops/options.py``), and a
connection's API clients: lookups many commands share, without click.

* :func:`the_connection`: the connection a command works on; the only active one when none
  is named.
* :func:`chosen_connections`: the named connection, or every active one.
* :func:`connection_filter`: the id to filter rows by, or None for every row (removed
  connections' and orphans' rows too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from config import Settings
from store import connections
from store.api_clients import ApiClients, ClientCache
from store.connections import Connection, UnknownConnection
from store.db import Pool


def the_connection(pool: Pool, name: str | None) -> Connection:
    """The connection by name or id; with none given, the only active one."""
    if name:
        try:
            return connections.find(pool, name)
        except UnknownConnection:
            names = ", ".join(c.name for c in connections.active(pool)) or "none yet"
            raise UnknownConnection(
                f"there is no connection named {name!r} (connections: {names})"
            ) from None
    active = connections.active(pool)
    if len(active) == 1:
        return active[0]
    if not active:
        raise UnknownConnection(
            "there is no connection yet: run `koppel connect sandbox` or `koppel connect live`"
        )
    names = ", ".join(c.name for c in active)
    raise UnknownConnection(
        f"there are {len(active)} connections ({names}): choose one with --connection"
    )


def chosen_connections(pool: Pool, name: str | None) -> list[Connection]:
    """The named connection, or every active one (paused ones too) when none is named."""
    return connections.named(pool, name)


def connection_filter(pool: Pool, name: str | None) -> uuid.UUID | None:
    """The named connection's id (removed ones are found too), or None: every row."""
    return connections.find(pool, name).id if name else None


@contextmanager
def connection_clients(
    settings: Settings, pool: Pool, connection: Connection
) -> Iterator[ApiClients]:
    """The connection's Teamleader and Visma clients, closed afterwards."""
    cache = ClientCache(settings, pool)
    try:
        yield cache.for_connection(connection)
    finally:
        cache.close()
