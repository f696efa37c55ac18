"""``koppel sync --once``: one poll, then consume in this process until everything settled."""

from __future__ import annotations

import sys
import time

import click
import dramatiq
from rich.text import Text

from config import get_settings
from consumers.all import load
from consumers.app import get_broker
from ops.console import new_console, shown
from ops.lookups import chosen_connections
from ops.options import only_connection_option
from ops.processes.outcome_table import outcome_table
from ops.processes.polling import poll_due
from store import document_history, failures, message_log
from store.api_clients import ClientCache
from store.db import open_pool

#: Give up waiting for the queues after this long (seconds); retries with backoff (a credit
#: note waiting for its invoice) can take a while.
SETTLE_TIMEOUT_S = 600.0


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="One poll, then drain the queues.")
@only_connection_option
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Worker threads (KOPPEL_WORKER_THREADS).",
)
def sync_command(once: bool, connection_name: str | None, threads: int | None) -> None:
    """Poll every connection once and process what it found; exit 1 if anything failed."""
    settings = get_settings()
    console = new_console()
    pool = open_pool(settings, name="koppel-sync")
    chosen = chosen_connections(pool, connection_name)
    cache = ClientCache(settings, pool)
    names = load()
    worker = dramatiq.Worker(
        get_broker(),
        queues=set(names),
        worker_threads=threads or settings.worker_threads,
        worker_timeout=100,
    )
    # PostgreSQL's clock: the outcomes it is compared with are stamped by it.
    started = document_history.database_now(pool)
    worker.start()
    try:
        reports = poll_due(settings, pool, cache, chosen)
        # Only what this round published: older leftovers must not keep it waiting.
        ids = [connection.id for connection in chosen]
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while message_log.waiting(pool, ids, since=started) > 0:
            if time.monotonic() > deadline:
                raise click.ClickException("the queues did not drain in time")
            time.sleep(0.2)
    finally:
        worker.stop()
        cache.close()
    for connection in chosen:
        counts = message_log.document_outcomes(pool, connection.id, since=started)
        console.print(outcome_table(counts, f"{connection.name}: this round"))
    # What still needs a person: a failure whose document later succeeded is resolved.
    still_open = [
        failure
        for connection in chosen
        for failure in failures.listing(pool, connection_id=connection.id, statuses=("open",))
    ]
    for failure in still_open:
        console.print(Text("failed: ", style="red") + Text(shown(failure.reason)))
    poll_errors = [stream.error for report in reports for stream in report.streams if stream.error]
    for error in poll_errors:
        console.print(Text("poll error: ", style="red") + Text(shown(str(error))))
    pool.close()
    if still_open or poll_errors:
        console.print(f"{len(still_open)} failed, {len(poll_errors)} poll errors")
        sys.exit(1)
