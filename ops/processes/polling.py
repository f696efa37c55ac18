"""The poller's loop, without click: poll each connection when it is due or poked, until
told to stop (``koppel poll``; ``koppel sync`` polls one round with :func:`poll_due`).

A RabbitMQ connection is opened for each round and closed after it: pika's blocking
connection answers heartbeats only while it is used, so one held across a 15-minute sleep
would be closed by the server (architecture-anchors §1.7, dramatiq #321).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType

import psycopg
from rich.console import Console
from rich.text import Text

from config import Settings
from config.unreachable import ServiceUnreachable
from contracts.broker import make_broker
from ops.lookups import chosen_connections
from ops.reconcile.schedule import DailyReconciler
from producers import metrics
from producers.pokes import PokeListener
from producers.poller import STREAMS, PollReport, poll_connection
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool

#: The longest sleep between looks at the connections table (seconds), so a connection added
#: or re-activated while the poller runs is polled within a minute.
MAX_SLEEP_S = 60.0
#: After PostgreSQL failed a round, the next is tried at once: the pool hands out a new
#: connection for one a server restart broke. When that round fails too, the database is
#: really down, and the rounds wait this long (s), doubling up to the maximum.
DATABASE_RETRY_FIRST_S = 0.5
DATABASE_RETRY_MAX_S = 5.0
#: How often a sleeping poller looks whether it was told to stop (seconds).
STOP_CHECK_S = 0.5
#: After a webhook's poke, wait this long for the rest of its burst before polling (s).
POKE_SETTLE_S = 0.3


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT; the round in hand finishes, then the loop ends."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def poll_due(
    settings: Settings,
    pool: Pool,
    cache: ClientCache,
    due: list[Connection],
    stop: threading.Event | None = None,
    streams_of: Mapping[uuid.UUID, Sequence[str]] | None = None,
    intervals: Mapping[uuid.UUID, float] | None = None,
) -> list[PollReport]:
    """One round of each of these connections over a broker opened for the round only,
    ``settings.poll_threads`` connections at a time; the reports in the order of ``due``.
    A connection in ``streams_of`` polls only those streams (a webhook's poke); one in
    ``intervals`` records that interval with its round (none given: a one-off round)."""
    # Not checked up front: a broker that is down fails each stream with messages to
    # publish, and that error is recorded on its cursor like any other.
    broker = make_broker(settings, check=False)

    def poll(connection: Connection) -> PollReport | None:
        if stop is not None and stop.is_set():
            return None
        streams = (streams_of or {}).get(connection.id, STREAMS)
        report = poll_connection(
            settings,
            pool,
            broker,
            connection,
            cache.for_connection(connection),
            streams,
            (intervals or {}).get(connection.id),
        )
        metrics.observe(report)
        return report

    try:
        # Dramatiq's broker keeps a RabbitMQ connection per thread; close() closes them all.
        with ThreadPoolExecutor(settings.poll_threads, thread_name_prefix="poll") as executor:
            reports = [report for report in executor.map(poll, due) if report is not None]
    finally:
        broker.close()
    return reports


def run_forever(
    settings: Settings,
    pool: Pool,
    cache: ClientCache,
    console: Console,
    stop: threading.Event,
    *,
    connection_name: str | None,
    interval_s: float | None,
    pokes: PokeListener | None = None,
    woken: threading.Event | None = None,
    daily: DailyReconciler | None = None,
) -> None:
    """Poll each connection when it is due, or at once when a webhook poked it (``pokes``
    sets ``woken``), until ``stop`` is set; ``daily`` reconciles each connection once a day
    in a quiet round (ops/reconcile/schedule.py)."""
    next_due: dict[uuid.UUID, float] = {}  # time.monotonic() seconds
    woken = woken or threading.Event()
    failed_rounds = 0  # rounds PostgreSQL failed in a row
    while not stop.is_set():
        try:
            # A paused or removed connection is not polled, and pokes for it are dropped.
            chosen = [c for c in chosen_connections(pool, connection_name) if c.syncing]
            now = time.monotonic()
            poked = pokes.take() if pokes is not None else {}
            whole = [c for c in chosen if next_due.get(c.id, now) <= now]
            # Poked, not due: only the poked streams, and the interval keeps its time.
            partial = {c.id: sorted(poked[c.id]) for c in chosen if c.id in poked}
            for connection in whole:
                partial.pop(connection.id, None)
            due = whole + [c for c in chosen if c.id in partial]
            # Recorded with each round, so `koppel status` shows the interval really used.
            intervals = {c.id: float(interval_s or c.poll_interval_s) for c in due}
            reports = poll_due(settings, pool, cache, due, stop, partial, intervals)
            # One moment for the whole round: stamped one by one while their summaries print,
            # 1,000 connections fell due milliseconds apart and the next round broke into
            # many small ones (each with its own broker, too few to keep the threads busy).
            finished = time.monotonic()
            for report in reports:
                connection = report.connection
                if connection.id not in partial:
                    next_due[connection.id] = finished + (interval_s or connection.poll_interval_s)
                _print_summary(console, report)
            if daily is not None:
                busy = {r.connection.id for r in reports if any(s.published for s in r.streams)}
                for name in daily.consider(chosen, busy):
                    console.print(f"{name}: daily reconciliation started")
            wake = min((next_due.get(c.id, now) for c in chosen), default=now + MAX_SLEEP_S)
            failed_rounds = 0
        except (psycopg.Error, ServiceUnreachable) as error:
            failed_rounds += 1
            retry_s = database_retry_s(failed_rounds)
            when = f"in {retry_s:.1f} s" if retry_s else "now"
            console.print(
                Text(f"PostgreSQL failed during a round ({error}); trying again {when}."),
                style="red",
            )
            wake = time.monotonic() + retry_s
        _sleep(stop, woken, min(max(wake - time.monotonic(), 0.0), MAX_SLEEP_S))


def database_retry_s(failed_rounds: int) -> float:
    """The wait before the next round after ``failed_rounds`` rounds in a row failed on
    PostgreSQL: none after the first, then 0.5, 1, 2, 4, 5, 5… s."""
    if failed_rounds <= 1:
        return 0.0
    return min(DATABASE_RETRY_FIRST_S * 2 ** (failed_rounds - 2), DATABASE_RETRY_MAX_S)


def _sleep(stop: threading.Event, woken: threading.Event, seconds: float) -> None:
    """Until ``seconds`` pass, ``stop`` is set, or a poke came (then a moment longer, so the
    burst of events one booking makes, booked, sent, updated, becomes one round)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if woken.wait(min(left, STOP_CHECK_S)):
            stop.wait(POKE_SETTLE_S)
            woken.clear()
            return


def _print_summary(console: Console, report: PollReport) -> None:
    if report.polled_elsewhere:
        console.print(f"{report.connection.name}: skipped, polled by another poller")
        return
    if report.stopped:
        console.print(f"{report.connection.name}: {report.stopped}, not polled")
        return
    published = ", ".join(f"{s.stream} {s.published}" for s in report.streams if s.published)
    console.print(f"{report.connection.name}: published {published or 'nothing'}")
    for stream in report.streams:
        if stream.error:
            line = f"{report.connection.name} {stream.stream}: {stream.error}"
            console.print(Text(line, style="red"))
    if report.deleted:
        line = (
            f"{report.connection.name}: {len(report.deleted)} deleted in Teamleader"
            " (see koppel dlq list --status attention)"
        )
        console.print(Text(line, style="yellow"))
    if report.deletion_error:
        console.print(Text(f"{report.connection.name} deletions: {report.deletion_error}", "red"))
