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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import psycopg
from rich.console import Console
from rich.text import Text

from config import Settings
from config.unreachable import ServiceUnreachable
from contracts.broker import make_broker
from ops.lookups import chosen_connections
from ops.processes.pacing import RoundPacing
from ops.reconcile.schedule import DailyReconciler
from producers import metrics
from producers.pokes import PokeListener
from producers.poller import STREAMS, PollReport, poll_connection
from store.api_clients import ClientCache, settings_for
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
#: How often a sleeping poller looks whether a round ended (seconds).
ROUND_CHECK_S = 0.05
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


@dataclass(frozen=True)
class Round:
    """One connection's round as the scheduler sees it."""

    #: None when the poller was told to stop before it began.
    report: PollReport | None
    #: ``time.monotonic()`` when it ended.
    finished: float
    #: All its streams on its interval (a poke's round reads only the poked streams).
    whole: bool


def poll_one(
    settings: Settings,
    pool: Pool,
    cache: ClientCache,
    connection: Connection,
    streams: Sequence[str] | None,
    interval_s: float | None,
    stop: threading.Event,
) -> Round:
    """One connection's round on a broker of its own: all its streams on ``interval_s``,
    or only ``streams`` (a poke)."""
    streams_of = {connection.id: streams} if streams is not None else None
    intervals = {connection.id: interval_s} if interval_s is not None else None
    reports = poll_due(settings, pool, cache, [connection], stop, streams_of, intervals)
    return Round(reports[0] if reports else None, time.monotonic(), streams is None)


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
    after a quiet round (ops/reconcile/schedule.py).

    Each connection keeps its own schedule: its round runs on one of ``poll_threads``
    threads, and its next is due an interval after it ended. The loop never waits for a
    round, so a connection whose round is slow (its calls wait on its rate budget, its API
    is slow) delays no other connection's round (docs/architecture.md#many-connections).
    """
    next_due: dict[uuid.UUID, float] = {}  # time.monotonic() seconds
    woken = woken or threading.Event()
    ended = threading.Event()  # a round ended: look at once, no settling
    running: dict[uuid.UUID, Future[Round]] = {}
    waiting_pokes: dict[uuid.UUID, set[str]] = {}  # poked while their round ran
    failed_rounds = 0  # rounds PostgreSQL failed in a row
    pacing = RoundPacing(settings.poll_budget_share)
    with ThreadPoolExecutor(settings.poll_threads, thread_name_prefix="poll") as executor:
        while not stop.is_set():
            wake = time.monotonic() + MAX_SLEEP_S
            try:
                ended.clear()
                failed_rounds, published = _collect(
                    settings, running, next_due, console, interval_s, failed_rounds, pacing
                )
                # A paused or removed connection is not polled, and pokes for it are dropped.
                chosen = [c for c in chosen_connections(pool, connection_name) if c.syncing]
                if daily is not None and published:
                    # Only after rounds that ended: which of them found nothing is the news.
                    ended_now = [c for c in chosen if c.id in published]
                    busy = {c.id for c in ended_now if published[c.id]}
                    for name in daily.consider(ended_now, busy):
                        console.print(f"{name}: daily reconciliation started")
                now = time.monotonic()
                for connection_id, poked in (pokes.take() if pokes is not None else {}).items():
                    waiting_pokes.setdefault(connection_id, set()).update(poked)
                for connection in chosen:
                    if connection.id in running:
                        continue
                    every = float(interval_s or connection.poll_interval_s)
                    streams: list[str] | None
                    if next_due.get(connection.id, now) <= now:
                        waiting_pokes.pop(connection.id, None)
                        streams, interval = None, every
                    elif connection.id in waiting_pokes:
                        # Poked, not due: only the poked streams; the interval keeps its time.
                        streams, interval = sorted(waiting_pokes.pop(connection.id)), None
                    else:
                        continue
                    future = executor.submit(
                        poll_one, settings, pool, cache, connection, streams, interval, stop
                    )
                    future.add_done_callback(lambda _: ended.set())
                    running[connection.id] = future
                idle = [next_due.get(c.id, now) for c in chosen if c.id not in running]
                wake = min(idle, default=wake)
            except (psycopg.Error, ServiceUnreachable) as error:
                failed_rounds += 1
                wake = time.monotonic() + _database_failed(console, error, failed_rounds)
            _sleep(stop, woken, min(max(wake - time.monotonic(), 0.0), MAX_SLEEP_S), ended)
        # The rounds in hand finish (the executor waits for them); their summaries print.
        for future in running.values():
            future.exception()
        _collect(settings, running, next_due, console, interval_s, failed_rounds, pacing)


def _collect(
    settings: Settings,
    running: dict[uuid.UUID, Future[Round]],
    next_due: dict[uuid.UUID, float],
    console: Console,
    interval_s: float | None,
    failed_rounds: int,
    pacing: RoundPacing,
) -> tuple[int, dict[uuid.UUID, bool]]:
    """Take the rounds that ended: schedule each connection's next (an interval on, or
    later when its rounds spent their share of its Teamleader budget), print their
    summaries; the rounds PostgreSQL failed in a row so far, and whether each connection
    whose round ended published anything."""
    published: dict[uuid.UUID, bool] = {}
    for connection_id, future in list(running.items()):
        if not future.done():
            continue
        del running[connection_id]
        try:
            ended = future.result()
        except (psycopg.Error, ServiceUnreachable) as error:
            failed_rounds += 1
            retry_s = _database_failed(console, error, failed_rounds)
            next_due[connection_id] = time.monotonic() + retry_s
            continue
        failed_rounds = 0
        if ended.report is None:
            continue
        connection = ended.report.connection
        own = settings_for(settings, connection)
        allowed = pacing.spend(
            connection_id,
            ended.report.teamleader_calls,
            ended.finished,
            own.teamleader_calls_per_window,
            own.teamleader_window_s,
        )
        if ended.whole:
            due = ended.finished + float(interval_s or connection.poll_interval_s)
            if allowed > due and connection_id not in pacing.held_back:
                pacing.held_back.add(connection_id)  # said once per process
                console.print(
                    f"{connection.name}: polled less often than its interval, so that its"
                    f" rounds leave the sync {1 - own.poll_budget_share:.0%} of its"
                    " Teamleader budget (KOPPEL_POLL_BUDGET_SHARE)"
                )
            next_due[connection_id] = max(due, allowed)
        published[connection_id] = any(stream.published for stream in ended.report.streams)
        _print_summary(console, ended.report)
    return failed_rounds, published


def _database_failed(console: Console, error: Exception, failed_rounds: int) -> float:
    """Say PostgreSQL failed a round; the seconds before trying again."""
    retry_s = database_retry_s(failed_rounds)
    when = f"in {retry_s:.1f} s" if retry_s else "now"
    console.print(
        Text(f"PostgreSQL failed during a round ({error}); trying again {when}."),
        style="red",
    )
    return retry_s


def database_retry_s(failed_rounds: int) -> float:
    """The wait before the next round after ``failed_rounds`` rounds in a row failed on
    PostgreSQL: none after the first, then 0.5, 1, 2, 4, 5, 5… s."""
    if failed_rounds <= 1:
        return 0.0
    return min(DATABASE_RETRY_FIRST_S * 2 ** (failed_rounds - 2), DATABASE_RETRY_MAX_S)


def _sleep(
    stop: threading.Event, woken: threading.Event, seconds: float, ended: threading.Event
) -> None:
    """Until ``seconds`` pass, ``stop`` is set, a round ``ended``, or a poke came (then a
    moment longer, so the burst of events one booking makes, booked, sent, updated, becomes
    one round)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or ended.is_set():
            return
        # Short looks: a round that ends is noticed within this many seconds.
        if woken.wait(min(left, ROUND_CHECK_S)):
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
