"""``koppel poll``: the producer process — read changes from both APIs, publish them.

``--once`` polls every (or the named) connection one round and prints a table per
connection; it exits 1 when any stream failed. Without it the command runs until SIGTERM or
SIGINT, polling each connection when it is due (its ``poll_interval_s``, or
``--interval-s``) and sleeping in between, and serves Prometheus metrics on
``KOPPEL_METRICS_PORT`` (``producers/metrics.py``). The loop is ``ops/processes/polling.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.console import new_console
from ops.lookups import chosen_connections
from ops.options import only_connection_option
from ops.processes.polling import poll_due, run_forever, stop_on_signals
from ops.reconcile.run import Reconciled
from ops.reconcile.schedule import DailyReconciler
from producers import metrics
from producers.pokes import PokeListener
from producers.poller import PollReport
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import open_pool


def report_table(report: PollReport) -> Table:
    elsewhere = " — polled by another poller, skipped" if report.polled_elsewhere else ""
    if report.stopped:
        elsewhere = f" — {report.stopped}, not polled"
    table = Table(title=f"{report.connection.name} ({report.connection.id}){elsewhere}")
    table.add_column("stream")
    table.add_column("seen", justify="right")
    table.add_column("published", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("before start", justify="right")
    table.add_column("malformed", justify="right")
    table.add_column("watermark (UTC)")
    table.add_column("error", overflow="fold")
    for stream in report.streams:
        watermark = stream.watermark.isoformat(timespec="milliseconds") if stream.watermark else ""
        table.add_row(
            stream.stream,
            str(stream.seen),
            str(stream.published),
            str(stream.skipped),
            str(stream.before_start),
            Text(str(stream.malformed), style="red") if stream.malformed else "0",
            watermark,
            Text(stream.error, style="red") if stream.error else "",
        )
    if report.deleted or report.deletion_error:
        # The deletion check: what it found deleted now needs attention (koppel dlq).
        error = report.deletion_error
        table.add_row(
            "deleted in Teamleader",
            str(len(report.deleted)),
            "",
            "",
            "",
            Text(error, style="red") if error else "",
        )
    return table


def _print_reconciled(console: Console) -> Callable[[Connection, Reconciled], None]:
    def printed(connection: Connection, done: Reconciled) -> None:
        console.print(f"{connection.name}: reconciled, {done.result.summary()}")

    return printed


@click.command("poll")
@click.option("--once", is_flag=True, help="One round of each connection, then exit.")
@only_connection_option
@click.option(
    "--interval-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between rounds of a connection (default: its own poll_interval_s).",
)
def poll_command(once: bool, connection_name: str | None, interval_s: float | None) -> None:
    """Publish what changed in Teamleader and Visma; exit 1 after --once if a stream failed."""
    settings = get_settings()
    console = new_console()
    pool = open_pool(settings, name="koppel-poll")
    cache = ClientCache(settings, pool)
    try:
        if once:
            chosen = chosen_connections(pool, connection_name)
            if not chosen:
                console.print("No active connections: create one with koppel connect.")
                return
            reports = poll_due(settings, pool, cache, chosen)
            for report in reports:
                console.print(report_table(report))
            if any(report.failed for report in reports):
                raise SystemExit(1)
            return
        woken = threading.Event()
        # Webhooks (``koppel webhooks serve``) poke a connection to be polled at once.
        pokes = PokeListener(settings.database_url, woken.set).start()
        # Once a day per connection, in a quiet round, sharing its clients' rate budget.
        daily = (
            DailyReconciler(pool, cache, on_done=_print_reconciled(console))
            if settings.reconcile_daily
            else None
        )
        try:
            with stop_on_signals() as stop:
                metrics.serve(settings)
                console.print(
                    "koppel poll: running; SIGTERM or Ctrl-C stops after the round in hand"
                )
                run_forever(
                    settings,
                    pool,
                    cache,
                    console,
                    stop,
                    connection_name=connection_name,
                    interval_s=interval_s,
                    pokes=pokes,
                    woken=woken,
                    daily=daily,
                )
        finally:
            pokes.stop()
            if daily is not None:
                daily.close()
        console.print("koppel poll: stopped")
    finally:
        cache.close()
        pool.close()
