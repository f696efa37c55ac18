"""``koppel mappings show | set | propose | check``: how a connection books into Visma.

Per Teamleader tax rate a Visma VAT code and revenue account; per connection the
receivables account, the rules that turn Teamleader's ``2026 / 17`` into Visma's integer
invoice number, and the default terms of payment. ``show`` fits 80 columns (``--wide``,
``--json``: ``ops/mappings/view.py``). ``set`` checks every value in Visma before it stores
anything, names every value Visma does not have, and refuses what Visma would accept but
book wrong (``ops/mappings/changes.py``; number rules: ``ops/mappings/number_rules.py``).
``propose`` proposes mappings from Visma's chart (``ops/mappings/proposal.py``). ``check`` is
the pre-flight (``ops/mappings/preflight.py``): a table of what would stop documents or book
them wrong, exit 1 if any.
"""

from __future__ import annotations

import click
from rich.table import Table

from config import get_settings
from ops.console import echo_json, listing_console, new_console
from ops.lookups import connection_clients, the_connection
from ops.mappings.changes import Change, plan_change, store
from ops.mappings.number_rules import number_example
from ops.mappings.numbering_check import check_numbering
from ops.mappings.preflight import check_connection
from ops.mappings.proposal import propose, store_missing
from ops.mappings.view import as_json as view_json
from ops.mappings.view import build_view, print_unmapped, print_view
from ops.options import listing_options, the_connection_option
from store import mappings
from store.connections import LOCKED_PERIOD_POLICIES, Connection
from store.db import open_pool
from translation.errors import percent

#: How ``set`` reports each connection column it changed.
COLUMN_LABELS = {
    "receivables_account": "receivables account",
    "invoice_number_rule": "invoice number rule",
    "credit_note_number_rule": "credit-note number rule",
    "default_terms_of_payment_id": "default terms of payment",
    "credits_of_earlier_invoices": "credits of invoices from before the start",
    "exchange_rate_reading": "exchange rate reading",
    "locked_period_policy": "locked period policy",
}


# -- the commands --------------------------------------------------------------------------
@click.group("mappings")
def mappings_command() -> None:
    """Show, set, propose or check how a connection books into Visma."""


@mappings_command.command("show")
@the_connection_option
@listing_options
def show_command(connection_name: str | None, wide: bool, as_json: bool) -> None:
    """Every Teamleader tax rate and its Visma mapping, and the connection's posting rules.

    The default view fits the terminal (80 columns in a pipe): short ids, one line each."""
    if wide and as_json:
        raise click.UsageError("choose one of --wide and --json")
    settings = get_settings()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = the_connection(pool, connection_name)
        stored = mappings.vat_rows(pool, connection.id)
        with connection_clients(settings, pool, connection) as api:
            view = build_view(
                connection=connection,
                department=api.teamleader.department(connection.teamleader_department_id),
                company_name=api.visma.company_settings().Name,
                rates=api.teamleader.tax_rates(connection.teamleader_department_id),
                stored=stored,
                accounts=api.visma.accounts(),
                codes=api.visma.vat_codes(),
                terms=api.visma.terms_of_payment(),
                examples={
                    rule: number_example(rule)
                    for rule in (connection.invoice_number_rule, connection.credit_note_number_rule)
                },
            )
    if as_json:
        echo_json(view_json(view))
        return
    print_view(listing_console(wide), view, wide=wide)


@mappings_command.command("set")
@the_connection_option
@click.option("--tax-rate", default=None, help="Teamleader tax rate id or description.")
@click.option("--vat-code", default=None, help="Visma VAT code (e.g. 1a) for --tax-rate.")
@click.option("--account", type=int, default=None, help="Visma revenue account for --tax-rate.")
@click.option("--receivables", type=int, default=None, help="Visma receivables account.")
@click.option("--invoice-number-rule", default=None, help="e.g. '{year}{number:05d}'.")
@click.option("--credit-note-number-rule", default=None, help="e.g. '{year}9{number:04d}'.")
@click.option("--default-terms", default=None, help="Visma terms of payment name or id.")
@click.option(
    "--credits-of-earlier-invoices",
    type=click.Choice(["attention", "post"]),
    default=None,
    help="A credit note of an invoice dated before the connection's start: list it as "
    "needing attention (default) or post it.",
)
@click.option(
    "--exchange-rate-reading",
    type=click.Choice(["labels", "flipped"]),
    default=None,
    help="labels: amount in `to` = amount in `from` ÷ rate (default); flipped: × rate.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Store a VAT code whose rate differs from the tax rate (`check` still reports it).",
)
@click.option(
    "--locked-period-policy",
    type=click.Choice(LOCKED_PERIOD_POLICIES),
    default=None,
    help="A document dated in a period Visma has locked: refuse it (dead letter) or post "
    "it on the first open day.",
)
def set_command(
    connection_name: str | None,
    tax_rate: str | None,
    vat_code: str | None,
    account: int | None,
    receivables: int | None,
    invoice_number_rule: str | None,
    credit_note_number_rule: str | None,
    default_terms: str | None,
    credits_of_earlier_invoices: str | None,
    exchange_rate_reading: str | None,
    force: bool,
    locked_period_policy: str | None,
) -> None:
    """Change a mapping or rule, after checking every value in Visma (all or nothing)."""
    if (vat_code is not None or account is not None) and tax_rate is None:
        raise click.UsageError("--vat-code and --account belong to a --tax-rate")
    values = (
        tax_rate,
        receivables,
        invoice_number_rule,
        credit_note_number_rule,
        default_terms,
        credits_of_earlier_invoices,
        exchange_rate_reading,
        locked_period_policy,
    )
    if all(value is None for value in values):
        raise click.UsageError(
            "nothing to set: give --tax-rate with --vat-code and --account, --receivables, "
            "--invoice-number-rule, --credit-note-number-rule, --default-terms, "
            "--credits-of-earlier-invoices, --exchange-rate-reading or "
            "--locked-period-policy"
        )
    settings = get_settings()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = the_connection(pool, connection_name)
        change = plan_change(
            settings,
            pool,
            connection,
            tax_rate=tax_rate,
            vat_code=vat_code,
            account=account,
            receivables=receivables,
            invoice_number_rule=invoice_number_rule,
            credit_note_number_rule=credit_note_number_rule,
            default_terms=default_terms,
            force=force,
            credits_of_earlier_invoices=credits_of_earlier_invoices,
            exchange_rate_reading=exchange_rate_reading,
            locked_period_policy=locked_period_policy,
        )
        for warning in change.warnings:
            click.echo(warning, err=True)
        if change.problems:
            raise click.ClickException(
                "nothing was changed:\n"
                + "\n".join(f"  - {problem}" for problem in change.problems)
            )
        updated = store(pool, connection, change)
    _say_stored(change, updated)


def _say_stored(change: Change, updated: Connection | None) -> None:
    vat_row = change.vat_row
    if vat_row is not None:
        click.echo(
            f"tax rate {vat_row.description or vat_row.tax_rate_id!r} "
            f"({percent(vat_row.rate)}) → VAT code {vat_row.vat_code}, "
            f"revenue account {vat_row.revenue_account}"
        )
    if updated is not None:
        for column in change.columns:
            value = getattr(updated, column)
            shown = value
            if column.endswith("_rule"):
                shown = f"{value}  ({number_example(str(value))})"
            elif column == "default_terms_of_payment_id":
                shown = f"{change.terms_name} ({value})"
            click.echo(f"{COLUMN_LABELS[column]}: {shown}")


@mappings_command.command("propose")
@the_connection_option
@click.option("--apply", is_flag=True, help="Store the proposal for tax rates without a mapping.")
def propose_command(connection_name: str | None, apply: bool) -> None:
    """Propose VAT mappings from Visma's chart (never overwriting a stored one)."""
    settings = get_settings()
    out = new_console()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = the_connection(pool, connection_name)
        with connection_clients(settings, pool, connection) as api:
            rates = api.teamleader.tax_rates(connection.teamleader_department_id)
            country = api.visma.company_settings().CountryCode
            proposed, unmapped = propose(
                rates, api.visma.vat_codes(), api.visma.accounts(), country
            )
        stored = {row.tax_rate_id: row for row in mappings.vat_rows(pool, connection.id)}
        newly = (
            {row.tax_rate_id for row in store_missing(pool, connection.id, proposed)}
            if apply
            else set()
        )
    table = Table(title=f"Proposed VAT mappings for {connection.name}")
    table.add_column("Teamleader tax rate")
    table.add_column("rate", justify="right")
    table.add_column("proposed VAT code")
    table.add_column("revenue account", justify="right")
    table.add_column("stored now")
    for row in proposed:
        table.add_row(
            row.description or row.tax_rate_id,
            percent(row.rate),
            row.vat_code or row.vat_code_id,
            str(row.revenue_account),
            _stored_state(row, stored.get(row.tax_rate_id), row.tax_rate_id in newly, apply),
        )
    out.print(table)
    print_unmapped(out, connection.name, [r for r in unmapped if r.id not in stored])
    if not apply:
        out.print("Nothing stored; run again with --apply to store the new ones.")


def _stored_state(
    row: mappings.VatRow, current: mappings.VatRow | None, stored_now: bool, apply: bool
) -> str:
    if stored_now:
        return "stored now"
    if current is None:
        return "none (--apply stores it)" if not apply else "none"
    if (current.vat_code_id, current.revenue_account) == (row.vat_code_id, row.revenue_account):
        return "the same"
    return f"kept: {current.vat_code or current.vat_code_id} → {current.revenue_account}"


@mappings_command.command("check")
@the_connection_option
def check_command(connection_name: str | None) -> None:
    """Pre-flight: every tax rate mapped, every account Koppel books to present in Visma.

    Prints a table of problems and exits 1 if there are any; exits 0 when all is mapped."""
    settings = get_settings()
    out = new_console()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = the_connection(pool, connection_name)
        with connection_clients(settings, pool, connection) as api:
            found = check_connection(pool, connection, api)
            currency = api.visma.company_settings().CurrencyCode or "EUR"
            numbering = check_numbering(connection, api, currency)
    if numbering:
        # Not problems: Koppel posts these documents; the bookkeeper should know how.
        noted = Table(title=f"Numbers and currencies of {connection.name} (nothing stops)")
        noted.add_column("note")
        noted.add_column("detail", overflow="fold")
        for note in numbering:
            noted.add_row(note.what, note.detail)
        out.print(noted)
    if not found:
        out.print(
            f"{connection.name}: all mapped — every tax rate has a VAT code of its rate, "
            "revenue goes to revenue accounts, and every ledger account Koppel books to "
            "exists in Visma."
        )
        return
    table = Table(title=f"Pre-flight problems of {connection.name}")
    table.add_column("kind")
    table.add_column("what")
    table.add_column("detail / what to do", overflow="fold")
    for problem in found:
        table.add_row(problem.kind, problem.what, problem.detail)
    out.print(table)
    noun = "problem stops" if len(found) == 1 else "problems stop"
    out.print(f"{len(found)} {noun} documents from being posted.")
    raise SystemExit(1)
