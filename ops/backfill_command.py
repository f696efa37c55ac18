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
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date

import click
import dramatiq
from rich.progress import Progress

from config import clock as calendar
from config import get_settings
from contracts import queues
from contracts.broker import check_reachable, make_broker
from ops.backfill import StartDateError, parse_from, start_date
from ops.backfill_preview import preview_tables, read_preview, summary_line
from ops.backfill_run import (
    Stalled,
    outcome_counts,
    rate_columns,
    run_in_phases,
    sigterm_interrupts,
)
from ops.console import new_console
from ops.mappings_command import pick_connection
from store import connections, failures, messages

#: Today, for ``--from this-month`` and friends (tests replace it).
clock: Callable[[], date] = calendar.today
#: The exit status of a backfill stopped by Ctrl-C or SIGTERM (128 + SIGINT).
EXIT_STOPPED = 130
#: The queues the backfill's documents go through.
QUEUES = (queues.INVOICES, queues.CREDIT_NOTES)


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
@click.option("--connection", "connection_name", default=None, help="Connection name or id.")
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
    connection = pick_connection(pool, connection_name)
    api = rt.clients_for(connection)
    try:
        fiscal_years = api.visma.fiscal_years() if chosen == "fiscal-year" else []
        start = start_date(chosen, clock(), fiscal_years)
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
        if not sys.stdin.isatty():
            # click.confirm would read end-of-input and print a bare "Aborted!".
            click.echo(
                f"koppel backfill: cannot ask for confirmation without a terminal; add --yes"
                f" to post these {len(to_post)} documents",
                err=True,
            )
            sys.exit(2)
        click.confirm(
            f"Post {len(to_post)} documents to Visma for connection {connection.name}?",
            abort=True,
        )
    if start < connection.sync_from:
        connections.update(pool, connection.id, sync_from=start)
        out.print(f"{connection.name} now syncs from {start.isoformat()}.")

    worker: dramatiq.Worker | None = None
    keys = [document.message(connection.id).dedupe_key for document in to_post]
    stopped = False
    with sigterm_interrupts():
        try:
            if workers:
                from consumers.all import load
                from consumers.app import broker as consumer_broker

                worker = dramatiq.Worker(
                    consumer_broker,
                    queues=set(load(list(QUEUES))),
                    worker_threads=threads or settings.worker_threads,
                    worker_timeout=100,
                )
                worker.start()
            with Progress(*rate_columns("posting"), console=out) as progress:
                published = run_in_phases(
                    pool, lambda: make_broker(settings), connection.id, to_post, progress
                )
            earlier = len(keys) - published
            out.print(
                f"Published {published} documents"
                + (f"; {earlier} were queued by an earlier run." if earlier else ".")
            )
        except KeyboardInterrupt:
            stopped = True
        except Stalled as stall:
            raise click.ClickException(str(stall)) from None
        finally:
            if worker is not None:
                worker.stop()

    outcomes = messages.outcomes_of(pool, keys)
    counts = outcome_counts(outcomes, keys)
    out.print("Outcomes: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) + ".")
    if stopped:
        waiting = counts.get("waiting", 0)
        out.print(
            f"Stopped with {waiting} of {len(keys)} documents not done yet (what was "
            "published stays queued); run the same command again to go on (nothing is "
            "posted twice)."
        )
        sys.exit(EXIT_STOPPED)
    ours = set(keys)
    failed = [
        failure
        for failure in failures.listing(pool, connection_id=connection.id, statuses=("open",))
        if failure.dedupe_key in ours
    ]
    posted = dict(zip(keys, to_post, strict=True))
    for failure in failed:
        document = posted.get(failure.dedupe_key or "")
        label = (
            f"{document.label} ({document.id})"
            if document
            else f"{failure.document_type} {failure.document_id}"
        )
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
