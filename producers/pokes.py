"""Pokes: "poll this stream of this connection now", from the webhook receiver to the poller.

The receiver sends ``NOTIFY koppel_poke, '<connection id> <stream>'`` through PostgreSQL,
which both processes already reach; the poller LISTENs on a connection of its own and polls
the poked stream at once instead of at the connection's next interval. A poke carries
nothing but names: the poll reads the changes through the cursors, so a poke lost (the
poller restarting) costs at most one interval, and many pokes for one stream cost one poll.
Only the poked stream is read: one Teamleader call per event, not a whole round's four
(Teamleader allows 200 calls a minute per account).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import psycopg

from producers.poller import STREAMS
from store.db import Db, run

logger = logging.getLogger(__name__)

CHANNEL = "koppel_poke"
#: How long the listener waits for a notification before it checks whether to stop (s).
LISTEN_TIMEOUT_S = 1.0
#: After losing its PostgreSQL session, the listener connects again after this long (s).
RECONNECT_S = 5.0


#: Connection id → the streams poked since the last take.
Poked = dict[uuid.UUID, set[str]]


def poke(db: Db, connection_id: uuid.UUID, stream: str) -> None:
    """Ask every running poller to poll ``stream`` of ``connection_id`` now."""
    run(db, "SELECT pg_notify(%s, %s)", [CHANNEL, f"{connection_id} {stream}"])


class PokeListener:
    """A thread that collects the poked streams by connection and calls ``on_poke`` after
    each poke (the poller's wake-up)."""

    def __init__(self, database_url: str, on_poke: Callable[[], None]) -> None:
        self._database_url = database_url
        self._on_poke = on_poke
        self._poked: Poked = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poke-listener", daemon=True)

    def start(self) -> PokeListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=LISTEN_TIMEOUT_S + 5)

    def take(self) -> Poked:
        """The streams poked since the last take, by connection."""
        with self._lock:
            poked, self._poked = self._poked, {}
        return poked

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._database_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=LISTEN_TIMEOUT_S):
                            self._add(notice.payload)
            except psycopg.Error as error:
                logger.warning("poke listener lost PostgreSQL (%s); retrying", error)
                self._stop.wait(RECONNECT_S)

    def _add(self, payload: str) -> None:
        text, _, stream = payload.partition(" ")
        try:
            connection_id = uuid.UUID(text)
        except ValueError:
            logger.warning("ignoring a poke that is not a connection id: %r", payload[:80])
            return
        with self._lock:
            # A stream this poller does not know (a newer receiver): poll them all.
            self._poked.setdefault(connection_id, set()).update(
                [stream] if stream in STREAMS else STREAMS
            )
        self._on_poke()
