"""``koppel status``: polls, queues, failures and tokens at a glance; exit 1 when a
connection has gone silent or cannot authenticate, so cron or a probe can alert.

Exit status: 0 healthy; 1 one line per problem on stderr (silence for more than twice the
poll interval, a refused authorisation); 2 PostgreSQL or RabbitMQ unreachable (the group's
answer to ServiceUnreachable).

The default view fits 80 columns (times relative, a stream's error cut to one line);
``--wide`` shows every time and error whole, ``--json`` everything for scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.console import echo_json, listing_console, one_line
from ops.options import listing_options, only_connection_option
from ops.status.gather import ConnectionHealth, Status, gather
from ops.time_text import ago, duration, when
from store.db import open_pool


def _interval(row: ConnectionHealth) -> str:
    """Which interval silence is judged by, and where it comes from."""
    every = f"every {row.interval_s:g} s"
    if row.interval_from == "option":
        return f"judged by {row.interval_s:g} s (--interval-s)"
    if row.interval_from == "configured":
        return f"{every} (configured; no poller has recorded one)"
    if row.interval_s != row.configured_interval_s:
        return f"{every} (as koppel poll runs; configured {row.configured_interval_s:g} s)"
    return every


def _streams_table(row: ConnectionHealth, now: datetime, wide: bool) -> Table:
    table = Table(
        title=f"{row.name}: polls {_interval(row)}; silent after {2 * row.interval_s:g} s",
        title_justify="left",
    )
    if wide:
        for column in (
            "stream", "last polled (UTC)", "last polled", "newest change seen (UTC)",
            "newest change seen", "last error",
        ):  # fmt: skip
            table.add_column(column, overflow="fold")
    else:
        for column in ("stream", "last polled", "newest change seen"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        table.add_column("last error")
    for s in row.streams:
        polled = ago(s.last_success_at, now)
        cells: list[str | Text] = [
            s.stream,
            Text(polled, style="red") if s.silent else polled,
            ago(s.watermark, now),
        ]
        error = f"{when(s.last_error_at)}: {s.last_error}" if s.failing else ""
        if wide:
            cells[1:1] = [when(s.last_success_at)]
            cells[3:3] = [when(s.watermark)]
            cells.append(Text(error, style="red"))
        else:
            cells.append(one_line(s.last_error or "", style="red") if s.failing else "")
        table.add_row(*cells)
    return table


def _tokens_table(row: ConnectionHealth, now: datetime, wide: bool) -> Table:
    table = Table(title=f"{row.name}: authorisation", title_justify="left")
    for column in ("service", "access token expires", "last refreshed"):
        table.add_column(column, no_wrap=not wide, overflow="fold" if wide else "ellipsis")
    table.add_column("check", overflow="fold")
    for t in row.tokens:
        check = t.check or "not checked (--check-auth)"
        style = "red" if t.refused else ""
        table.add_row(
            t.service,
            when(t.expires_at) if wide else ago(t.expires_at, now),
            when(t.refreshed_at) if wide else ago(t.refreshed_at, now),
            Text(check, style=style) if wide else one_line(check, style=style),
        )
    return table


def _queues_table(status: Status) -> Table:
    table = Table(
        title="queues (ready messages; a worker's unacked and delayed ones are not counted)",
        title_justify="left",
    )
    for column in ("queue", "ready", "delayed (.DQ)", "dead (.XQ)", "consumers"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")

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


def reconciled(row: ConnectionHealth, now: datetime) -> str:
    """``last reconciled 03:12, 0 differences`` (UTC; with the date when not today's)."""
    if row.reconciled_at is None:
        return "never reconciled (`koppel reconcile`)"
    at = row.reconciled_at.astimezone(UTC)
    shown = at.strftime("%H:%M") if at.date() == now.astimezone(UTC).date() else when(at)
    n = row.reconcile_differences or 0
    advice = " — see `koppel reconcile`" if n else ""
    return f"last reconciled {shown}, {n} difference{'' if n == 1 else 's'}{advice}"


def render(console: Console, status: Status, wide: bool = False) -> None:
    console.print(f"koppel status at {when(status.now)}")
    if not status.connections:
        console.print("No active connections: create one with koppel connect.")
    for row in status.connections:
        if row.state != "active":
            resume = f" (`koppel connections resume {row.name}`)" if row.state == "paused" else ""
            line = f"{row.name}: {row.state}, not polled; its messages are skipped{resume}"
            console.print(Text(line, style="yellow"), soft_wrap=False)
        console.print(_streams_table(row, status.now, wide))
        console.print(_tokens_table(row, status.now, wide))
        oldest = (
            f", the oldest published {duration(row.oldest_waiting_s)} ago" if row.waiting else ""
        )
        console.print(
            f"{row.name}: {row.waiting} messages waiting for an outcome{oldest};"
            f" failures: {row.failures_open} open (dead letters),"
            f" {row.failures_attention} need attention"
            + (" — see `koppel dlq`" if row.failures_open or row.failures_attention else ""),
            soft_wrap=False,
        )
        console.print(f"{row.name}: {reconciled(row, status.now)}", soft_wrap=False)
    console.print(_queues_table(status))
    if status.orphan_failures:
        console.print(
            f"{status.orphan_failures} open dead letter(s) of no connection in the database"
            " (malformed, or their connection was removed): see `koppel dlq list`.",
            soft_wrap=False,
        )
    healthy = Text("healthy", style="green") if status.healthy else Text("unhealthy", style="red")
    console.print(healthy)


@click.command("status")
@only_connection_option
@click.option(
    "--check-auth",
    is_flag=True,
    help="Call Teamleader (users.me) and Visma (companysettings) with the stored grants.",
)
@click.option(
    "--interval-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The poll interval to judge silence by (default: the one `koppel poll` recorded).",
)
@listing_options
def status_command(
    connection_name: str | None,
    check_auth: bool,
    interval_s: float | None,
    wide: bool,
    as_json: bool,
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
        echo_json(status.as_json())
    else:
        render(listing_console(wide), status, wide)
    for problem in status.problems:
        click.echo(f"koppel status: {problem}", err=True)
    if not status.healthy:
        raise SystemExit(1)
