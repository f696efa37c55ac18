"""``koppel history TEAMLEADER-ID-OR-NUMBER``: the timeline of one document — seen and
queued, posted (with the Visma ids), payments, failures and requeues.

The default view fits 80 columns (each detail cut to one line); ``--wide`` shows every detail
whole, ``--json`` the whole story for scripts.

Exit status: 0 the timeline was printed; 1 nothing matches, several documents match (they
are listed), or Teamleader knows the document but Koppel has no history of it yet; 2 the text
cannot name a document, or Koppel has nothing and Teamleader could not be asked (the answer
is not known: try again later).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.console import echo_json, listing_console, one_line, shown
from ops.history.timeline import DOCUMENT_TYPES, Candidate, Timeline, find, not_a_document, timeline
from ops.lookups import chosen_connections
from ops.options import listing_options, only_connection_option
from ops.time_text import when
from store.db import open_pool
from store.failures import Failure


def _utc(moment: datetime) -> str:
    """``2026-06-15 10:11:12``: the header says UTC."""
    return when(moment).removesuffix(" UTC")


def _cell(text: str, wide: bool, style: str = "") -> Text:
    return Text(shown(text), style=style) if wide else one_line(text, style)


def _render(console: Console, story: Timeline, wide: bool) -> None:
    c = story.candidate
    # Printed as sentences, not a table title: they wrap at the terminal's width between
    # words, so an id is never split.
    console.print(
        f"{c.label} (Teamleader id {c.document_id}) — connection {c.connection.name}",
        soft_wrap=False,
    )
    if story.visma_ledger_item_id:
        console.print(
            f"Visma ledger item {story.visma_ledger_item_id}, invoice number {story.visma_number}",
            soft_wrap=False,
        )
    table = Table()
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=not wide, overflow="fold" if wide else "ellipsis")
    table.add_column("detail", overflow="fold")
    for line in story.lines:
        style = "red" if "failed" in line.event else "yellow" if "attention" in line.event else ""
        table.add_row(_utc(line.at), Text(shown(line.event), style=style), _cell(line.detail, wide))
    console.print(table)
    if story.failures:
        console.print(_failures_table(story.failures, wide))
    if not wide:
        console.print("(--wide: every detail whole; --json: for scripts)")


def _failures_table(failures: list[Failure], wide: bool) -> Table:
    table = Table(title="failures (koppel dlq)", title_justify="left")
    columns = ("id", "status", "first seen", "last seen", "attempts", "reason")
    for column in columns if wide else ("id", "status", "last seen (UTC)", "tries", "reason"):
        table.add_column(column, no_wrap=column != "reason", overflow="fold")
    for f in failures:
        reason = f"{f.error_class}: {f.reason}"
        if wide:
            table.add_row(
                str(f.id), f.status, when(f.first_seen), when(f.last_seen), str(f.attempts), reason
            )
        else:
            table.add_row(str(f.id), f.status, _utc(f.last_seen), str(f.attempts), one_line(reason))
    return table


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "connection": c.connection.name,
        "connection_id": c.connection.id,
        "type": c.document_type,
        "teamleader_id": c.document_id,
        "number": c.number,
    }


def _as_json(story: Timeline) -> dict[str, Any]:
    return {
        "document": _candidate_json(story.candidate),
        "visma_ledger_item_id": story.visma_ledger_item_id,
        "visma_number": story.visma_number,
        "events": [
            {"at": line.at, "event": line.event, "detail": line.detail} for line in story.lines
        ],
        "failures": [
            {
                "id": f.id,
                "status": f.status,
                "error": f.error_class,
                "reason": f.reason,
                "attempts": f.attempts,
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
            }
            for f in story.failures
        ],
    }


def _refuse(sentence: str, code: int) -> NoReturn:
    click.echo(f"koppel history: {shown(sentence)}", err=True)
    raise SystemExit(code)


@click.command("history")
@click.argument("document")
@only_connection_option
@click.option(
    "--type",
    "kind",
    type=click.Choice(DOCUMENT_TYPES),
    default=None,
    help="Only this kind of document (an invoice and a credit note can share a number).",
)
@listing_options
def history_command(
    document: str, connection_name: str | None, kind: str | None, wide: bool, as_json: bool
) -> None:
    """The timeline of one document, by Teamleader id or number ("2026 / 17", "2026/17", "17")."""
    problem = not_a_document(document)
    if problem is not None:
        _refuse(problem, 2)
    settings = get_settings()
    pool = open_pool(settings, name="koppel-history")
    try:
        chosen = chosen_connections(pool, connection_name)
        lookup = find(settings, pool, document, chosen, kind)
        for error in lookup.errors:
            click.echo(f"koppel history: {shown(str(error))}", err=True)
        if not lookup.candidates and lookup.errors:
            _refuse(
                f"no document {document!r} is known to Koppel, and Teamleader could not be"
                " asked (above); try again when it answers",
                2,
            )
        if not lookup.candidates:
            _refuse(
                f"no document {document!r} is known to Koppel or to Teamleader"
                " (give a Teamleader id, or a number like 2026 / 17)",
                1,
            )
        if len(lookup.candidates) > 1:
            if as_json:
                echo_json({"matches": [_candidate_json(c) for c in lookup.candidates]})
            else:
                click.echo(
                    f"koppel history: {len(lookup.candidates)} documents match"
                    f" {shown(repr(document))}:"
                )
                for c in lookup.candidates:
                    click.echo(shown(f"  {c.connection.name}  {c.label}  {c.document_id}"))
                click.echo("Give the Teamleader id, --type or --connection to choose one.")
            raise SystemExit(1)
        story = timeline(pool, lookup.candidates[0])
    finally:
        pool.close()
    if not story.lines and not story.failures:
        _refuse(
            f"{story.candidate.label} ({story.candidate.document_id}) exists in Teamleader but"
            " Koppel has no history of it yet (not booked, before the connection's sync start"
            f" {story.candidate.connection.sync_from}, or not polled yet)",
            1,
        )
    if as_json:
        echo_json(_as_json(story))
    else:
        _render(listing_console(wide), story, wide)
