"""Running the backfill, without click: lower the connection's ``sync_from``, consume in this
process, publish what is not done yet a window at a time while following the outcomes, and
say which documents failed.

Publishing goes the poller's way (confirmed publish, then ``messages`` and the history), with
the poller's dedupe keys: a version already recorded is not published again — unless it
has waited without an outcome for :data:`producers.poller.REPUBLISH_UNFINISHED_AFTER_S`
(should a queue have lost it). So a backfill stopped halfway and started again publishes
only what has no message yet; what it published before is still in RabbitMQ, and the
consumers post each document once (``store.writes``), whoever runs them.

At most ``backfill_window`` of a run's messages are in RabbitMQ without an outcome at once
(:func:`publish_in_window`), so backfills of many connections share the consumers evenly.
Following counts this run's documents with an outcome in ``messages`` (the consumers
record them), as a progress bar with the rate and the time left.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from types import FrameType

import dramatiq
from rich.progress import Progress, TaskID

from config import Settings
from config.errors import TryLater
from consumers.all import load
from consumers.app import get_broker
from contracts import queues
from contracts.broker import Lane, make_broker, publish
from contracts.messages import SyncMessage
from ops.backfill.plan import Planned
from producers.poller import REPUBLISH_UNFINISHED_AFTER_S, record_sent
from store import connections, document_history, failures, message_log
from store.connections import Connection
from store.db import Pool
from store.failures import Failure

#: The queues the backfill's documents go through.
QUEUES = (queues.INVOICES, queues.CREDIT_NOTES)
#: How often the window's outcomes are counted (seconds): often enough that a window of
#: ``backfill_window`` messages never runs dry between two looks at the machine's pace.
WINDOW_LOOK_S = 0.25
#: How long the in-process worker may take to finish the messages in hand when the backfill
#: stops (milliseconds, Dramatiq's unit); past it they are left unacknowledged, and RabbitMQ
#: hands them out again (each posts once whoever runs it).
WORKER_STOP_TIMEOUT_MS = 15_000
#: Give up following when no document got an outcome for this long (seconds): nothing is
#: consuming (``--no-workers`` without ``koppel work``?) or a service is down for good.
STALL_TIMEOUT_S = 600.0


class Stalled(TryLater):
    """No document got an outcome for :data:`STALL_TIMEOUT_S`; the message says what to do."""


@dataclass(frozen=True)
class Published:
    #: Every document's message (dedupe key) this run waits for, in publishing order.
    keys: list[str]
    #: How many of them this run published (the others were recorded before).
    published: int


def publish_planned(
    pool: Pool,
    broker: dramatiq.Broker,
    connection_id: uuid.UUID,
    planned: Sequence[Planned],
    stop: threading.Event | None = None,
) -> Published:
    """Publish every message not recorded yet, at once (a backlog as deep as the plan; the
    backfill itself keeps a window, :func:`publish_in_window`). Each is recorded right after
    RabbitMQ confirmed it (an interruption loses at most the record of one, which the next
    run publishes again: a second message of one version, handled once by the consumer). A
    ``stop`` set meanwhile ends it between two messages (:class:`KeyboardInterrupt`)."""
    keys, to_send = _unrecorded(pool, connection_id, planned)
    for message in to_send:
        _publish_one(pool, broker, connection_id, message, stop)
    return Published(keys, len(to_send))


def publish_in_window(
    pool: Pool,
    broker: dramatiq.Broker,
    connection_id: uuid.UUID,
    planned: Sequence[Planned],
    *,
    window: int,
    on_done: Callable[[int], None] = lambda done: None,
    stop: threading.Event | None = None,
    stall_timeout_s: float = STALL_TIMEOUT_S,
) -> Published:
    """Publish the messages not recorded yet, keeping at most ``window`` of them without an
    outcome at once, until every one has an outcome; ``on_done`` hears how many have.

    Why a window: consumers take the bulk lane first come, first served, so while the
    machine (not the rate budgets) is the limit, a connection gets a share of it as large
    as its share of the queued messages. Published all at once, a backfill of 1,000 took
    about ten times the share of nine of 100 on a busy machine (bench/fairness.py: Jain's
    index 0.5), and needed 1,619 s where it now needs 953 s on an idle one. With every
    backfill holding at most ``window`` in RabbitMQ, each gets an even share; and a
    backfill's backlog stays in PostgreSQL's plan, not in RabbitMQ's memory.

    Messages recorded by an earlier run without an outcome count against the window (they
    are still queued). Raises :class:`Stalled` when no message got an outcome for
    ``stall_timeout_s`` and :class:`KeyboardInterrupt` once ``stop`` is set."""
    keys, to_send = _unrecorded(pool, connection_id, planned)
    sending = {m.dedupe_key for m in to_send}
    in_flight = {key for key in keys if key not in sending}
    queue = list(reversed(to_send))
    last_change = time.monotonic()
    while True:
        if in_flight:
            outcomes = message_log.outcomes_of(pool, list(in_flight))
            finished = {key for key in in_flight if outcomes.get(key) is not None}
            if finished:
                in_flight -= finished
                last_change = time.monotonic()
        while queue and len(in_flight) < window:
            message = queue.pop()
            _publish_one(pool, broker, connection_id, message, stop)
            in_flight.add(message.dedupe_key)
        on_done(len(keys) - len(queue) - len(in_flight))
        if not queue and not in_flight:
            return Published(keys, len(to_send))
        if time.monotonic() - last_change > stall_timeout_s:
            done = len(keys) - len(queue) - len(in_flight)
            raise Stalled(
                f"no document got an outcome for {stall_timeout_s:.0f} s ({done} of "
                f"{len(keys)} done); are consumers running (`koppel work`)? Run the same "
                "backfill again to go on."
            )
        if stop is None:
            time.sleep(WINDOW_LOOK_S)
        elif stop.wait(WINDOW_LOOK_S):
            raise KeyboardInterrupt


def _unrecorded(
    pool: Pool, connection_id: uuid.UUID, planned: Sequence[Planned]
) -> tuple[list[str], list[SyncMessage]]:
    """The plan's dedupe keys, and its messages not recorded yet (to publish)."""
    wanted: list[SyncMessage] = [document.message(connection_id) for document in planned]
    keys = [m.dedupe_key for m in wanted]
    recorded = message_log.already_recorded(pool, keys, REPUBLISH_UNFINISHED_AFTER_S)
    return keys, [m for m in wanted if m.dedupe_key not in recorded]


def _publish_one(
    pool: Pool,
    broker: dramatiq.Broker,
    connection_id: uuid.UUID,
    message: SyncMessage,
    stop: threading.Event | None,
) -> None:
    """Publish one message in the bulk lane and record it (the poller's way)."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt
    publishing_at = document_history.database_now(pool)
    # Bulk: served after every connection's live changes (contracts/broker.py).
    publish(broker, message, Lane.BULK)
    record_sent(pool, connection_id, [message], publishing_at, backfill=True)


def run_in_phases(
    pool: Pool,
    make_broker: Callable[[], dramatiq.Broker],
    connection_id: uuid.UUID,
    planned: Sequence[Planned],
    progress: Progress,
    *,
    window: int,
    stop: threading.Event | None = None,
) -> int:
    """Publish and follow the invoices, then the credit notes, ``window`` at a time
    (:func:`publish_in_window`); the number published now. A ``stop`` set meanwhile ends it
    at the next message or look (:class:`KeyboardInterrupt`).

    A credit note needs its invoice's Visma number: published together, the credit notes
    would wait (in Dramatiq's delay queue) until their invoices are posted, so they go once
    every invoice of the run has an outcome."""
    task = progress.add_task("posting", total=len(planned))
    phases = [
        [d for d in planned if d.document_type == "invoice"],
        [d for d in planned if d.document_type != "invoice"],
    ]
    done_before = 0
    published = 0
    for phase in phases:
        if not phase:
            continue
        broker = make_broker()
        try:
            result = publish_in_window(
                pool,
                broker,
                connection_id,
                phase,
                window=window,
                on_done=partial(_show_done, progress, task, done_before),
                stop=stop,
            )
        finally:
            broker.close()
        published += result.published
        done_before += len(phase)
    return published


def _show_done(progress: Progress, task: TaskID, before: int, done: int) -> None:
    """The progress bar counts the earlier phases' documents and this one's done so far."""
    progress.update(task, completed=before + done)


def lower_sync_from(pool: Pool, connection: Connection, start: date) -> bool:
    """Let the connection sync from ``start`` when it began later (the consumers refuse a
    credit note of an invoice before ``sync_from``); True when it changed."""
    if start >= connection.sync_from:
        return False
    connections.update(pool, connection.id, sync_from=start)
    return True


@contextmanager
def consuming(settings: Settings, threads: int | None) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker on the backfill's queues in this process, stopped after the block."""
    worker = dramatiq.Worker(
        get_broker(),
        queues=set(load(list(QUEUES))),
        worker_threads=threads or settings.worker_threads,
        worker_timeout=100,
    )
    try:
        worker.start()
        yield worker
    finally:
        worker.stop(timeout=WORKER_STOP_TIMEOUT_MS)


def post(
    settings: Settings,
    pool: Pool,
    connection: Connection,
    planned: Sequence[Planned],
    progress: Progress,
    stop: threading.Event | None = None,
) -> int:
    """Publish and follow the documents (:func:`run_in_phases`); the number published now."""
    return run_in_phases(
        pool,
        lambda: make_broker(settings),
        connection.id,
        planned,
        progress,
        window=settings.backfill_window,
        stop=stop,
    )


def keys_of(connection: Connection, planned: Sequence[Planned]) -> list[str]:
    """The dedupe keys of the documents' messages, in their order."""
    return [document.message(connection.id).dedupe_key for document in planned]


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) or SIGTERM sets, for the work to stop at a point of its
    choosing. A KeyboardInterrupt raised wherever the signal lands could interrupt pika in
    the middle of a publish, after which closing its connection waited for an answer that
    never came (a backfill stopped with Ctrl-C hung, under load, in the suite)."""
    requested = threading.Event()

    def request(signum: int, frame: FrameType | None) -> None:
        requested.set()

    before = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the backfill the way Ctrl-C does (a KeyboardInterrupt in this thread)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def outcome_counts(outcomes: dict[str, str | None], keys: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        name = outcomes.get(key) or "waiting"
        counts[name] = counts.get(name, 0) + 1
    return counts


def counts_of(pool: Pool, keys: Sequence[str]) -> dict[str, int]:
    """Outcome → how many of these messages have it (``waiting``: none yet)."""
    return outcome_counts(message_log.outcomes_of(pool, keys), keys)


def failed_documents(
    pool: Pool, connection: Connection, planned: Sequence[Planned]
) -> list[tuple[Failure, str]]:
    """The open dead letters of these documents, each with the document it is about."""
    keys = keys_of(connection, planned)
    ours = set(keys)
    failed = [
        failure
        for failure in failures.listing(pool, connection_id=connection.id, statuses=("open",))
        if failure.dedupe_key in ours
    ]
    posted = dict(zip(keys, planned, strict=True))
    labelled: list[tuple[Failure, str]] = []
    for failure in failed:
        document = posted.get(failure.dedupe_key or "")
        label = (
            f"{document.label} ({document.id})"
            if document
            else f"{failure.document_type} {failure.document_id}"
        )
        labelled.append((failure, label))
    return labelled
