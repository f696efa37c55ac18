"""``koppel sync --once``: one poll, then consume in this process until everything settled."""

from __future__ import annotations

import sys
import time

import click
import dramatiq
from rich.console import Console
from rich.table import Table

from config import get_settings
from contracts.broker import make_broker
from store import connections, messages
from store.api_clients import ClientCache
from store.db import open_pool

#: Give up waiting for the queues after this long (seconds); retries with backoff (a credit
#: note waiting for its invoice) can take a while.
SETTLE_TIMEOUT_S = 600.0


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="One poll, then drain the queues.")
@click.option("--connection", "connection_name", default=None, help="Only this connection.")
@click.option("--threads", type=int, default=None, help="Worker threads (KOPPEL_WORKER_THREADS).")
def sync_command(once: bool, connection_name: str | None, threads: int | None) -> None:
    """Poll every connection once and process what it found; exit 1 if anything failed."""
    from consumers.all import load
    from consumers.app import broker as consumer_broker
    from producers.poller import poll_all

    settings = get_settings()
    console = Console()
    pool = open_pool(settings, name="koppel-sync")
    chosen = connections.find(pool, connection_name) if connection_name else None
    publisher = make_broker(settings)
    cache = ClientCache(settings, pool)
    names = load()
    worker = dramatiq.Worker(
        consumer_broker,
        queues=set(names),
        worker_threads=threads or settings.worker_threads,
        worker_timeout=100,
    )
    worker.start()
    try:
        reports = poll_all(settings, pool, publisher, cache, connection=chosen)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while messages.waiting(pool, chosen.id if chosen else None) > 0:
            if time.monotonic() > deadline:
                raise click.ClickException("the queues did not drain in time")
            time.sleep(0.2)
    finally:
        worker.stop()
        publisher.close()
        cache.close()
    failed = 0
    for connection in [chosen] if chosen else connections.active(pool):
        table = Table(title=f"{connection.name}: documents")
        counts = messages.document_outcomes(pool, connection.id)
        columns = ("seen", "posted", "updated", "unchanged", "skipped", "attention", "failed")
        table.add_column("type")
        for column in columns:
            table.add_column(column, justify="right")
        for kind, row in sorted(counts.items()):
            table.add_row(kind, *(str(row.get(c, 0)) for c in columns))
            failed += row.get("failed", 0)
        console.print(table)
    poll_errors = sum(1 for report in reports for stream in report.streams if stream.error)
    pool.close()
    if failed or poll_errors:
        console.print(f"{failed} failed, {poll_errors} poll errors: see `koppel dlq list`")
        sys.exit(1)
