"""Pokes: "poll this connection now", from the webhook receiver to the poller.

The receiver sends ``NOTIFY koppel_poke, '<connection id>'`` through PostgreSQL, which both
processes already reach; the poller LISTENs on a connection of its own and polls the poked
connection at once instead of at its next interval. A poke carries nothing but the id:
the poll reads the changes through the cursors, so a poke lost (the poller restarting) costs
at most one interval, and many pokes for one connection cost one round.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import psycopg

from store.db import Db, run

logger = logging.getLogger(__name__)

CHANNEL = "koppel_poke"
#: How long the listener waits for a notification before it checks whether to stop (s).
LISTEN_TIMEOUT_S = 1.0
#: After losing its PostgreSQL session, the listener connects again after this long (s).
RECONNECT_S = 5.0


def poke(db: Db, connection_id: uuid.UUID) -> None:
    """Ask every running poller to poll ``connection_id`` now."""
    run(db, "SELECT pg_notify(%s, %s)", [CHANNEL, str(connection_id)])


class PokeListener:
    """A thread that collects poked connection ids and calls ``on_poke`` after each."""

    def __init__(self, database_url: str, on_poke: Callable[[], None]) -> None:
        self._database_url = database_url
        self._on_poke = on_poke
        self._poked: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poke-listener", daemon=True)

    def start(self) -> PokeListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=LISTEN_TIMEOUT_S + 5)

    def wait_listening(self, timeout_s: float) -> bool:
        return self._listening.wait(timeout_s)

    def take(self) -> set[uuid.UUID]:
        """The connections poked since the last take."""
        with self._lock:
            poked, self._poked = self._poked, set()
        return poked

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._database_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=LISTEN_TIMEOUT_S):
                            self._add(notice.payload)
            except psycopg.Error as error:
                self._listening.clear()
                logger.warning("poke listener lost PostgreSQL (%s); retrying", error)
                self._stop.wait(RECONNECT_S)

    def _add(self, payload: str) -> None:
        try:
            connection_id = uuid.UUID(payload)
        except ValueError:
            logger.warning("ignoring a poke that is not a connection id: %r", payload[:80])
            return
        with self._lock:
            self._poked.add(connection_id)
        self._on_poke()
