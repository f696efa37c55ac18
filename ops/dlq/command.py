"""``koppel dlq list | show | requeue | purge``: dead letters a person can act on.

Every dead-lettered message has a row in ``failures`` (the failure middleware writes it, or
``reconcile`` adopts it from the ``.XQ``); these commands read and change rows and queues
together (``ops/dlq/actions.py`` says in which order and why). Rows with status
``attention`` are documents that changed after posting: listed, marked, never requeued —
requeueing the same version could not change what a person has to decide.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from config.errors import NeedsPerson
from ops.console import (
    aligned,
    echo_json,
    listing_console,
    new_console,
    print_cut,
    short_id,
    shown,
)
from ops.dlq import actions
from ops.lookups import connection_filter
from ops.options import listing_options, only_connection_option
from store import document_history, failures
from store.db import Pool, open_pool
from store.failures import Failure

#: Statuses ``list`` shows unless told otherwise.
LISTED = ("open", "attention")


class NoSuchDeadLetter(click.ClickException, NeedsPerson):
    """An id that is not in the table: the operator must look again (exit 2, like the
    other errors an operator fixes)."""

    exit_code = 2


def _time(moment: datetime) -> str:
    """In UTC, whatever the database session's time zone (the headers say so)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _names(pool: Pool) -> dict[uuid.UUID, str]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT id, name FROM connections").fetchall()
    return {row["id"]: row["name"] for row in rows}


def _document(failure: Failure) -> str:
    if failure.document_type is None:
        return "(unreadable message)"
    return f"{failure.document_type} {failure.document_id}"


def _status(failure: Failure) -> str:
    return "needs attention" if failure.status == "attention" else failure.status


def _in_xq(failure: Failure, in_xq: set[str]) -> str:
    if failure.status == "attention":
        return "-"  # not a dead letter: its message succeeded
    return "yes" if str(failure.message.get("message_id", "")) in in_xq else "no (stored)"


@click.group("dlq")
def dlq_command() -> None:
    """Dead letters: list, show, requeue after fixing the cause, or purge."""


@dlq_command.command("list")
@only_connection_option
@click.option("--reason", default=None, help="Only reasons containing this text (any case).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([*failures.STATUSES, "all"]),
    help="Only these statuses (repeatable; default open and attention).",
)
@listing_options
def list_command(
    connection_name: str | None,
    reason: str | None,
    statuses: tuple[str, ...],
    wide: bool,
    as_json: bool,
) -> None:
    """Every dead letter with the reason a bookkeeper can act on."""
    settings = get_settings()
    pool = open_pool(settings, name="koppel-dlq")
    try:
        connection_id = connection_filter(pool, connection_name)
        reconciled = actions.reconcile(settings, pool)
        chosen = failures.STATUSES if "all" in statuses else (statuses or LISTED)
        rows = failures.listing(
            pool, connection_id=connection_id, statuses=tuple(chosen), reason=reason
        )
        names = _names(pool)
    finally:
        pool.close()
    console = listing_console(wide)
    # With --json, stdout is the JSON alone: what reconciling did goes to stderr.
    notices = new_console(stderr=True) if as_json else console
    if reconciled.adopted:
        notices.print(
            f"Adopted {len(reconciled.adopted)} dead letter(s) found only in a .XQ queue:"
            f" ids {', '.join(map(str, reconciled.adopted))}.",
            soft_wrap=False,
        )
    if reconciled.removed:
        notices.print(
            f"Removed {reconciled.removed} stale dead letter(s) from .XQ queues"
            " (their document succeeded since, or they were purged).",
            soft_wrap=False,
        )
    if as_json:
        echo_json([_as_json(failure, names, reconciled.in_xq) for failure in rows])
        return
    if not rows:
        console.print("No dead letters.")
        return
    if wide:
        console.print(_wide_table(rows, names, reconciled.in_xq))
    else:
        _print_lines(console, rows, names)
    dead = sum(1 for failure in rows if failure.status == "open" and not failure.orphan)
    attention = sum(1 for failure in rows if failure.status == "attention")
    orphans = sum(1 for failure in rows if failure.status == "open" and failure.orphan)
    summary: list[str] = []
    if dead or not (attention or orphans):
        summary.append(f"{dead} open dead letter(s): fix the cause, then `koppel dlq requeue ID`.")
    if attention:
        summary.append(
            f"{attention} document(s) need attention in Visma or Teamleader (not requeueable)."
        )
    if orphans:
        summary.append(
            f"{orphans} orphan(s) of a connection no longer in the database:"
            " `koppel dlq purge --orphans` removes them."
        )
    if not wide:
        summary.append("--wide shows every column whole, --json all of it for scripts.")
    console.print(" ".join(summary), soft_wrap=False)


def _connection(failure: Failure, names: dict[uuid.UUID, str], *, wide: bool) -> str:
    """Its connection's name; an orphan's the id its message names."""
    if failure.connection_id is not None:
        return names.get(failure.connection_id, "?")
    if failure.orphan and failure.named_connection:
        named = failure.named_connection if wide else short_id(failure.named_connection)
        return f"orphan of {named}" if wide else f"orphan {named}"
    return "?"


#: The default view's columns and the most characters each takes: the widest row is 80
#: characters (an id up to 999999), so it fits a narrow terminal, a pipe or cron mail.
_HEADER = ("id", "connection", "document", "tries", "last seen", "status")
_WIDEST = (6, 16, 21, 5, 11, 9)


def _print_lines(console: Console, rows: list[Failure], names: dict[uuid.UUID, str]) -> None:
    """The default view: a line of short facts per dead letter (ids short), its reason on a
    second line cut where the terminal ends (rows this narrow leave a reason column no
    room); ``--wide`` is the whole table."""
    # Escaped before they are aligned, so the columns are measured as they are printed.
    facts = [
        (
            str(failure.id),
            shown(_connection(failure, names, wide=False)),
            shown(short_id(_document(failure))),
            str(failure.attempts),
            _short_time(failure.last_seen),
            failure.status,
        )
        for failure in rows
    ]
    header, *lines = aligned(_HEADER, facts, _WIDEST, right={3})
    console.print("Dead letters (last seen in UTC)")
    print_cut(console, Text(header, style="bold"))
    for failure, line in zip(rows, lines, strict=True):
        print_cut(console, line)
        print_cut(console, "    " + shown(" ".join(failure.reason.split())))


def _wide_table(rows: list[Failure], names: dict[uuid.UUID, str], in_xq: set[str]) -> Table:
    table = Table(title="Dead letters")
    for column in (
        "id", "connection", "queue", "document", "error", "reason", "attempts",
        "first seen (UTC)", "last seen (UTC)", "status", "in .XQ",
    ):  # fmt: skip
        table.add_column(column, overflow="fold")
    for failure in rows:
        table.add_row(
            str(failure.id),
            _connection(failure, names, wide=True),
            failure.queue,
            _document(failure),
            failure.error_class,
            failure.reason,
            str(failure.attempts),
            _time(failure.first_seen),
            _time(failure.last_seen),
            _status(failure),
            _in_xq(failure, in_xq),
        )
    return table


def _short_time(moment: datetime) -> str:
    """``06-15 10:11`` in UTC: the year and seconds are in --wide."""
    return moment.astimezone(UTC).strftime("%m-%d %H:%M")


def _as_json(failure: Failure, names: dict[uuid.UUID, str], in_xq: set[str]) -> dict[str, Any]:
    return {
        "id": failure.id,
        "connection": names.get(failure.connection_id) if failure.connection_id else None,
        "connection_id": str(failure.connection_id or failure.named_connection or "") or None,
        "orphan": failure.orphan,
        "queue": failure.queue,
        "document_type": failure.document_type,
        "document_id": failure.document_id,
        "dedupe_key": failure.dedupe_key,
        "error": failure.error_class,
        "reason": failure.reason,
        "attempts": failure.attempts,
        "first_seen": failure.first_seen,
        "last_seen": failure.last_seen,
        "status": failure.status,
        "in_xq": None
        if failure.status == "attention"
        else str(failure.message.get("message_id", "")) in in_xq,
        "message_id": failure.message.get("message_id"),
    }


def _get(pool: Pool, failure_id: int) -> Failure:
    failure = failures.get(pool, failure_id)
    if failure is None:
        raise NoSuchDeadLetter(
            f"there is no dead letter with id {failure_id} (`koppel dlq list` shows them)"
        )
    return failure


@dlq_command.command("show")
@click.argument("failure_id", metavar="ID", type=int)
def show_command(failure_id: int) -> None:
    """Everything about one dead letter: its message and its document's history."""
    settings = get_settings()
    pool = open_pool(settings, name="koppel-dlq")
    try:
        failure = _get(pool, failure_id)
        in_xq = actions.reconcile(settings, pool, change=False).in_xq
        names = _names(pool)
        timeline: list[document_history.Event] = []
        related: list[Failure] = []
        if failure.connection_id and failure.document_type and failure.document_id:
            timeline = document_history.timeline(
                pool, failure.connection_id, failure.document_type, failure.document_id
            )
            related = failures.for_document(
                pool, failure.connection_id, failure.document_type, failure.document_id
            )
    finally:
        pool.close()
    console = new_console()
    facts = Table(title=f"Dead letter {failure.id}", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    for name, value in (
        ("connection", _connection(failure, names, wide=True)),
        ("queue", failure.queue),
        ("document", _document(failure)),
        ("dedupe key", failure.dedupe_key or "-"),
        ("error", failure.error_class),
        ("reason", failure.reason),
        ("attempts", str(failure.attempts)),
        ("first seen (UTC)", _time(failure.first_seen)),
        ("last seen (UTC)", _time(failure.last_seen)),
        ("status", _status(failure)),
        ("in .XQ", _in_xq(failure, in_xq)),
    ):
        facts.add_row(name, value)
    console.print(facts)
    console.print("Message:")
    console.print_json(json.dumps(failure.message, default=str))
    if timeline:
        events = Table(title="History")
        for column in ("at (UTC)", "event", "detail"):
            events.add_column(column, overflow="fold")
        for event in timeline:
            events.add_row(_time(event.at), event.event, _detail(event.detail))
        console.print(events)
    others = [other for other in related if other.id != failure.id]
    if others:
        console.print(
            "Other rows of this document: "
            + ", ".join(f"{other.id} ({_status(other)})" for other in others)
        )


def _detail(detail: dict[str, Any]) -> str:
    return "; ".join(f"{key}: {value}" for key, value in detail.items())


def _choose(
    pool: Pool,
    ids: tuple[int, ...],
    everything: bool,
    connection_name: str | None,
    reason: str | None,
    *,
    what: str,
    none_means_all: bool = False,
    orphans: bool = False,
) -> tuple[list[Failure], list[tuple[Failure, str]]]:
    """(open rows to act on, rows refused with why); ``orphans``: only those."""
    given = sum((bool(ids), everything, reason is not None, orphans))
    if given > 1 or (given == 0 and not none_means_all):
        choices = (
            "IDs, --orphans or --reason TEXT" if none_means_all else "IDs, --all or --reason TEXT"
        )
        raise click.UsageError(f"choose what to {what}: {choices}")
    if connection_name and (ids or orphans):
        raise click.UsageError(
            "--connection goes with --all or --reason, not with IDs or --orphans"
        )
    if ids:
        chosen = [_get(pool, failure_id) for failure_id in ids]
    else:
        connection_id = connection_filter(pool, connection_name)
        chosen = failures.listing(
            pool, connection_id=connection_id, statuses=("open",), reason=reason
        )
        if orphans:
            chosen = [failure for failure in chosen if failure.orphan]
    refused = [(failure, _why_not(failure, what)) for failure in chosen]
    return (
        [failure for failure, why in refused if not why],
        [(failure, why) for failure, why in refused if why],
    )


def _why_not(failure: Failure, what: str) -> str:
    if failure.status == "open" and failure.orphan and what == "requeue":
        return (
            f"names connection {failure.named_connection}, which is not in this database;"
            " nothing can process it (`koppel dlq purge --orphans` removes it)"
        )
    if failure.status == "open":
        return ""
    if failure.status == "attention":
        return (
            "needs attention in Visma or Teamleader (the document changed after posting);"
            f" {what} cannot settle that"
        )
    return f"is {failure.status} already"


def _replaced_by(failure: Failure, reconciled: actions.Reconciled) -> str:
    """For the row of an interrupted requeue: the open row its dead letter became."""
    replacement = reconciled.replaced.get(failure.id)
    if replacement is None:
        return ""
    return f"; its dead letter is open again as {replacement} (`koppel dlq requeue {replacement}`)"


def _line(failure: Failure) -> str:
    return f"{failure.id} {failure.queue} {_document(failure)}: {failure.reason}"


@dlq_command.command("requeue")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every open dead letter.")
@click.option("--reason", default=None, help="Open dead letters whose reason contains this.")
@only_connection_option
@click.option("--dry-run", is_flag=True, help="Print what would be requeued; change nothing.")
def requeue_command(
    ids: tuple[int, ...],
    everything: bool,
    reason: str | None,
    connection_name: str | None,
    dry_run: bool,
) -> None:
    """Publish dead letters again (after fixing their cause), retries and age reset."""
    settings = get_settings()
    console = new_console()
    pool = open_pool(settings, name="koppel-dlq")
    try:
        reconciled = actions.reconcile(settings, pool, change=not dry_run)
        chosen, refused = _choose(pool, ids, everything, connection_name, reason, what="requeue")
        if reconciled.adopted:
            console.print(f"adopted from .XQ: ids {', '.join(map(str, reconciled.adopted))}")
        for failure, why in refused:
            console.print(f"not requeued: {failure.id} {why}{_replaced_by(failure, reconciled)}")
        if dry_run:
            for failure in chosen:
                console.print(f"would requeue: {_line(failure)}")
            console.print(f"{len(chosen)} would be requeued (dry run: nothing changed).")
            return
        if not chosen:
            console.print("Nothing to requeue.")
            # Every id given was refused: the command did not do what was asked.
            raise SystemExit(1 if refused else 0)
        results = actions.requeue(settings, pool, chosen)
    finally:
        pool.close()
    for done in results:
        if done.applied:
            console.print(f"requeued: {_line(done.failure)}")
        else:
            console.print(f"not requeued: {done.failure.id} was taken by another command")
    count = sum(1 for done in results if done.applied)
    console.print(
        f"{count} requeued. One that fails again comes back to `koppel dlq list` as a new row."
    )


@dlq_command.command("purge")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--reason", default=None, help="Open dead letters whose reason contains this.")
@only_connection_option
@click.option(
    "--orphans",
    is_flag=True,
    help="Dead letters whose connection is no longer in the database.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_command(
    ids: tuple[int, ...],
    reason: str | None,
    connection_name: str | None,
    orphans: bool,
    yes: bool,
) -> None:
    """Give up on dead letters for good: removed from .XQ, marked purged (kept in history).

    Without IDs, --orphans or --reason: every open dead letter (of --connection)."""
    settings = get_settings()
    console = new_console()
    pool = open_pool(settings, name="koppel-dlq")
    try:
        actions.reconcile(settings, pool)
        chosen, refused = _choose(
            pool,
            ids,
            False,
            connection_name,
            reason,
            what="purge",
            none_means_all=True,
            orphans=orphans,
        )
        for failure, why in refused:
            console.print(f"not purged: {failure.id} {why}")
        if not chosen:
            console.print("Nothing to purge.")
            # Every id given was refused: the command did not do what was asked (as requeue).
            raise SystemExit(1 if refused else 0)
        for failure in chosen:
            console.print(f"to purge: {_line(failure)}")
        if not yes and not click.confirm(
            f"Purge these {len(chosen)} dead letter(s)? They will not be retried", default=False
        ):
            console.print("Nothing purged.")
            return
        results = actions.purge(settings, pool, chosen)
    finally:
        pool.close()
    count = sum(1 for done in results if done.applied)
    console.print(f"{count} purged.")
