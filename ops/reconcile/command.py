"""``koppel reconcile [--connection C] [--from …] [--to DATE] [--json] [--csv FILE] [--fix]``.

Parses, prints and exits: 0 when both books agree, 1 when anything differs (after
``--fix`` too: the republished documents are posted by the workers, and the next
reconciliation shows them matched). The work is in ``ops/reconcile/run.py`` (reading and
storing), ``ops/reconcile/compare.py`` (the comparison, pure) and
``ops/reconcile/report.py`` (the table and the CSV).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click

from config import clock as calendar
from config import get_settings
from ops.backfill.plan import StartDateError
from ops.console import echo_json, new_console
from ops.lookups import chosen_connections
from ops.options import only_connection_option
from ops.reconcile.report import differences_table, write_csv

#: Today, for ``--from this-quarter`` and friends (tests replace it).
clock: Callable[[], date] = calendar.today


@click.command("reconcile")
@only_connection_option
@click.option(
    "--from",
    "from_",
    default=None,
    metavar="this-month|this-quarter|fiscal-year|YYYY-MM-DD",
    help="The period's first document date (default this-quarter).",
)
@click.option(
    "--to", "to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Its last (default today)."
)
@click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the differences to this CSV file.",
)
@click.option(
    "--fix",
    is_flag=True,
    help="Republish the documents missing in Visma (never changes anything in Visma).",
)
def reconcile_command(
    connection_name: str | None,
    from_: str | None,
    to: object,
    as_json: bool,
    csv_path: Path | None,
    fix: bool,
) -> None:
    """Compare Teamleader and Visma per document, to the cent; exit 1 when anything differs."""
    from ops.reconcile.run import fix as republish
    from ops.reconcile.run import period, reconcile
    from store.api_clients import ClientCache
    from store.db import open_pool

    settings = get_settings()
    pool = open_pool(settings, name="koppel-reconcile")
    cache = ClientCache(settings, pool)
    out = new_console()
    end = to.date() if hasattr(to, "date") else None
    results = []
    differs = False
    try:
        chosen = chosen_connections(pool, connection_name)
        if not chosen and not as_json:
            out.print("No active connections: create one with koppel connect.")
        for connection in chosen:
            api = cache.for_connection(connection)
            needs_years = (from_ or "").strip().lower() == "fiscal-year"
            try:
                start, last = period(
                    from_, end, clock(), api.visma.fiscal_years() if needs_years else None
                )
            except StartDateError as error:
                raise click.BadParameter(str(error), param_hint="--from") from None
            done = reconcile(pool, connection, api, start, last)
            result = done.result
            differs = differs or bool(result.differences)
            published = republish(settings, pool, connection, done) if fix else 0
            results.append({"connection": connection.name, **result.as_dict(), "fixed": published})
            if as_json:
                continue
            out.print(f"{connection.name}, {start.isoformat()} to {last.isoformat()}:")
            out.print(result.summary())
            if result.differences:
                out.print(differences_table(result.differences))
            if fix:
                out.print(
                    f"--fix: republished {published} missing documents; the workers post them"
                    " (`koppel work`), and the next reconciliation shows them."
                    if published
                    else "--fix: nothing missing to republish."
                )
                by_hand = [d for d in result.differences if d.kind != "missing"]
                if by_hand:
                    out.print(f"{len(by_hand)} differences need a person (advice above).")
            if csv_path is not None:
                write_csv(csv_path, connection.name, result.differences)
    finally:
        cache.close()
        pool.close()
    if as_json:
        echo_json(results)
    sys.exit(1 if differs else 0)
