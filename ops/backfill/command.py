"""``koppel backfill --from this-month | this-quarter | fiscal-year | YYYY-MM-DD``.

The one-time export of the department's booked invoices and credit notes dated from the
start, for a connection whose sync began later. First the preview — documents per type,
totals per type and per VAT rate, customers to create, documents already in Visma, and
every problem (unmapped tax rate, missing account, customer Visma would refuse, credit
note whose invoice will not be posted) — before anything is written.

* ``--dry-run`` stops after the preview: exit 0 when the backfill could run cleanly, 1 when
  it found problems (so a script can check before it exports).
* Otherwise it asks for confirmation (``--yes`` does not ask). With problems it refuses
  (exit 1, nothing written) unless ``--anyway``: then the documents without problems are
  exported and the others stay out (not dead-lettered); run the backfill again once they
  are fixed and it exports only those.
* The run lowers the connection's ``sync_from`` to the start (the consumers refuse a credit
  note of an invoice before it), publishes one message per document not yet queued (the
  poller's messages and dedupe keys) and, unless ``--no-workers`` (``koppel work``
  processes do the work), consumes them in this process while a progress bar shows
  done/total, rate and time left. Ctrl-C or SIGTERM stops it (exit 130); what was
  published stays queued, and the same command later goes on without posting twice.
  Exit 1 if a document failed; its reason is printed and ``koppel dlq`` has it.

This module parses, asks and prints. The work is elsewhere, with no click in it: the plan
(pure) in ``ops/backfill/plan.py``, reading and rendering the preview in
``ops/backfill/preview.py``, the run in ``ops/backfill/run.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date

import click
from rich.progress import Progress

from config import clock as calendar
from config import get_settings
from contracts.broker import check_reachable
from ops.backfill.plan import StartDateError, parse_from
from ops.backfill.preview import preview_tables, read_preview, read_start, summary_line
from ops.backfill.progress import rate_columns
from ops.backfill.run import (
    Stalled,
    consuming,
    counts_of,
    failed_documents,
    keys_of,
    lower_sync_from,
    post,
    sigterm_interrupts,
    stop_requests,
)
from ops.console import new_console
from ops.lookups import the_connection
from ops.options import the_connection_option

#: Today, for ``--from this-month`` and friends (tests replace it).
clock: Callable[[], date] = calendar.today
#: The exit status of a backfill stopped by Ctrl-C or SIGTERM (128 + SIGINT).
EXIT_STOPPED = 130


@click.command("backfill")
@click.option(
    "--from",
    "from_",
    required=True,
    metavar="this-month|this-quarter|fiscal-year|YYYY-MM-DD",
    help="The first invoice date to export (fiscal-year: the Visma fiscal year holding today).",
)
@click.option("--dry-run", is_flag=True, help="Show the preview only; exit 1 if it has problems.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--anyway", is_flag=True, help="With problems: export the documents without any.")
@the_connection_option
@click.option(
    "--workers/--no-workers",
    default=True,
    help="Consume in this process (default), or leave it to running `koppel work` processes.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Worker threads (KOPPEL_WORKER_THREADS).",
)
def backfill_command(
    from_: str,
    dry_run: bool,
    yes: bool,
    anyway: bool,
    connection_name: str | None,
    workers: bool,
    threads: int | None,
) -> None:
    """Export booked invoices and credit notes from a date to Visma, after a preview."""
    try:
        chosen = parse_from(from_)
    except StartDateError as error:
        raise click.BadParameter(str(error), param_hint="--from") from None
    # The consumers' runtime: the preview and the in-process consumers share its clients
    # (one pace per API) and its reference data (posting maps read once).
    from consumers.runtime import runtime

    settings = get_settings()
    if not dry_run:
        check_reachable(settings.broker_url)  # before the preview, not after it
    out = new_console()
    rt = runtime()
    pool = rt.pool
    connection = the_connection(pool, connection_name)
    api = rt.clients_for(connection)
    try:
        start = read_start(api, chosen, clock())
    except StartDateError as error:
        raise click.ClickException(str(error)) from None

    try:
        with sigterm_interrupts():
            preview = read_preview(pool, connection, api, start, out)
    except KeyboardInterrupt:
        out.print("Stopped while reading the documents; nothing was written.")
        sys.exit(EXIT_STOPPED)
    for table in preview_tables(preview, connection.name):
        out.print(table)
    out.print(summary_line(preview))
    blocked = preview.blocked
    if dry_run:
        out.print("Dry run: nothing was written.")
        sys.exit(1 if blocked else 0)
    to_post = preview.to_post
    if blocked and not anyway:
        raise click.ClickException(
            f"{len(blocked)} documents have problems (listed above), so nothing was written. "
            "Fix them and run the backfill again, or add --anyway to export the "
            f"{len(to_post)} others now (the rest follow when you run it again after the fix)."
        )
    if not to_post:
        out.print("Nothing to post: every document is in Visma already or has nothing to post.")
        return
    if not yes:
        _confirm(len(to_post), connection.name)
    if lower_sync_from(pool, connection, start):
        out.print(f"{connection.name} now syncs from {start.isoformat()}.")

    keys = keys_of(connection, to_post)
    stopped = False
    with stop_requests() as stop:
        try:
            with consuming(settings, threads) if workers else nullcontext():
                with Progress(*rate_columns("posting"), console=out) as progress:
                    published = post(settings, pool, connection, to_post, progress, stop)
                earlier = len(keys) - published
                out.print(
                    f"Published {published} documents"
                    + (f"; {earlier} were queued by an earlier run." if earlier else ".")
                )
        except KeyboardInterrupt:
            stopped = True
        except Stalled as stall:
            raise click.ClickException(str(stall)) from None

    counts = counts_of(pool, keys)
    out.print("Outcomes: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) + ".")
    if stopped:
        waiting = counts.get("waiting", 0)
        out.print(
            f"Stopped with {waiting} of {len(keys)} documents not done yet (what was "
            "published stays queued, the rest is published then); run the same command "
            "again to go on (nothing is posted twice)."
        )
        sys.exit(EXIT_STOPPED)
    failed = failed_documents(pool, connection, to_post)
    for failure, label in failed:
        out.print(f"failed: dead letter {failure.id}, {label}: {failure.reason}")
    if counts.get("failed") or failed:
        # The open rows listed above; a failed outcome whose row someone requeued or purged
        # meanwhile has none, but still failed.
        n = len(failed) or counts.get("failed", 0)
        out.print(
            f"{n} documents failed; fix the cause, then requeue them with `koppel dlq requeue ID`."
        )
        sys.exit(1)
    out.print(f"Backfill done: {counts.get('posted', 0)} documents posted.")


def _confirm(count: int, connection_name: str) -> None:
    """Ask before posting; without a terminal to ask on, say so and exit 2."""
    if not sys.stdin.isatty():
        # click.confirm would read end-of-input and print a bare "Aborted!".
        click.echo(
            f"koppel backfill: cannot ask for confirmation without a terminal; add --yes"
            f" to post these {count} documents",
            err=True,
        )
        sys.exit(2)
    click.confirm(f"Post {count} documents to Visma for connection {connection_name}?", abort=True)
