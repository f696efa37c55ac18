"""Pokes: "poll this stream of this connection now", from the webhook receiver to the poller.

The receiver sends ``NOTIFY koppel_poke, '<connection id> <stream>'`` through PostgreSQL,
which both processes already reach; the poller LISTENs on a connection of its own and polls
the poked stream at once instead of at the connection's next interval. A poke carries
nothing but names: the poll reads the changes through the cursors, so a poke lost (the
poller restarting) costs at most one interval, and many pokes for one stream cost one poll.
Only the poked stream is read: one Teamleader call per event, not a whole round's four
(Teamleader allows 200 calls a minute per account).

The receiver sends at most one poke per ``webhook_poke_gap_s`` for a connection's stream
(:class:`GappedPoker`): a poke within the gap is not lost but joins one trailing poke at the
gap's end, so a flood of valid events costs one poll per gap, and a change behind any of
them is still read within the gap and the poller's settle time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

import psycopg

from config.unreachable import ServiceUnreachable
from contracts.streams import POKEABLE
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


#: What the gap is kept per: a connection's stream.
PokeKey = tuple[uuid.UUID, str]


class PokeGap:
    """When each (connection, stream) may be poked next: at most once per ``gap_s``.

    :meth:`ask` answers 0 (poke now), a delay (nothing is waiting: poke once after it, then
    call :meth:`sent`), or None (a poke is already waiting: this one joins it)."""

    #: Past this many keys, the ones whose gap is over are forgotten (they would poke at
    #: once anyway), so the table stays the size of what is poked within a gap.
    PRUNE_AT = 4096

    def __init__(self, gap_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.gap_s = gap_s
        self._clock = clock
        self._last: dict[PokeKey, float] = {}
        self._waiting: set[PokeKey] = set()

    def ask(self, key: PokeKey) -> float | None:
        if key in self._waiting:
            return None
        now = self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self.gap_s:
            if len(self._last) >= self.PRUNE_AT:
                self._prune(now)
            self._last[key] = now
            return 0.0
        self._waiting.add(key)
        return last + self.gap_s - now

    def sent(self, key: PokeKey) -> None:
        """The waiting poke of ``key`` went: the next gap starts now."""
        self._waiting.discard(key)
        self._last[key] = self._clock()

    def _prune(self, now: float) -> None:
        for key in [k for k, at in self._last.items() if now - at >= self.gap_s]:
            if key not in self._waiting:
                del self._last[key]


class GappedPoker:
    """:func:`poke` for an asyncio server, at most once per gap per connection's stream (the
    rest of a burst becomes one trailing poke at the gap's end); PostgreSQL off the loop."""

    def __init__(self, db: Db, gap_s: float) -> None:
        self._db = db
        self._gap = PokeGap(gap_s)
        self._trailing: dict[PokeKey, asyncio.Task[None]] = {}
        #: Set at shutdown: every waiting poke goes at once instead of being dropped.
        self._flushing = asyncio.Event()

    async def poke(self, connection_id: uuid.UUID, stream: str) -> float | None:
        """Seconds until this poke goes (0: it went), or None when it joined one waiting."""
        key = (connection_id, stream)
        delay = self._gap.ask(key)
        if delay == 0:
            await asyncio.to_thread(poke, self._db, connection_id, stream)
        elif delay is not None:
            self._trailing[key] = asyncio.create_task(self._trail(key, delay))
        return delay

    async def flush(self) -> None:
        """Send every waiting poke now (the server is stopping)."""
        self._flushing.set()
        await asyncio.gather(*self._trailing.values())

    async def _trail(self, key: PokeKey, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushing.wait(), delay)
        self._trailing.pop(key, None)
        self._gap.sent(key)
        try:
            await asyncio.to_thread(poke, self._db, *key)
        except (psycopg.Error, ServiceUnreachable) as error:
            # Nobody waits on this poke: the interval reads the stream in time anyway.
            logger.warning("a delayed poke of %s %s was lost (%s)", key[0], key[1], error)


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
                [stream] if stream in POKEABLE else STREAMS
            )
        self._on_poke()
