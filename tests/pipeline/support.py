"""Helpers for pipeline tests (no tests here): publish like the poller, run consumers
in-process on the real broker, and wait until every published message has an outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from psycopg_pool import ConnectionPool

from contracts.broker import publish
from contracts.messages import SyncMessage
from store import messages


def send(pool: ConnectionPool, *sync_messages: SyncMessage) -> None:
    """Publish (confirmed) and record as published, exactly as the poller does."""
    from consumers.app import broker

    for message in sync_messages:
        publish(broker, message)
        messages.record_published(
            pool,
            message.connection_id,
            [
                (
                    message.dedupe_key,
                    message.queue,
                    message.document_type,
                    message.document_id,
                    message.version,
                )
            ],
        )


@contextmanager
def consumers_running(*queue_names: str, threads: int = 4) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker in this process consuming the given queues (all when none)."""
    from consumers.all import load
    from consumers.app import broker

    names = load(list(queue_names) or None)
    worker = dramatiq.Worker(broker, queues=set(names), worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_settled(pool: ConnectionPool, timeout_s: float = 60.0) -> None:
    """Until every recorded message has an outcome (or raise after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while messages.waiting(pool) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{messages.waiting(pool)} messages still waiting")
        time.sleep(0.05)


def outcome(pool: ConnectionPool, message: SyncMessage) -> str | None:
    return messages.outcome_of(pool, message.dedupe_key)
