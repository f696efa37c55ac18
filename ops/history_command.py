"""``koppel history TEAMLEADER-ID-OR-NUMBER``: the timeline of one document — seen and
queued, posted (with the Visma ids), payments, failures and requeues.

Exit status: 0 the timeline was printed; 1 nothing matches, several documents match (they
are listed), or Teamleader knows the document but Koppel has no history of it yet; 2 Koppel
has nothing and Teamleader could not be asked (the answer is not known: try again later).
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import get_settings
from ops.console import new_console
from ops.history import DOCUMENT_TYPES, Timeline, find, timeline
from ops.status import when
from store import connections
from store.db import open_pool


def _render(console: Console, story: Timeline) -> None:
    c = story.candidate
    title = f"{c.label} (Teamleader id {c.document_id}) — connection {c.connection.name}"
    if story.visma_ledger_item_id:
        title += (
            f"\nVisma ledger item {story.visma_ledger_item_id}, invoice number {story.visma_number}"
        )
    table = Table(title=title, title_justify="left")
    table.add_column("time")
    table.add_column("event")
    table.add_column("detail", overflow="fold")
    for line in story.lines:
        style = "red" if "failed" in line.event else "yellow" if "attention" in line.event else ""
        event = Text(line.event, style=style)
        table.add_row(when(line.at), event, line.detail)
    console.print(table)
    if story.failures:
        failures = Table(title="failures (koppel dlq)", title_justify="left")
        for column in ("id", "status", "first seen", "last seen", "attempts", "reason"):
            failures.add_column(column, overflow="fold" if column == "reason" else None)
        for f in story.failures:
            failures.add_row(
                str(f.id),
                f.status,
                when(f.first_seen),
                when(f.last_seen),
                str(f.attempts),
                f"{f.error_class}: {f.reason}",
            )
        console.print(failures)


@click.command("history")
@click.argument("document")
@click.option("--connection", "connection_name", default=None, help="Only this connection.")
@click.option(
    "--type",
    "kind",
    type=click.Choice(DOCUMENT_TYPES),
    default=None,
    help="Only this kind of document (an invoice and a credit note can share a number).",
)
def history_command(document: str, connection_name: str | None, kind: str | None) -> None:
    """The timeline of one document, by Teamleader id or number ("2026 / 17", "2026/17", "17")."""
    settings = get_settings()
    console = new_console()
    pool = open_pool(settings, name="koppel-history")
    try:
        chosen = connections.named(pool, connection_name)
        lookup = find(settings, pool, document, chosen, kind)
        for error in lookup.errors:
            click.echo(f"koppel history: {error}", err=True)
        if not lookup.candidates and lookup.errors:
            click.echo(
                f"koppel history: no document {document!r} is known to Koppel, and Teamleader"
                " could not be asked (above); try again when it answers",
                err=True,
            )
            raise SystemExit(2)
        if not lookup.candidates:
            click.echo(
                f"koppel history: no document {document!r} is known to Koppel or to Teamleader"
                " (give a Teamleader id, or a number like 2026 / 17)",
                err=True,
            )
            raise SystemExit(1)
        if len(lookup.candidates) > 1:
            click.echo(f"koppel history: {len(lookup.candidates)} documents match {document!r}:")
            for c in lookup.candidates:
                click.echo(f"  {c.connection.name}  {c.label}  {c.document_id}")
            click.echo("Give the Teamleader id, --type or --connection to choose one.")
            raise SystemExit(1)
        story = timeline(pool, lookup.candidates[0])
    finally:
        pool.close()
    if not story.lines and not story.failures:
        click.echo(
            f"koppel history: {story.candidate.label} ({story.candidate.document_id}) exists in"
            f" Teamleader but Koppel has no history of it yet (not booked, before the"
            f" connection's sync start {story.candidate.connection.sync_from}, or not polled"
            " yet)",
            err=True,
        )
        raise SystemExit(1)
    _render(console, story)
