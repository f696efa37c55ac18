"""``koppel status``: polls, queues, failures and tokens at a glance; exit 1 when a
connection has gone silent or cannot authenticate, so cron or a probe can alert.

Exit status: 0 healthy; 1 one line per problem on stderr (silence for more than twice the
poll interval, a refused authorisation); 2 PostgreSQL or RabbitMQ unreachable (the group's
answer to ServiceUnreachable).
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.console import new_console
from ops.status import ConnectionHealth, Status, duration, gather, when
from store.db import open_pool


def _streams_table(row: ConnectionHealth) -> Table:
    table = Table(
        title=f"{row.name}: polls (every {row.interval_s:g} s; silent after"
        f" {2 * row.interval_s:g} s)",
        title_justify="left",
    )
    for column in ("stream", "last success", "age", "newest change seen", "behind", "last error"):
        table.add_column(column)
    for s in row.streams:
        age = duration(s.silent_for_s)
        table.add_row(
            s.stream,
            when(s.last_success_at),
            Text(age, style="red") if s.silent else age,
            when(s.watermark),
            duration(s.watermark_age_s),
            Text(f"{when(s.last_error_at)}: {s.last_error}", style="red") if s.failing else "",
        )
    return table


def _tokens_table(row: ConnectionHealth) -> Table:
    table = Table(title=f"{row.name}: authorisation", title_justify="left")
    for column in ("service", "access token expires", "last refreshed", "check"):
        table.add_column(column)
    for t in row.tokens:
        check = t.check or "not checked (--check-auth)"
        table.add_row(
            t.service,
            when(t.expires_at),
            when(t.refreshed_at),
            Text(check, style="red") if t.refused else check,
        )
    return table


def _queues_table(status: Status) -> Table:
    table = Table(
        title="queues (ready messages; a worker's unacked and delayed ones are not counted)",
        title_justify="left",
    )
    for column in ("queue", "ready", "delayed (.DQ)", "dead (.XQ)", "consumers"):
        table.add_column(column)

    def count(value: int | None) -> str:
        return "not declared" if value is None else str(value)

    for q in status.queues:
        dead = count(q.dead.ready)
        table.add_row(
            q.queue.name,
            count(q.queue.ready),
            count(q.delayed.ready),
            Text(dead, style="yellow") if q.dead.ready else dead,
            count(q.queue.consumers),
        )
    return table


def render(console: Console, status: Status) -> None:
    console.print(f"koppel status at {when(status.now)}")
    if not status.connections:
        console.print("No active connections: create one with koppel connect.")
    for row in status.connections:
        console.print(_streams_table(row))
        console.print(_tokens_table(row))
        oldest = (
            f", the oldest published {duration(row.oldest_waiting_s)} ago" if row.waiting else ""
        )
        console.print(
            f"{row.name}: {row.waiting} messages waiting for an outcome{oldest};"
            f" failures: {row.failures_open} open (dead letters),"
            f" {row.failures_attention} need attention"
            + (" — see `koppel dlq`" if row.failures_open or row.failures_attention else "")
        )
    console.print(_queues_table(status))
    if status.orphan_failures:
        console.print(f"{status.orphan_failures} open failures name no connection (malformed).")
    healthy = Text("healthy", style="green") if status.healthy else Text("unhealthy", style="red")
    console.print(healthy)


@click.command("status")
@click.option("--connection", "connection_name", default=None, help="Only this connection.")
@click.option(
    "--check-auth",
    is_flag=True,
    help="Call Teamleader (users.me) and Visma (companysettings) with the stored grants.",
)
@click.option(
    "--interval-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The poll interval to judge silence by (default: each connection's own).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def status_command(
    connection_name: str | None, check_auth: bool, interval_s: float | None, as_json: bool
) -> None:
    """Last poll per stream, queue depths, failures, tokens; exit 1 when silent or refused."""
    settings = get_settings()
    pool = open_pool(settings, name="koppel-status")
    try:
        status = gather(
            settings,
            pool,
            connection_name=connection_name,
            check_auth=check_auth,
            interval_s=interval_s,
        )
    finally:
        pool.close()
    if as_json:
        click.echo(json.dumps(status.as_json(), indent=2))
    else:
        render(new_console(), status)
    for problem in status.problems:
        click.echo(f"koppel status: {problem}", err=True)
    if not status.healthy:
        raise SystemExit(1)
