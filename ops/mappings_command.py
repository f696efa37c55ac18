"""``koppel mappings show | set | propose | check``: how a connection books into Visma.

Per Teamleader tax rate a Visma VAT code and revenue account; per connection the
receivables account, the rules that turn Teamleader's ``2026 / 17`` into Visma's integer
invoice number, and the default terms of payment. ``show`` fits 80 columns (``--wide``,
``--json``: ``ops/mappings_view.py``). ``set`` checks every value in Visma before it stores
anything, names every value Visma does not have, and refuses what Visma would accept but
book wrong: revenue on a receivables, VAT, bank or other balance-sheet account
(``ops/account_kinds.py``), a VAT code of another rate than the tax rate (unless
``--force``). ``check`` is the pre-flight (``ops/preflight.py``): a table of what would stop
documents or book them wrong, exit 1 if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from psycopg_pool import ConnectionPool
from rich.console import Console
from rich.table import Table

from clients.teamleader.models import TaxRate
from clients.visma.models import Account, TermsOfPayment, VatCode
from config import Settings, get_settings
from config import clock as calendar
from ops.account_kinds import Chart
from ops.console import echo_json, listing_console, listing_options, new_console
from ops.mapping_proposal import propose, store_missing
from ops.mappings_view import as_json as view_json
from ops.mappings_view import build_view, print_view
from ops.preflight import (
    check_connection,
    mismatch_sentence,
    set_command_line,
    vat_rate_differs,
)
from store import connections, mappings
from store.api_clients import ApiClients, ClientCache
from store.connections import Connection, UnknownConnection
from store.db import open_pool
from translation.errors import TranslationError, percent
from translation.numbers import visma_invoice_number

#: Teamleader sequences every number rule must number without a collision: the first, a
#: typical one, and the 9,999th document of a year (a rule too narrow for that is refused).
SAMPLE_SEQUENCES = (1, 17, 9999)
#: How ``set`` reports each connection column it changed.
COLUMN_LABELS = {
    "receivables_account": "receivables account",
    "invoice_number_rule": "invoice number rule",
    "credit_note_number_rule": "credit-note number rule",
    "default_terms_of_payment_id": "default terms of payment",
}
#: The sequence in the examples ``show`` prints (``2026 / 17 → 202600017``).
EXAMPLE_SEQUENCE = 17


# -- shared by the commands ----------------------------------------------------------------
def pick_connection(pool: ConnectionPool, name: str | None) -> Connection:
    """The connection by name or id; with none given, the only active one."""
    if name:
        try:
            return connections.find(pool, name)
        except UnknownConnection:
            names = ", ".join(c.name for c in connections.active(pool)) or "none yet"
            raise UnknownConnection(
                f"there is no connection named {name!r} (connections: {names})"
            ) from None
    active = connections.active(pool)
    if len(active) == 1:
        return active[0]
    if not active:
        raise UnknownConnection(
            "there is no connection yet: run `koppel connect sandbox` or `koppel connect live`"
        )
    names = ", ".join(c.name for c in active)
    raise UnknownConnection(
        f"there are {len(active)} connections ({names}): choose one with --connection"
    )


@contextmanager
def connection_clients(
    settings: Settings, pool: ConnectionPool, connection: Connection
) -> Iterator[ApiClients]:
    """The connection's Teamleader and Visma clients, closed afterwards."""
    cache = ClientCache(settings, pool)
    try:
        yield cache.for_connection(connection)
    finally:
        cache.close()


def rows_table(rows: Iterable[mappings.VatRow], title: str = "VAT mappings") -> Table:
    """Stored (or proposed) mappings: tax rate, rate, VAT code, revenue account."""
    table = Table(title=title)
    table.add_column("Teamleader tax rate")
    table.add_column("rate", justify="right")
    table.add_column("Visma VAT code")
    table.add_column("revenue account", justify="right")
    for row in rows:
        table.add_row(
            row.description or row.tax_rate_id,
            percent(row.rate),
            row.vat_code or row.vat_code_id,
            str(row.revenue_account),
        )
    return table


def number_example(rule: str, year: int | None = None) -> str:
    """``2026 / 17 → 202600017`` under ``rule``, or why the rule cannot number it."""
    teamleader_number = f"{year or calendar.today().year} / {EXAMPLE_SEQUENCE}"
    try:
        return f"{teamleader_number} → {visma_invoice_number(teamleader_number, rule)}"
    except TranslationError as error:
        return f"{teamleader_number} → cannot be numbered: {error.reason}"


def number_rule_problems(invoice_rule: str, credit_note_rule: str) -> list[str]:
    """Why the rules would not give every document its own Visma number (empty: fine).

    Each rule must number a sample of this year's and last year's sequences, give no two
    of them the same number, and share no number with the other rule (an invoice and a
    credit note must never meet in Visma's one invoice-number series)."""
    this_year = calendar.today().year
    samples = [f"{year} / {seq}" for year in (this_year - 1, this_year) for seq in SAMPLE_SEQUENCES]
    problems: list[str] = []
    made: dict[str, dict[int, str]] = {}
    for label, rule in (("invoice", invoice_rule), ("credit-note", credit_note_rule)):
        numbers: dict[int, str] = {}
        for sample in samples:
            try:
                number = visma_invoice_number(sample, rule)
            except TranslationError as error:
                problems.append(f"The {label} number rule {rule!r} is refused: {error.reason}")
                break
            if number in numbers:
                problems.append(
                    f"The {label} number rule {rule!r} gives {numbers[number]} and {sample} "
                    f"the same Visma number {number}; use both {{year}} and {{number}}."
                )
                break
            numbers[number] = sample
        made[label] = numbers
    if not problems:
        shared = sorted(set(made["invoice"]) & set(made["credit-note"]))
        if shared:
            number = shared[0]
            problems.append(
                f"The invoice number rule {invoice_rule!r} and the credit-note number rule "
                f"{credit_note_rule!r} both give {number} (invoice {made['invoice'][number]}, "
                f"credit note {made['credit-note'][number]}); make them differ, e.g. "
                "'{year}{number:05d}' and '{year}9{number:04d}'."
            )
    return problems


# -- lookups in the live data --------------------------------------------------------------
def find_tax_rate(rates: list[TaxRate], wanted: str) -> TaxRate | str:
    """The tax rate with this id or description, or why there is none."""
    by_id = [r for r in rates if r.id == wanted]
    if by_id:
        return by_id[0]
    named = [r for r in rates if (r.description or "").strip().lower() == wanted.strip().lower()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(r.id for r in named)
        return f"Several Teamleader tax rates are called {wanted!r}; give one of their ids: {ids}."
    known = ", ".join(repr(r.description or r.id) for r in rates) or "none"
    return f"The Teamleader department has no tax rate {wanted!r} (it has {known})."


def find_vat_code(codes: list[VatCode], wanted: str) -> VatCode | None:
    for code in codes:
        if wanted.lower() in ((code.Code or "").lower(), code.Id.lower()):
            return code
    return None


def account_problem(accounts: list[Account], number: int, purpose: str) -> str | None:
    """Why ``number`` cannot be used in Visma (None: it exists and is active)."""
    found = [a for a in accounts if a.Number.strip() == str(number)]
    if not found:
        return (
            f"Visma has no ledger account {number} ({purpose}); create it in Visma's chart "
            "of accounts or choose an existing one."
        )
    if not any(a.IsActive for a in found):
        return f"Visma's ledger account {number} ({purpose}) is inactive; activate it in Visma."
    return None


def find_terms(terms: list[TermsOfPayment], wanted: str) -> TermsOfPayment | None:
    lowered = wanted.strip().lower()
    for term in terms:
        names = {
            (term.Id or "").lower(),
            (term.Name or "").lower(),
            (term.NameEnglish or "").lower(),
        }
        if lowered in names:
            return term
    return None


# -- the commands --------------------------------------------------------------------------
@click.group("mappings")
def mappings_command() -> None:
    """Show, set, propose or check how a connection books into Visma."""


connection_option = click.option(
    "--connection",
    "connection_name",
    default=None,
    help="Connection name or id (may be left out when there is one).",
)


@mappings_command.command("show")
@connection_option
@listing_options
def show_command(connection_name: str | None, wide: bool, as_json: bool) -> None:
    """Every Teamleader tax rate and its Visma mapping, and the connection's posting rules.

    The default view fits the terminal (80 columns in a pipe): short ids, one line each."""
    if wide and as_json:
        raise click.UsageError("choose one of --wide and --json")
    settings = get_settings()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = pick_connection(pool, connection_name)
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
@connection_option
@click.option("--tax-rate", default=None, help="Teamleader tax rate id or description.")
@click.option("--vat-code", default=None, help="Visma VAT code (e.g. 1a) for --tax-rate.")
@click.option("--account", type=int, default=None, help="Visma revenue account for --tax-rate.")
@click.option("--receivables", type=int, default=None, help="Visma receivables account.")
@click.option("--invoice-number-rule", default=None, help="e.g. '{year}{number:05d}'.")
@click.option("--credit-note-number-rule", default=None, help="e.g. '{year}9{number:04d}'.")
@click.option("--default-terms", default=None, help="Visma terms of payment name or id.")
@click.option(
    "--force",
    is_flag=True,
    help="Store a VAT code whose rate differs from the tax rate (`check` still reports it).",
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
    force: bool,
) -> None:
    """Change a mapping or rule, after checking every value in Visma (all or nothing)."""
    if (vat_code is not None or account is not None) and tax_rate is None:
        raise click.UsageError("--vat-code and --account belong to a --tax-rate")
    values = (tax_rate, receivables, invoice_number_rule, credit_note_number_rule, default_terms)
    if all(value is None for value in values):
        raise click.UsageError(
            "nothing to set: give --tax-rate with --vat-code and --account, --receivables, "
            "--invoice-number-rule, --credit-note-number-rule or --default-terms"
        )
    settings = get_settings()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = pick_connection(pool, connection_name)
        problems: list[str] = []
        columns: dict[str, object] = {}
        vat_row: mappings.VatRow | None = None
        terms_name: str | None = None
        if invoice_number_rule is not None or credit_note_number_rule is not None:
            invoice_rule = invoice_number_rule or connection.invoice_number_rule
            credit_rule = credit_note_number_rule or connection.credit_note_number_rule
            rule_problems = number_rule_problems(invoice_rule, credit_rule)
            problems += rule_problems
            if not rule_problems:
                if invoice_number_rule is not None:
                    columns["invoice_number_rule"] = invoice_rule
                if credit_note_number_rule is not None:
                    columns["credit_note_number_rule"] = credit_rule
        if tax_rate is not None or receivables is not None or default_terms is not None:
            with connection_clients(settings, pool, connection) as api:
                accounts = api.visma.accounts()
                if tax_rate is not None:
                    chart = Chart(
                        accounts,
                        api.visma.company_settings().CountryCode,
                        api.visma.vat_codes(),
                        connection.receivables_account if receivables is None else receivables,
                    )
                    wanted = _Wanted(tax_rate, vat_code, account, force)
                    found = _vat_row(api, pool, connection, wanted, chart)
                    if isinstance(found, list):
                        problems += found
                    else:
                        vat_row = found
                if receivables is not None:
                    problem = account_problem(accounts, receivables, "for receivables")
                    if problem:
                        problems.append(problem)
                    else:
                        columns["receivables_account"] = receivables
                if default_terms is not None:
                    terms = api.visma.terms_of_payment()
                    term = find_terms(terms, default_terms)
                    if term is None:
                        known = ", ".join(repr(t.Name) for t in terms)
                        problems.append(
                            f"Visma has no terms of payment {default_terms!r} (it has {known})."
                        )
                    else:
                        columns["default_terms_of_payment_id"] = term.Id
                        terms_name = term.Name
        if problems:
            raise click.ClickException(
                "nothing was changed:\n" + "\n".join(f"  - {problem}" for problem in problems)
            )
        _store(pool, connection, vat_row, columns, terms_name)


@dataclass(frozen=True)
class _Wanted:
    """What ``set`` was given for one tax rate."""

    tax_rate: str
    vat_code: str | None
    account: int | None
    #: Store a VAT code of another rate all the same.
    force: bool


def _vat_row(
    api: ApiClients,
    pool: ConnectionPool,
    connection: Connection,
    wanted: _Wanted,
    chart: Chart,
) -> mappings.VatRow | list[str]:
    """The row to store for ``--tax-rate``, or every reason it cannot be stored.

    A tax rate that is mapped already may change only its code or only its account. The
    code must charge the tax rate's rate (unless ``force``); the account must be able to
    carry revenue (not receivables, VAT, bank or another balance-sheet account)."""
    wanted_code, wanted_account = wanted.vat_code, wanted.account
    rate = find_tax_rate(
        api.teamleader.tax_rates(connection.teamleader_department_id), wanted.tax_rate
    )
    if isinstance(rate, str):
        return [rate]
    name = repr(rate.description or rate.id)
    current = {row.tax_rate_id: row for row in mappings.vat_rows(pool, connection.id)}.get(rate.id)
    if current is None and (wanted_code is None or wanted_account is None):
        return [f"Tax rate {name} has no mapping yet: give both --vat-code and --account."]
    code_id, code_name, revenue = (
        (current.vat_code_id, current.vat_code, current.revenue_account)
        if current
        else ("", None, 0)
    )
    problems: list[str] = []
    note: str | None = None  # a forced choice: stored, and said
    if wanted_code is not None:
        codes = list(chart.vat_codes)
        code = find_vat_code(codes, wanted_code)
        if code is None:
            known = ", ".join(c.Code or c.Id for c in codes)
            problems.append(f"Visma has no VAT code {wanted_code!r} (it has {known}).")
        else:
            code_id, code_name = code.Id, code.Code
            if vat_rate_differs(code, rate):
                sentence = mismatch_sentence(code, rate, codes)
                if wanted.force:
                    note = (
                        f"warning: stored with --force: {sentence} `koppel mappings check` "
                        "reports it until it is mapped again."
                    )
                else:
                    problems.append(f"{sentence} Add --force to store it all the same.")
    if wanted_account is not None:
        problem = account_problem(
            list(chart.accounts), wanted_account, f"revenue of tax rate {name}"
        ) or chart.revenue_refusal(wanted_account, code_id or None)
        if problem:
            problems.append(problem)
        revenue = wanted_account
    if problems:
        return problems
    if note:
        click.echo(note, err=True)
    return mappings.VatRow(
        tax_rate_id=rate.id,
        rate=rate.rate,
        description=rate.description,
        vat_code_id=code_id,
        vat_code=code_name,
        revenue_account=revenue,
    )


def _store(
    pool: ConnectionPool,
    connection: Connection,
    vat_row: mappings.VatRow | None,
    columns: dict[str, object],
    terms_name: str | None,
) -> None:
    if vat_row is not None:
        mappings.set_vat(pool, connection.id, vat_row)
        click.echo(
            f"tax rate {vat_row.description or vat_row.tax_rate_id!r} "
            f"({percent(vat_row.rate)}) → VAT code {vat_row.vat_code}, "
            f"revenue account {vat_row.revenue_account}"
        )
    if columns:
        updated = connections.update(pool, connection.id, **columns)
        for column in columns:
            value = getattr(updated, column)
            shown = value
            if column.endswith("_rule"):
                shown = f"{value}  ({number_example(str(value))})"
            elif column == "default_terms_of_payment_id":
                shown = f"{terms_name} ({value})"
            click.echo(f"{COLUMN_LABELS[column]}: {shown}")


@mappings_command.command("propose")
@connection_option
@click.option("--apply", is_flag=True, help="Store the proposal for tax rates without a mapping.")
def propose_command(connection_name: str | None, apply: bool) -> None:
    """Propose VAT mappings from Visma's chart (never overwriting a stored one)."""
    settings = get_settings()
    out = new_console()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = pick_connection(pool, connection_name)
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


def print_unmapped(out: Console, connection_name: str, unmapped: list[TaxRate]) -> None:
    """Each unmapped tax rate with the ``koppel mappings set`` line that would map it."""
    if not unmapped:
        return
    out.print(
        "Teamleader tax rates without a mapping (documents that use them cannot be "
        "posted until they have one):"
    )
    for rate in unmapped:
        out.print(f"  {rate.description or rate.id} ({percent(rate.rate)}, id {rate.id}):")
        out.print(f"    {set_command_line(connection_name, rate)}")


@mappings_command.command("check")
@connection_option
def check_command(connection_name: str | None) -> None:
    """Pre-flight: every tax rate mapped, every account Koppel books to present in Visma.

    Prints a table of problems and exits 1 if there are any; exits 0 when all is mapped."""
    settings = get_settings()
    out = new_console()
    with open_pool(settings, name="koppel-mappings") as pool:
        connection = pick_connection(pool, connection_name)
        with connection_clients(settings, pool, connection) as api:
            found = check_connection(pool, connection, api)
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
