"""``koppel connections list | pause | resume | remove``: stop syncing a connection for a
while or for good, without SQL.

A CONNECTION is its name, its id, or the start of its id as ``list`` shows it. The work is
in ``ops/connections/lifecycle.py``. Exit status: 0 done (or nothing to do: pausing a paused
connection); 1 refused (a removed connection cannot be resumed) or not confirmed; 2 an
unknown connection, or ``remove`` without a terminal to ask on and without ``--yes``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.connections import lifecycle
from ops.connections.lifecycle import Done, StateRefused
from ops.console import echo_json, new_console, one_line, short_id
from ops.options import listing_options
from ops.time_text import duration, when
from store import connections, document_history
from store.connections import Connection, Listed
from store.db import Pool, open_pool

#: The state column's colour.
STATE_STYLE = {"active": "green", "paused": "yellow", "removed": "red"}


@contextmanager
def _pool() -> Iterator[Pool]:
    pool = open_pool(get_settings(), name="koppel-connections")
    try:
        yield pool
    finally:
        pool.close()


@click.group("connections")
def connections_command() -> None:
    """Connections: list, pause, resume, or remove one (its history stays)."""


#: Column headers: the default view's (short, to fit 80 columns) and --wide's.
HEADERS = (
    ("id", "id"),
    ("name", "name"),
    ("Teamleader", "Teamleader department"),
    ("Visma", "Visma company"),
    ("sync from", "sync from"),
    ("every", "poll interval"),
    ("state", "state"),
    ("last poll", "last poll"),
)


def _table(rows: list[Listed], now_text: Callable[[Listed], str], wide: bool) -> Table:
    # One space between columns. In the default view only the name may give up width (its
    # cells are cut with "…"): ids, dates and states keep theirs, so 80 columns fit.
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for short, whole in HEADERS:
        if wide:
            table.add_column(whole, overflow="fold")
        else:
            table.add_column(short, no_wrap=short != "name", overflow="ellipsis")
    for listed in rows:
        c = listed.connection

        def cell(value: object) -> str | Text:
            text = "-" if value is None else str(value)
            return text if wide else one_line(short_id(text))

        state = lifecycle.since(c) if wide else c.state
        table.add_row(
            cell(c.id),
            cell(c.name),
            cell(c.teamleader_department_id),
            cell(c.visma_company_id),
            c.sync_from.isoformat(),
            duration(c.poll_interval_s),
            Text(state, style=STATE_STYLE[c.state]),
            now_text(listed),
        )
    return table


@connections_command.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Removed connections too.")
@listing_options
def list_command(include_removed: bool, wide: bool, as_json: bool) -> None:
    """One row per connection: id, name, department, Visma company, state, last poll."""
    with _pool() as pool:
        rows = connections.listing(pool, include_removed=include_removed)
        now = document_history.database_now(pool)  # the clock the polls were stamped with
    if as_json:
        echo_json([lifecycle.as_json(listed) for listed in rows])
        return
    console = new_console()
    if not rows:
        console.print("No connections: create one with koppel connect.")
        return

    def last_poll(listed: Listed) -> str:
        if wide:
            return when(listed.last_poll)
        return lifecycle.ago(listed.last_poll, now)

    console.print(_table(rows, last_poll, wide))


def _act(name: str, action: Callable[[Pool, Connection], Done], command: str) -> None:
    with _pool() as pool:
        connection = connections.find(pool, name)
        try:
            done = action(pool, connection)
        except StateRefused as refused:
            click.echo(f"koppel connections {command}: {refused}", err=True)
            raise SystemExit(1) from None
    _say(done)


def _say(done: Done) -> None:
    new_console().print(done.message, soft_wrap=False)


@connections_command.command("pause")
@click.argument("connection")
def pause_command(connection: str) -> None:
    """Stop polling a connection and skip its queued messages, until resume."""
    _act(connection, lifecycle.pause, "pause")


@connections_command.command("resume")
@click.argument("connection")
def resume_command(connection: str) -> None:
    """Sync a paused connection again, reading again what was skipped meanwhile."""
    _act(connection, lifecycle.resume, "resume")


@connections_command.command("on-delete")
@click.argument("connection")
@click.argument("policy", type=click.Choice(["attention", "reverse"]))
def on_delete_command(connection: str, policy: str) -> None:
    """A posted document deleted in Teamleader: list it as needing attention (the default),
    or post the reversing credit in Visma."""
    _act(connection, lifecycle.on_delete(policy), "on-delete")


@connections_command.command("remove")
@click.argument("connection")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_command(connection: str, yes: bool) -> None:
    """Stop syncing a connection for good and delete its tokens; its history stays."""
    with _pool() as pool:
        chosen = connections.find(pool, connection)
        if chosen.removed_at is None and not yes:
            _confirm(new_console(), lifecycle.confirmation(chosen))
        done = lifecycle.remove(pool, chosen)
    _say(done)


def _confirm(console: Console, question: str) -> None:
    if not sys.stdin.isatty():
        click.echo(
            "koppel connections remove: cannot ask for confirmation without a terminal;"
            " add --yes to remove it",
            err=True,
        )
        raise SystemExit(2)
    if not click.confirm(question, default=False):
        console.print("Nothing removed.")
        raise SystemExit(1)
