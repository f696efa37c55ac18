"""Running the backfill, without click: lower the connection's ``sync_from``, consume in this
process, publish what is not done yet, follow the outcomes, and say which documents failed.

Publishing goes the poller's way (confirmed publish, then ``messages`` and the history), with
the poller's dedupe keys: a version already recorded is not published again — unless it
has waited without an outcome for :data:`producers.poller.REPUBLISH_UNFINISHED_AFTER_S`
(should a queue have lost it). So a backfill stopped halfway and started again publishes
only what has no message yet; what it published before is still in RabbitMQ, and the
consumers post each document once (``store.writes``), whoever runs them.

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
#: How often the outcomes are counted (seconds).
FOLLOW_INTERVAL_S = 0.5
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
    """Publish the messages not recorded yet, each recorded right after RabbitMQ confirmed
    it (an interruption loses at most the record of one, which the next run publishes
    again: a second message of one version, handled once by the consumer). A ``stop`` set
    meanwhile ends it between two messages (:class:`KeyboardInterrupt`)."""
    wanted: list[SyncMessage] = [document.message(connection_id) for document in planned]
    keys = [m.dedupe_key for m in wanted]
    recorded = message_log.already_recorded(pool, keys, REPUBLISH_UNFINISHED_AFTER_S)
    count = 0
    for message in wanted:
        if message.dedupe_key in recorded:
            continue
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        publishing_at = document_history.database_now(pool)
        # Bulk: served after every connection's live changes (contracts/broker.py).
        publish(broker, message, Lane.BULK)
        record_sent(pool, connection_id, [message], publishing_at, backfill=True)
        count += 1
    return Published(keys, count)


def follow(
    pool: Pool,
    keys: Sequence[str],
    progress: Progress,
    task: TaskID,
    *,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> None:
    """Until every key has an outcome, the task showing how many have. Raises
    :class:`Stalled` when none got one for ``stall_timeout_s``, and
    :class:`KeyboardInterrupt` once ``stop`` is set."""
    done = -1
    last_change = time.monotonic()
    while True:
        outcomes = message_log.outcomes_of(pool, keys)
        now_done = sum(1 for key in keys if outcomes.get(key) is not None)
        if now_done != done:
            done, last_change = now_done, time.monotonic()
            progress.update(task, completed=done)
        if done >= len(keys):
            return
        if time.monotonic() - last_change > stall_timeout_s:
            raise Stalled(
                f"no document got an outcome for {stall_timeout_s:.0f} s ({done} of "
                f"{len(keys)} done); are consumers running (`koppel work`)? Run the same "
                "backfill again to go on."
            )
        if stop is None:
            sleep(FOLLOW_INTERVAL_S)
        elif stop.wait(FOLLOW_INTERVAL_S):
            raise KeyboardInterrupt


def run_in_phases(
    pool: Pool,
    make_broker: Callable[[], dramatiq.Broker],
    connection_id: uuid.UUID,
    planned: Sequence[Planned],
    progress: Progress,
    stop: threading.Event | None = None,
) -> int:
    """Publish and follow the invoices, then the credit notes; the number published now.
    A ``stop`` set meanwhile ends it at the next message or look (:class:`KeyboardInterrupt`).

    A credit note needs its invoice's Visma number: published together, the credit notes
    would be retried (with backoff, using up their retries) until their invoices are
    posted, so they go once every invoice of the run has an outcome."""
    task = progress.add_task("posting", total=len(planned))
    phases = [
        [d for d in planned if d.document_type == "invoice"],
        [d for d in planned if d.document_type != "invoice"],
    ]
    followed: list[str] = []
    published = 0
    for phase in phases:
        if not phase:
            continue
        broker = make_broker()
        try:
            result = publish_planned(pool, broker, connection_id, phase, stop)
        finally:
            broker.close()
        published += result.published
        followed += result.keys
        follow(pool, followed, progress, task, stop=stop)
    return published


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
        pool, lambda: make_broker(settings), connection.id, planned, progress, stop
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
